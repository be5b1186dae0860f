"""The local control API of a real node (the daemon in-process, default config, against anvil): every route refuses
a missing or wrong token, nothing behind a refused request runs, and the API answers on loopback only.

tests/node/test_api.py checks the HTTP server's auth against a stand-in backend on /v1/status; this drill goes
through the daemon's own wiring (its token file, its default bind) and every route it serves.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
from fixtures.devchain import DevChain
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_p2p.node.api.auth import bearer_matches
from parity_p2p.node.config import ApiConfig, NodeConfig, NodeOverrides, parse_config
from parity_p2p.node.daemon import RunningNode, run_node
from parity_p2p.node.datadir import init_data_dir
from parity_p2p.node.errors import ConfigError
from parity_p2p.node.session_node_service import SessionNodeService
from parity_p2p.storage.importer import compute_cid

PASSWORD = "correct horse battery"
BODY = b"must never be stored without the token"
# Every (method, path) the daemon serves, including the parameterised ones and a path that exists for no method.
ROUTES = [
    ("GET", "/v1/status"),
    ("GET", "/v1/peers"),
    ("GET", "/v1/sessions"),
    ("GET", "/v1/metrics"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events?since=0"),
    ("GET", "/v1/sessions/1"),
    ("GET", "/v1/sessions/1/rounds"),
    ("GET", f"/v1/content/{compute_cid(b'')}"),
    ("POST", "/v1/content"),
    ("POST", "/v1/updates?session=1&round=1"),
    ("DELETE", "/v1/status"),
    ("GET", "/v1/no-such-route"),
    ("GET", "/"),
]


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine that is not loopback (from `ip -4 addr`), or None."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            address = ipaddress.ip_interface(fields[fields.index("inet") + 1]).ip
            if not address.is_loopback:
                return str(address)
    return None


@asynccontextmanager
async def default_node(tmp_path: Path, chain: DevChain) -> AsyncIterator[RunningNode]:
    """A node initialised with the default config (only the RPC URL and a free API port overridden), with the
    session service plugged in so that every route has its real handler."""
    data_dir = tmp_path / "node"
    init_data_dir(data_dir, PASSWORD, config=NodeConfig(), kdf_iterations=2**10)
    chain.deployment.save(data_dir / "deployment.json")
    async with trio.open_nursery() as nursery:
        node: RunningNode = await nursery.start(
            lambda task_status: run_node(
                data_dir, PASSWORD, NodeOverrides(rpc_url=chain.url, api_port=0), services=SessionNodeService(),
                task_status=task_status,
            )
        )
        yield node
        nursery.cancel_scope.cancel()


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    content = BODY if method == "POST" else None
    return await client.request(method, path, headers=headers, content=content)


async def test_every_route_refuses_a_missing_or_wrong_token_and_runs_nothing(
    tmp_path: Path, dev_chain: DevChain
) -> None:
    async with default_node(tmp_path, dev_chain) as node:
        assert node.api is not None and node.api_server is not None
        token = node.data_dir.read_token()
        assert node.data_dir.token_path.stat().st_mode & 0o077 == 0, "the token file is private to its owner"
        refusals = [
            {},
            {"Authorization": ""},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"Authorization": f"Bearer {token[:-1]}"},
            {"Authorization": f"Bearer {token}x"},
            {"Authorization": f"Basic {token}"},
            {"Authorization": token},
            {"X-Api-Token": token},
        ]
        async with httpx.AsyncClient(base_url=node.api.url, timeout=10, trust_env=False) as http:
            for method, path in ROUTES:
                for headers in refusals:
                    response = await call(http, method, path, headers)
                    assert response.status_code == 401, (method, path, headers, response.text)
                    assert "token" in response.json()["error"]
            assert node.api_server.stats.refused_unauthorized == len(ROUTES) * len(refusals)
            assert not node.content.has(compute_cid(BODY)), "a refused POST /v1/content stored its body"
            # The control: the same requests with the token are answered by the routes (not 401).
            authorized = {"Authorization": f"Bearer {token}"}
            status = await http.get("/v1/status", headers=authorized)
            assert status.status_code == 200 and status.json()["address"] == node.address
            stored = await http.post("/v1/content", headers=authorized, content=BODY)
            assert stored.status_code == 201 and node.content.has(compute_cid(BODY))


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.none(), st.text(max_size=80), st.text(alphabet="Bearer t0k3n-a", max_size=60)))
def test_no_authorization_value_but_the_token_opens_the_api(value: str | None) -> None:
    # The daemon's check (daemon._run_connected: bearer_matches on the Authorization header) on arbitrary values.
    token = "t0k3n-" + "a" * 32
    spelled_right = value is not None and value[:7].lower() == "bearer " and value[7:].strip() == token
    assert bearer_matches(value, token) is spelled_right, value


async def test_the_api_listens_on_loopback_only(tmp_path: Path, dev_chain: DevChain) -> None:
    assert ApiConfig().host == "127.0.0.1" and NodeConfig().api.host == "127.0.0.1"
    with pytest.raises(ConfigError, match="not a loopback address"):
        parse_config('[api]\nhost = "0.0.0.0"\n', tmp_path)
    outside = non_loopback_ipv4()
    if outside is None:
        pytest.skip("this machine has no non-loopback IPv4 address (`ip -4 addr`) to probe the API from")
    async with default_node(tmp_path, dev_chain) as node:
        assert node.api is not None
        assert node.api.host == "127.0.0.1"
        port = node.api.port
        async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/v1/status")).status_code == 401  # it is up
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://{outside}:{port}/v1/status")
    # The control: a listener on every interface *is* reachable at that address, so the refusal above is the
    # API's bind and not a firewall or a dead interface.
    listeners = await trio.open_tcp_listeners(0, host="0.0.0.0")
    try:
        probe = listeners[0].socket.getsockname()[1]
        with trio.fail_after(5):
            stream = await trio.open_tcp_stream(outside, probe)
        await stream.aclose()
    finally:
        for listener in listeners:
            await listener.aclose()
