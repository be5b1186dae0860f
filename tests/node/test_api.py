"""The control API over real sockets on 127.0.0.1: auth, limits, malformed input, content, updates, events.

The backend here is the real EventBus and a real on-disk ContentStore; only status/peers are fixed values (the
daemon's real ones are covered in test_daemon.py against anvil and libp2p).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity_p2p.node.api.auth import bearer_matches
from parity_p2p.node.api.client import NodeApiClient
from parity_p2p.node.api.routes import ApiRoutes
from parity_p2p.node.api.server import BoundAddress, HttpServer, ServerLimits
from parity_p2p.node.errors import ApiRequestError, UpdateRefused
from parity_p2p.node.events import EventBus
from parity_p2p.node.services import RoundInfo, SessionInfo, SessionProvider, SubmittedUpdate, UpdateSubmitter
from parity_p2p.storage.content import ContentStore

TOKEN = "test-token-0123456789abcdefghijklmnop"
EMPTY_FILE_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # `ipfs add --cid-version=1` of b""
SESSION = SessionInfo(7, "iris", "active", 2, 3, 4, 3, 8, 10**21, "bafy-data", "bafy-spec", "", True, {"phase": "x"})


class OneSession:
    async def list_sessions(self) -> Sequence[SessionInfo]:
        return [SESSION]

    async def session(self, session_id: int) -> SessionInfo | None:
        return SESSION if session_id == 7 else None

    async def rounds(self, session_id: int) -> Sequence[RoundInfo] | None:
        if session_id != 7:
            return None
        return [RoundInfo(1, "bafy-model", "0xabc", 0.5, 0.8, 1700000000, {"training_s": 1.5})]


@dataclass
class StoringSubmitter:
    """Takes updates into the content store, refuses round 0 (as a session runner refuses a wrong round)."""

    content: ContentStore
    received: list[tuple[int, int, bytes]] = field(default_factory=list)

    async def submit_update(self, session_id: int, round_number: int, data: bytes) -> SubmittedUpdate:
        if round_number == 0:
            raise UpdateRefused("round 0 does not exist", http_status=409)
        self.received.append((session_id, round_number, data))
        return SubmittedUpdate(await self.content.aadd(data), session_id, round_number, "queued")


@dataclass
class Backend:
    events: EventBus
    content: ContentStore
    sessions: SessionProvider = field(default_factory=OneSession)
    updates: UpdateSubmitter | None = None
    fail_status: bool = False

    async def status(self) -> dict[str, Any]:
        if self.fail_status:
            raise RuntimeError("secret internal detail")
        return {"address": "0xabc", "ok": True}

    async def peers(self) -> dict[str, Any]:
        return {"connected": []}

    def metrics(self) -> dict[str, Any]:
        return {"events": {"last_seq": self.events.last_seq}}


@dataclass
class Api:
    backend: Backend
    server: HttpServer
    address: BoundAddress

    def client(self, token: str = TOKEN) -> NodeApiClient:
        return NodeApiClient(self.address.url, token)

    def http(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.address.url, headers=headers, timeout=10, trust_env=False)


@asynccontextmanager
async def running_api(tmp_path: Path, limits: ServerLimits | None = None) -> AsyncIterator[Api]:
    backend = Backend(EventBus(history=16, subscriber_buffer=8), ContentStore.open(tmp_path / "content"))
    server = HttpServer(
        ApiRoutes(backend).handle,
        lambda request: bearer_matches(request.headers.get("authorization"), TOKEN),
        limits or ServerLimits(max_body_bytes=64 * 1024),
    )
    async with trio.open_nursery() as nursery:
        address: BoundAddress = await nursery.start(server.serve, "127.0.0.1", 0)
        yield Api(backend, server, address)
        nursery.cancel_scope.cancel()


async def raw_exchange(address: BoundAddress, data: bytes) -> tuple[int, dict[str, Any]]:
    """Send raw bytes, read until the server closes; (status, JSON body)."""
    stream = await trio.open_tcp_stream(address.host, address.port)
    async with stream:
        await stream.send_all(data)
        received = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


# ---- auth -----------------------------------------------------------------------------------------------------
async def test_requests_without_the_right_token_get_401(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": TOKEN},
            {"Authorization": f"Bearer {TOKEN}x"},
        ):
            async with api.http(**headers) as http:
                response = await http.get("/v1/status")
            assert response.status_code == 401, headers
            assert "token" in response.json()["error"]
        async with api.http(Authorization=f"Bearer {TOKEN}") as http:
            response = await http.get("/v1/status")
        assert response.status_code == 200
        assert response.json() == {"address": "0xabc", "ok": True}
        assert api.server.stats.refused_unauthorized == 5
        with pytest.raises(ApiRequestError) as caught:
            async with api.client("nope") as client:
                await client.get_json("/v1/status")
        assert caught.value.status == 401


def test_bearer_comparison() -> None:
    assert bearer_matches(f"Bearer {TOKEN}", TOKEN)
    assert bearer_matches(f"bearer {TOKEN}", TOKEN)
    assert not bearer_matches(None, TOKEN)
    assert not bearer_matches("Bearer ", TOKEN)
    assert not bearer_matches(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not bearer_matches("Bearer tökén", TOKEN)


async def test_bound_to_loopback_only(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        assert api.address.host == "127.0.0.1"
        assert api.address.url == f"http://127.0.0.1:{api.address.port}"


# ---- limits and malformed input -------------------------------------------------------------------------------
async def test_body_too_large_gets_413_declared_or_chunked(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api, api.http(Authorization=f"Bearer {TOKEN}") as http:
        response = await http.post("/v1/content", content=b"x" * (64 * 1024 + 1))
        assert response.status_code == 413
        assert "larger than 65536" in response.json()["error"]

    async with running_api(tmp_path) as api:
        # Chunked: no length is declared up front, so the cap applies while the body arrives.
        head = f"POST /v1/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        head += "Transfer-Encoding: chunked\r\n\r\n"
        chunk = b"2000\r\n" + b"y" * 0x2000 + b"\r\n"
        status, _body = await raw_exchange(api.address, head.encode() + chunk * 9 + b"0\r\n\r\n")
        assert status == 413
    async with running_api(tmp_path) as api, api.http(Authorization=f"Bearer {TOKEN}") as http:
        response = await http.post("/v1/content", content=b"z" * (64 * 1024))  # exactly the cap is fine
        assert response.status_code == 201


async def test_malformed_requests_get_400_json(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        status, body = await raw_exchange(api.address, b"THIS IS NOT HTTP\r\n\r\n")
        assert status == 400
        assert "malformed" in body["error"]
        status, body = await raw_exchange(
            api.address, b"GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n"
        )
        assert status == 400


async def test_slow_request_head_gets_408(tmp_path: Path) -> None:
    async with running_api(tmp_path, ServerLimits(head_timeout_s=0.3)) as api:
        status, _body = await raw_exchange(api.address, b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        assert status == 408


async def test_unknown_routes_bad_methods_and_bad_parameters(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api, api.http(Authorization=f"Bearer {TOKEN}") as http:
        assert (await http.get("/v1/nothing")).status_code == 404
        assert (await http.post("/v1/status")).status_code == 405
        assert (await http.delete("/v1/sessions/7")).status_code == 405
        assert (await http.get("/v1/sessions/8")).status_code == 404
        assert (await http.get("/v1/sessions/8/rounds")).status_code == 404
        assert (await http.get("/v1/sessions/abc")).status_code == 404
        response = await http.get("/v1/events", params={"since": "-1"})
        assert response.status_code == 400
        assert "since" in response.json()["error"]


async def test_a_failing_handler_answers_500_without_a_traceback(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api, api.http(Authorization=f"Bearer {TOKEN}") as http:
        api.backend.fail_status = True
        response = await http.get("/v1/status")
        assert response.status_code == 500
        assert response.json()["error"] == "internal error (RuntimeError); see the node's log"
        assert "secret internal detail" not in response.text
        assert "Traceback" not in response.text
        api.backend.fail_status = False
        assert (await http.get("/v1/status")).status_code == 200  # the server lives on


async def test_keep_alive_serves_several_requests_on_one_connection(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api, api.client() as client:
        for _ in range(5):
            assert (await client.metrics())["events"]["last_seq"] == 0
        assert api.server.stats.requests == 5


# ---- routes -------------------------------------------------------------------------------------------------
async def test_sessions_and_rounds_from_the_provider(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api, api.client() as client:
        assert await client.sessions() == [SESSION]
        assert await client.session(7) == SESSION
        rounds = await client.rounds(7)
        assert rounds[0].model_cid == "bafy-model"
        assert rounds[0].local == {"training_s": 1.5}
        with pytest.raises(ApiRequestError) as caught:
            await client.session(8)
        assert caught.value.status == 404


async def test_content_add_and_get(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api, api.client() as client:
        assert await client.add_content(b"") == EMPTY_FILE_CID
        data = bytes(range(256)) * 200  # 51 KiB, one chunk
        cid = await client.add_content(data)
        assert cid == ContentStore.open(tmp_path / "other").add(data)  # an independent store agrees
        assert await client.get_content(cid) == data
        assert await client.get_content(EMPTY_FILE_CID) == b""
        with pytest.raises(ApiRequestError) as caught:
            await client.get_content("bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        assert caught.value.status in (400, 404)
        with pytest.raises(ApiRequestError) as caught:
            await client.get_content("notacid")
        assert caught.value.status == 400
        missing = ContentStore.open(tmp_path / "third").add(b"never given to the API")
        with pytest.raises(ApiRequestError) as caught:
            await client.get_content(missing)
        assert caught.value.status == 404


async def test_updates_need_a_session_service(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api, api.client() as client:
        with pytest.raises(ApiRequestError) as caught:
            await client.submit_update(7, 2, b"weights")
        assert caught.value.status == 503
        assert "no session service" in caught.value.message

        submitter = StoringSubmitter(api.backend.content)
        api.backend.updates = submitter
        result = await client.submit_update(7, 2, b"weights")
        assert (result.session_id, result.round, result.detail) == (7, 2, "queued")
        assert await client.get_content(result.cid) == b"weights"
        assert submitter.received == [(7, 2, b"weights")]

        with pytest.raises(ApiRequestError) as caught:
            await client.submit_update(7, 0, b"weights")
        assert (caught.value.status, caught.value.message) == (409, "round 0 does not exist")
        async with api.http(Authorization=f"Bearer {TOKEN}") as http:
            assert (await http.post("/v1/updates", params={"session": 7}, content=b"x")).status_code == 400
            assert (await http.post("/v1/updates", params={"session": 7, "round": 1})).status_code == 400


# ---- events ---------------------------------------------------------------------------------------------------
async def test_event_stream_replays_then_follows_live(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api, api.client() as client:
        bus = api.backend.events
        for n in range(3):
            bus.publish("test.before", {"n": n})
        seen: list[tuple[int, str, Any]] = []
        async with client.events(since=1) as events:
            async for event in events:
                seen.append((event.seq, event.kind, event.data.get("n")))
                if event.seq == 3:
                    bus.publish("test.live", {"n": 99})
                if event.seq == 4:
                    break
        assert seen == [(2, "test.before", 1), (3, "test.before", 2), (4, "test.live", 99)]

        # Without `since`: only what happens after subscribing.
        async with client.events() as events:
            with trio.move_on_after(0.2):
                async for event in events:
                    raise AssertionError(f"unexpected replay of {event}")
            bus.publish("test.after", {})
            async for event in events:
                assert (event.seq, event.kind) == (5, "test.after")
                break


async def test_a_closed_stream_unsubscribes(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api, api.client() as client:
        async with client.events() as events:
            api.backend.events.publish("x", {})
            async for _ in events:
                break
            assert api.backend.events.subscriber_count == 1
        with trio.fail_after(5):
            while api.backend.events.subscriber_count:
                api.backend.events.publish("nudge", {})
                await trio.sleep(0.05)


async def test_slow_subscriber_loses_events_without_blocking_the_publisher() -> None:
    bus = EventBus(history=4, subscriber_buffer=2)
    async with bus.subscribe() as slow:
        for n in range(10):
            bus.publish("tick", {"n": n})  # never blocks although nobody reads
        assert slow.dropped == 8
        assert bus.dropped == 8
        got = []
        async for event in slow:
            got.append(event.seq)
            if len(got) == 2:
                break
        assert got == [1, 2]
    assert [e.seq for e in bus.recent()] == [7, 8, 9, 10]  # the ring buffer keeps the newest
    assert bus.subscriber_count == 0


async def test_connections_above_the_cap_get_503(tmp_path: Path) -> None:
    async with running_api(tmp_path, ServerLimits(max_connections=2)) as api:
        held = [await trio.open_tcp_stream("127.0.0.1", api.address.port) for _ in range(2)]
        try:
            await trio.sleep(0.1)  # let the server accept both
            status, body = await raw_exchange(api.address, b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == 503
            assert "too many" in body["error"]
        finally:
            for stream in held:
                await stream.aclose()
        with trio.fail_after(5):
            while True:  # once those close, requests are served again
                async with api.http(Authorization=f"Bearer {TOKEN}") as http:
                    if (await http.get("/v1/status")).status_code == 200:
                        break
                await trio.sleep(0.05)


async def test_not_reachable_on_other_interfaces(tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
            own_ip = probe.getsockname()[0]
        except OSError:
            own_ip = "127.0.0.1"
    if own_ip.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    async with running_api(tmp_path) as api:
        with pytest.raises(OSError):
            await trio.open_tcp_stream(own_ip, api.address.port)


_REQUEST = b"POST /v1/content?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nAuthorization: Bearer nope\r\n\r\nhello"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=300),
        # Mutations of a real request: a byte replaced, cut short, or junk inserted.
        st.tuples(st.integers(0, len(_REQUEST) - 1), st.binary(min_size=1, max_size=8)).map(
            lambda cut: _REQUEST[: cut[0]] + cut[1] + _REQUEST[cut[0] + 1 :]
        ),
        st.integers(0, len(_REQUEST)).map(lambda n: _REQUEST[:n]),
    )
)
def test_arbitrary_bytes_get_a_json_4xx_or_a_close(tmp_path: Path, data: bytes) -> None:
    async def exchange() -> None:
        async with running_api(tmp_path, ServerLimits(max_body_bytes=64 * 1024, head_timeout_s=0.5)) as api:
            stream = await trio.open_tcp_stream("127.0.0.1", api.address.port)
            async with stream:
                await stream.send_all(data)
                await stream.send_eof()  # we are done sending: the server must not wait for more
                received = b""
                with trio.fail_after(10):
                    while chunk := await stream.receive_some(65536):
                        received += chunk
            for response in received.split(b"HTTP/1.1 ")[1:]:
                status = int(response[:3])
                assert 400 <= status < 500, received
                body = response.partition(b"\r\n\r\n")[2]
                assert "error" in json.loads(body[: body.rfind(b"}") + 1])
            async with api.http(Authorization=f"Bearer {TOKEN}") as http:
                assert (await http.get("/v1/status")).status_code == 200  # and it still serves

    trio.run(exchange)
