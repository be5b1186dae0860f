"""Streams open with optimistic multistream-select: the request leaves before the peer has answered anything, the
answer confirms the protocol on the first read, and a protocol the peer does not speak is a clear error there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from parity_p2p.gossip.errors import StreamOpenError
from parity_p2p.gossip.host import HostConfig, P2PHost, serve
from parity_p2p.gossip.optimistic_select import protocol_line
from parity_p2p.gossip.streams import FramedStream

ECHO = "/parity/test-echo/1.0.0"


@dataclass
class AnswerGate:
    """A TCP relay to `target_port` that passes the dialer's bytes at once and holds the listener's answers while
    `closed` is set (held, not dropped: they go out when it opens)."""

    target_port: int
    port: int = 0
    opened: trio.Event = field(default_factory=trio.Event)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._relay, listeners)

    async def _relay(self, dialer: trio.SocketStream) -> None:
        listener = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        async with dialer, listener, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, dialer, listener, False)
            nursery.start_soon(self._pump, listener, dialer, True)

    async def _pump(self, source: trio.SocketStream, sink: trio.SocketStream, gated: bool) -> None:
        while chunk := await source.receive_some(65536):
            if gated:
                await self.opened.wait()
            await sink.send_all(chunk)


@asynccontextmanager
async def gated_hosts(tmp_path: Path) -> AsyncIterator[tuple[P2PHost, P2PHost, AnswerGate]]:
    async with trio.open_nursery() as nursery:
        a: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "a"))
        b: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "b"))
        gate = AnswerGate(int(b.listen_addrs()[0].split("/tcp/")[1].split("/")[0]))
        await nursery.start(gate.serve)
        gate.opened.set()  # the connection's own handshakes need answers
        await a.connect(f"/ip4/127.0.0.1/tcp/{gate.port}/p2p/{b.peer_id}")
        yield a, b, gate
        nursery.cancel_scope.cancel()


async def test_the_request_reaches_the_listener_before_it_has_answered_anything(tmp_path: Path) -> None:
    requests: list[bytes] = []
    heard = trio.Event()

    async def answer(stream: FramedStream) -> None:
        requests.append(await stream.read_frame(64))
        heard.set()
        await stream.write_frame(b"answer")
        await stream.close_write()

    with trio.fail_after(20):
        async with gated_hosts(tmp_path) as (a, b, gate):
            b.set_stream_handler(ECHO, answer)
            await trio.sleep(0.3)  # identify and gossip set-up on the new connection settle
            gate.opened = trio.Event()  # from now on b's bytes wait: no protocol echo can reach a
            stream = await a.open_stream(b.peer_id, ECHO)
            await stream.write_frame(b"request")
            # The stock client would still be waiting for the first echo here; the listener already has it all.
            await heard.wait()
            assert requests == [b"request"]
            gate.opened.set()
            assert await stream.read_frame(64) == b"answer"  # both echoes checked first, then the answer
            await stream.aclose()


async def test_a_protocol_the_peer_does_not_speak_fails_on_the_first_read_saying_so(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with gated_hosts(tmp_path) as (a, b, _gate):
            stream = await a.open_stream(b.peer_id, "/parity/not-spoken/1.0.0")
            await stream.write_frame(b"lost with the stream")
            with pytest.raises(StreamOpenError, match="does not speak this protocol"):
                await stream.read_frame(64)
            await stream.aclose()
            # The connection is fine: a spoken protocol still works on it.
            b.set_stream_handler(ECHO, _echo)
            stream = await a.open_stream(b.peer_id, ECHO)
            await stream.write_frame(b"ping")
            assert await stream.read_frame(64) == b"ping"
            await stream.aclose()


async def _echo(stream: FramedStream) -> None:
    await stream.write_frame(await stream.read_frame(64))
    await stream.close_write()


def test_a_protocol_name_too_long_for_one_length_byte_is_refused() -> None:
    assert protocol_line(ECHO)[0] == len(ECHO) + 1
    with pytest.raises(ValueError, match="too long"):
        protocol_line("/" + "x" * 130)
