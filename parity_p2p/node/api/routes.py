"""The control API's routes (all under /v1, all behind the bearer token), over a `NodeBackend`.

    GET  /v1/status                    node identity, chain position, stake and balances, uptime
    GET  /v1/peers                     connected and discovered peers
    GET  /v1/sessions                  sessions (from the session service, else from the chain)
    GET  /v1/sessions/{id}             one session
    GET  /v1/sessions/{id}/rounds      its rounds, with this node's per-round figures when it has them
    GET  /v1/metrics                   counters of every part
    GET  /v1/events[?since=N]          live newline-delimited JSON events; since=N first replays seq > N
    POST /v1/content                   body = bytes -> {"cid": ...}
    GET  /v1/content/{cid}             the bytes (fetched from peers if not local)
    POST /v1/updates?session=S&round=R body = an update file -> handed to the session service (503 without one)
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import trio

from parity_p2p.node.api.server import ChunkSink, HttpError, Request, Response, StreamingResponse
from parity_p2p.node.errors import UpdateRefused
from parity_p2p.node.events import EventBus
from parity_p2p.node.services import SessionProvider, UpdateSubmitter

if TYPE_CHECKING:
    from parity_p2p.storage.content import ContentStore

CONTENT_FETCH_TIMEOUT_S = 60.0
MAX_CONTENT_GET_BYTES = 1 << 30
_SESSION_RE = re.compile(r"^/v1/sessions/(\d{1,20})(/rounds)?$")
_CONTENT_RE = re.compile(r"^/v1/content/([A-Za-z0-9]{1,256})$")


class NodeBackend(Protocol):
    """What the routes read. The daemon implements it; the session service swaps `sessions` and `updates`."""

    events: EventBus
    content: ContentStore
    sessions: SessionProvider
    updates: UpdateSubmitter | None

    async def status(self) -> dict[str, Any]: ...

    async def peers(self) -> dict[str, Any]: ...

    def metrics(self) -> dict[str, Any]: ...


Route = Callable[[Request, re.Match[str] | None], Awaitable[Response | StreamingResponse]]


class ApiRoutes:
    def __init__(self, backend: NodeBackend) -> None:
        self.backend = backend
        self._exact: dict[tuple[str, str], Route] = {
            ("GET", "/v1/status"): self._status,
            ("GET", "/v1/peers"): self._peers,
            ("GET", "/v1/sessions"): self._sessions,
            ("GET", "/v1/metrics"): self._metrics,
            ("GET", "/v1/events"): self._events,
            ("POST", "/v1/content"): self._add_content,
            ("POST", "/v1/updates"): self._submit_update,
        }

    async def handle(self, request: Request) -> Response | StreamingResponse:
        route = self._exact.get((request.method, request.path))
        if route is not None:
            return await route(request, None)
        if any(path == request.path for _, path in self._exact):
            raise HttpError(405, f"{request.method} is not allowed on {request.path}")
        if match := _SESSION_RE.match(request.path):
            _require_method(request, "GET")
            return await (self._rounds if match.group(2) else self._session)(request, match)
        if match := _CONTENT_RE.match(request.path):
            _require_method(request, "GET")
            return await self._get_content(request, match)
        raise HttpError(404, f"no route {request.path} (see docs/node.md)")

    async def _status(self, request: Request, match: re.Match[str] | None) -> Response:
        return Response.json(await self.backend.status())

    async def _peers(self, request: Request, match: re.Match[str] | None) -> Response:
        return Response.json(await self.backend.peers())

    async def _metrics(self, request: Request, match: re.Match[str] | None) -> Response:
        return Response.json(self.backend.metrics())

    async def _sessions(self, request: Request, match: re.Match[str] | None) -> Response:
        sessions = await self.backend.sessions.list_sessions()
        return Response.json({"sessions": [_plain(s) for s in sessions]})

    async def _session(self, request: Request, match: re.Match[str] | None) -> Response:
        session_id = _session_id(match)
        session = await self.backend.sessions.session(session_id)
        if session is None:
            raise HttpError(404, f"no session {session_id}")
        return Response.json(_plain(session))

    async def _rounds(self, request: Request, match: re.Match[str] | None) -> Response:
        session_id = _session_id(match)
        rounds = await self.backend.sessions.rounds(session_id)
        if rounds is None:
            raise HttpError(404, f"no session {session_id}")
        return Response.json({"session_id": session_id, "rounds": [_plain(r) for r in rounds]})

    async def _events(self, request: Request, match: re.Match[str] | None) -> StreamingResponse:
        since = _int_param(request, "since", required=False)
        bus = self.backend.events

        async def produce(send: ChunkSink) -> None:
            async with bus.subscribe(since) as subscription:
                await send(b"")  # only now the 200: every event from here on reaches this client
                async for event in subscription:
                    await send(json.dumps(event.to_json(), separators=(",", ":")).encode() + b"\n")

        return StreamingResponse(produce)

    async def _add_content(self, request: Request, match: re.Match[str] | None) -> Response:
        cid = await self.backend.content.aadd(request.body)
        return Response.json({"cid": cid, "size": len(request.body)}, status=201)

    async def _get_content(self, request: Request, match: re.Match[str] | None) -> Response:
        from parity_p2p.storage.errors import BlockNotFound, ContentTooLarge, InvalidCid, StorageError

        assert match is not None
        try:
            with trio.fail_after(CONTENT_FETCH_TIMEOUT_S):
                data = await self.backend.content.aget(match.group(1), max_size=MAX_CONTENT_GET_BYTES)
        except InvalidCid as exc:
            raise HttpError(400, f"not a CID: {exc}") from None
        except BlockNotFound as exc:
            raise HttpError(404, f"content not found here or at any connected peer: {exc}") from None
        except ContentTooLarge as exc:
            raise HttpError(413, str(exc)) from None
        except trio.TooSlowError:
            raise HttpError(504, f"content not fetched within {CONTENT_FETCH_TIMEOUT_S:g} s") from None
        except StorageError as exc:
            raise HttpError(502, f"content store: {exc}") from None
        return Response(200, data, "application/octet-stream")

    async def _submit_update(self, request: Request, match: re.Match[str] | None) -> Response:
        session_id = _int_param(request, "session", required=True)
        round_number = _int_param(request, "round", required=True)
        assert session_id is not None and round_number is not None
        if not request.body:
            raise HttpError(400, "empty body: send the update file's bytes")
        submitter = self.backend.updates
        if submitter is None:
            raise HttpError(503, "no session service is running in this node yet; updates cannot be taken")
        try:
            result = await submitter.submit_update(session_id, round_number, request.body)
        except UpdateRefused as exc:
            raise HttpError(exc.http_status, exc.reason) from None
        return Response.json(_plain(result), status=202)


def _require_method(request: Request, method: str) -> None:
    if request.method != method:
        raise HttpError(405, f"{request.method} is not allowed on {request.path}")


def _session_id(match: re.Match[str] | None) -> int:
    assert match is not None
    return int(match.group(1))


def _int_param(request: Request, name: str, *, required: bool) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        if required:
            raise HttpError(400, f"query parameter {name} is required")
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise HttpError(400, f"query parameter {name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def _plain(value: Any) -> Any:
    """Dataclasses (and mappings inside them) as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value
