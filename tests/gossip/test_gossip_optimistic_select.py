"""Streams open with optimistic multistream-select: the request leaves before the peer has answered anything, the
answer confirms the protocol on the first read, and a protocol the peer does not speak is a clear error there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from fixtures.tcp_relay import TcpRelay, relayed_hosts

from parity_p2p.gossip.errors import StreamOpenError
from parity_p2p.gossip.host import HostConfig, P2PHost, serve
from parity_p2p.gossip.optimistic_select import protocol_line
from parity_p2p.gossip.streams import FramedStream
from parity_p2p.gossip.transport_stack import TransportSettings

ECHO = "/parity/test-echo/1.0.0"


@dataclass
class AnswerGate(TcpRelay):
    """Holds the listener's answers (not dropped: they go out when it opens) while `opened` is not set."""

    opened: trio.Event = field(default_factory=trio.Event)

    async def interfere(self, chunk: bytes, toward_dialer: bool) -> bytes:
        if toward_dialer:
            await self.opened.wait()
        return chunk


@asynccontextmanager
async def gated_hosts(tmp_path: Path) -> AsyncIterator[tuple[P2PHost, P2PHost, AnswerGate]]:
    def make(port: int) -> AnswerGate:
        gate = AnswerGate(port)
        gate.opened.set()  # the connection's own handshakes need answers
        return gate

    async with relayed_hosts(tmp_path, make) as hosts:
        yield hosts


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


@pytest.mark.parametrize("listener", [TransportSettings(), TransportSettings(tuned=False)], ids=["tuned", "stock"])
async def test_an_opener_that_reads_first_still_announces_the_stream_and_the_protocol(
    tmp_path: Path, listener: TransportSettings
) -> None:
    """The Yamux SYN and the protocol proposal wait for the opener's first frame; an opener that only reads
    (a protocol where the listener speaks first) must send them before it waits."""

    async def greet(stream: FramedStream) -> None:
        await stream.write_frame(b"hello")
        await stream.close_write()

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            a: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "a"))
            b: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "b", transport=listener))
            b.set_stream_handler(ECHO, greet)
            await a.connect(b.listen_addrs()[0])
            untouched = await a.open_stream(b.peer_id, ECHO)
            await untouched.aclose()  # reset before a byte was sent (no SYN went out): the connection carries on
            stream = await a.open_stream(b.peer_id, ECHO)
            assert await stream.read_frame(64) == b"hello"
            await stream.aclose()
            nursery.cancel_scope.cancel()
