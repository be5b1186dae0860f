"""A small HTTP/1.1 server on trio (h11 does the parsing), for the control API only.

It is deliberately narrow: one handler, JSON or bytes or a streamed body out, bodies capped before they are
read, time limits on reading a request, a cap on open connections, and no Python traceback ever reaches a
client (a failing handler answers 500 with a JSON error and the traceback goes to the log).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import h11
import trio

if TYPE_CHECKING:
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)

_READ_SIZE = 64 * 1024
SERVER_NAME = b"parity-node"
_LINGER_S = 1.0
_LINGER_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ServerLimits:
    max_body_bytes: int = 64 * 1024 * 1024
    max_head_bytes: int = 16 * 1024
    head_timeout_s: float = 30.0
    """Time for a request line and headers to arrive (also how long an idle keep-alive connection stays)."""
    body_timeout_s: float = 120.0
    max_connections: int = 64


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case names; repeated headers joined with ", "."""
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value, separators=(",", ":")).encode() + b"\n")


ChunkSink = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True)
class StreamingResponse:
    """A body of unknown length: `produce(send)` calls `send(chunk)` until done; it is cancelled if the client
    goes away. The status line and headers are sent with the first `send` (`send(b"")` sends just them)."""

    produce: Callable[[ChunkSink], Awaitable[None]]
    content_type: str = "application/x-ndjson"
    status: int = 200


class HttpError(Exception):
    """Raise from a handler to answer `status` with {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request], Awaitable[Response | StreamingResponse]]
Authorizer = Callable[[Request], bool]


@dataclass(frozen=True)
class BoundAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass
class ServerStats:
    requests: int = 0
    refused_unauthorized: int = 0
    refused_busy: int = 0
    errors: dict[int, int] = field(default_factory=dict)


class HttpServer:
    def __init__(self, handler: Handler, authorize: Authorizer, limits: ServerLimits | None = None) -> None:
        self.handler = handler
        self.authorize = authorize
        self.limits = limits or ServerLimits()
        self.stats = ServerStats()
        self._open = 0

    async def serve(
        self, host: str, port: int, *, task_status: TaskStatus[BoundAddress] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen on host:port (port 0: any free port) until cancelled; `started(BoundAddress)`."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        try:
            sockname = listeners[0].socket.getsockname()
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._on_connection, listeners)
                task_status.started(BoundAddress(sockname[0], sockname[1]))
        finally:
            for listener in listeners:
                await trio.aclose_forcefully(listener)

    async def _on_connection(self, stream: trio.SocketStream) -> None:
        self._open += 1
        try:
            connection = _Connection(self, stream)
            if self._open > self.limits.max_connections:
                self.stats.refused_busy += 1
                with contextlib.suppress(_Closed):
                    await connection.send_error(503, "too many open connections to the control API", close=True)
                await _linger(stream)
                return
            await connection.run()
            await _linger(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away; nothing to answer
        except Exception:
            # serve_listeners would let this end the whole API (and the node with it): one bad connection must not.
            logger.exception("control API connection failed")
        finally:
            self._open -= 1
            await trio.aclose_forcefully(stream)


class _Closed(Exception):
    """The connection is done (EOF, protocol end, or a response that closes it)."""


class _Connection:
    def __init__(self, server: HttpServer, stream: trio.SocketStream) -> None:
        self.server = server
        self.limits = server.limits
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head_bytes)

    async def run(self) -> None:
        try:
            while True:
                await self._one_cycle()
                if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
                    return
                self.h11.start_next_cycle()
        except _Closed:
            return

    async def _one_cycle(self) -> None:
        try:
            with trio.fail_after(self.limits.head_timeout_s):
                event = await self._next_event()
        except trio.TooSlowError:
            if self.h11.their_state is h11.IDLE and not self.h11.trailing_data[0]:
                raise _Closed from None  # an idle keep-alive connection: just close it
            await self.send_error(408, "request head not received in time", close=True)
            return
        except h11.RemoteProtocolError as exc:
            await self.send_error(400, f"malformed HTTP request: {exc}", close=True)
            return
        if isinstance(event, h11.ConnectionClosed):
            raise _Closed
        if not isinstance(event, h11.Request):
            await self.send_error(400, "expected a request", close=True)
            return
        request = _parse_head(event)
        if request is None:
            await self.send_error(400, "malformed request target", close=True)
            return
        self.server.stats.requests += 1
        if not self.server.authorize(request):
            self.server.stats.refused_unauthorized += 1
            await self.send_error(401, "missing or wrong bearer token (see <data dir>/api.token)", close=True)
            return
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limits.max_body_bytes:
            await self.send_error(413, f"body larger than {self.limits.max_body_bytes} bytes", close=True)
            return
        try:
            with trio.fail_after(self.limits.body_timeout_s):
                body = await self._read_body()
        except trio.TooSlowError:
            await self.send_error(408, "request body not received in time", close=True)
            return
        except h11.RemoteProtocolError as exc:
            await self.send_error(400, f"malformed HTTP request: {exc}", close=True)
            return
        if body is None:
            await self.send_error(413, f"body larger than {self.limits.max_body_bytes} bytes", close=True)
            return
        await self._respond(Request(request.method, request.path, request.query, request.headers, body))

    async def _respond(self, request: Request) -> None:
        try:
            response = await self.server.handler(request)
        except HttpError as exc:
            await self.send_error(exc.status, exc.message)
            return
        except Exception as exc:
            logger.exception("control API handler failed on %s %s", request.method, request.path)
            await self.send_error(500, f"internal error ({type(exc).__name__}); see the node's log")
            return
        if isinstance(response, Response):
            await self._send_response(response)
        else:
            await self._stream(response)

    async def _next_event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                data = await self.stream.receive_some(_READ_SIZE)
                self.h11.receive_data(data)  # b"" marks EOF
                continue
            if event is h11.PAUSED:
                raise _Closed
            return event

    async def _read_body(self) -> bytes | None:
        """The whole body, or None as soon as it exceeds the cap (chunked bodies have no declared length)."""
        parts: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.limits.max_body_bytes:
                    return None
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            elif isinstance(event, h11.ConnectionClosed):
                raise _Closed

    async def _send(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            await self.stream.send_all(data)

    def _headers(self, content_type: str, length: int | None, close: bool) -> list[tuple[bytes, bytes]]:
        headers = [(b"server", SERVER_NAME), (b"content-type", content_type.encode()), (b"cache-control", b"no-store")]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        if close:
            headers.append((b"connection", b"close"))
        return headers

    async def _send_response(self, response: Response, *, close: bool = False) -> None:
        headers = self._headers(response.content_type, len(response.body), close)
        await self._send(h11.Response(status_code=response.status, headers=headers))
        await self._send(h11.Data(data=response.body))
        await self._send(h11.EndOfMessage())

    async def send_error(self, status: int, message: str, *, close: bool = False) -> None:
        self.server.stats.errors[status] = self.server.stats.errors.get(status, 0) + 1
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            raise _Closed  # a response is already under way; all we can do is drop the connection
        try:
            await self._send_response(Response.json({"error": message, "status": status}, status), close=close)
        except h11.LocalProtocolError:
            raise _Closed from None
        if close:
            raise _Closed

    async def _stream(self, response: StreamingResponse) -> None:
        async def send(chunk: bytes) -> None:
            # The head goes out with the first call: a producer calls send(b"") once it is ready (e.g. subscribed),
            # so a client that has seen the 200 knows nothing published from then on can be missed.
            if self.h11.our_state is h11.SEND_RESPONSE:
                headers = self._headers(response.content_type, None, close=False)
                await self._send(h11.Response(status_code=response.status, headers=headers))
            if chunk:
                await self._send(h11.Data(data=chunk))

        complete = False
        try:
            async with trio.open_nursery() as nursery:

                async def watch_for_hangup() -> None:
                    # The producer may wait long for its next chunk; a client that hangs up must end it anyway.
                    while await self.stream.receive_some(_READ_SIZE):
                        pass
                    nursery.cancel_scope.cancel()

                nursery.start_soon(watch_for_hangup)
                try:
                    await response.produce(send)
                    await send(b"")  # a producer that never sent anything still owes the head
                    complete = True
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # the client went away mid-stream
                except Exception:
                    logger.exception("control API stream failed")
                nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        if self.h11.our_state is h11.SEND_RESPONSE:
            await self.send_error(500, "the stream failed before it started; see the node's log", close=True)
        if complete and self.h11.our_state is h11.SEND_BODY:
            await self._send(h11.EndOfMessage())
        raise _Closed  # the hang-up watcher consumed whatever followed: this connection cannot be reused


async def _linger(stream: trio.SocketStream) -> None:
    """Close gently: stop sending, then read and discard what the client still sends, briefly. Closing a socket
    with unread input makes the kernel send a reset, which can destroy our error response (e.g. a 413 sent
    before the client finished uploading) before the client has read it."""
    with trio.move_on_after(_LINGER_S):
        await stream.send_eof()
        discarded = 0
        while discarded < _LINGER_MAX_BYTES and (chunk := await stream.receive_some(_READ_SIZE)):
            discarded += len(chunk)


def _parse_head(event: h11.Request) -> Request | None:
    try:
        target = event.target.decode("ascii")
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False))
    except (UnicodeDecodeError, ValueError):
        return None
    if not parts.path.startswith("/"):
        return None
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Request(event.method.decode("ascii"), parts.path, query, headers)
