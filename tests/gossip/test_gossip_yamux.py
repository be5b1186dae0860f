"""Our Yamux + batched Noise on real hosts over 127.0.0.1: wire-compatible with py-libp2p's stock stack in both
directions, several streams at once on one connection, resets mid-stream, and flow control that stops a fast
sender (and drops a peer that ignores it)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from gossip_helpers import wait_until
from libp2p.stream_muxer.yamux.yamux import Yamux, YamuxStream

from parity_p2p.gossip.errors import StreamClosedEarly, StreamProtocolError
from parity_p2p.gossip.host import HostConfig, P2PHost, serve
from parity_p2p.gossip.streams import FramedStream, StreamLimits
from parity_p2p.gossip.transport_stack import TransportSettings
from parity_p2p.gossip.update_protocol import UpdateLimits, UpdateOffer, Verdict, push_update, register_update_handler
from parity_p2p.gossip.yamux_conn import TunedYamux
from parity_p2p.gossip.yamux_frames import INITIAL_WINDOW, MuxerSettings
from parity_p2p.gossip.yamux_stream import TunedYamuxStream

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
RAW = "/parity/test-raw/1.0.0"
TUNED = TransportSettings()
STOCK = TransportSettings(tuned=False)
BIG_FRAMES = TransportSettings(muxer=MuxerSettings(frame_payload_bytes=INITIAL_WINDOW))
"""Frames of 256 KiB span four Noise messages: legal Yamux (go-yamux and py-libp2p read them), not our default."""


@dataclass
class DigestSink:
    """Accepts every update and keeps (sender, size, sha256) of each body."""

    stored: list[tuple[str, int, str]] = field(default_factory=list)

    async def admit(self, offer: UpdateOffer, peer_id: str) -> Verdict:
        return Verdict.accept()

    async def store(self, offer: UpdateOffer, data: bytes, peer_id: str) -> Verdict:
        self.stored.append((peer_id, len(data), hashlib.sha256(data).hexdigest()))
        return Verdict.accept()

    async def release(self, offer: UpdateOffer, peer_id: str) -> None:
        """Nothing to release: admission keeps no state here."""


@asynccontextmanager
async def connected(
    tmp_path: Path, left: TransportSettings, right: TransportSettings, limits: StreamLimits | None = None
) -> AsyncIterator[tuple[P2PHost, P2PHost]]:
    """Two hosts, `left` dials `right`."""
    extra = {"stream_limits": limits} if limits else {}
    async with trio.open_nursery() as nursery:
        a: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "left", transport=left, **extra))
        b: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "right", transport=right, **extra))
        await a.connect(b.listen_addrs()[0])
        yield a, b
        nursery.cancel_scope.cancel()


def muxers(host: P2PHost) -> list[object]:
    network = host._host.get_network()
    return [conn.muxed_conn for conns in network.connections.values() for conn in conns]


def muxed(stream: FramedStream) -> object:
    return stream._stream.muxed_stream  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("sender", "receiver"),
    [(TUNED, STOCK), (STOCK, TUNED), (BIG_FRAMES, STOCK), (BIG_FRAMES, TUNED)],
    ids=["tuned->stock", "stock->tuned", "big-frames->stock", "big-frames->tuned"],
)
async def test_large_pushes_cross_between_stock_and_tuned_hosts_intact(
    tmp_path: Path, sender: TransportSettings, receiver: TransportSettings
) -> None:
    sink = DigestSink()
    payloads = [os.urandom(12_000_000), os.urandom(1), os.urandom(65_507 * 3 + 5)]
    with trio.fail_after(90):
        async with connected(tmp_path, sender, receiver) as (runner, leader):
            register_update_handler(leader, sink, UpdateLimits(max_update_bytes=16_000_000))
            # Each side runs the implementation it was configured with (the test is not tuned against tuned).
            assert {type(m) for m in muxers(runner)} == {TunedYamux if sender.tuned else Yamux}
            assert {type(m) for m in muxers(leader)} == {TunedYamux if receiver.tuned else Yamux}
            for data in payloads:
                await push_update(runner, leader.peer_id, session_id=1, round=1, cid=CID, data=data)
    expected = [(runner.peer_id, len(d), hashlib.sha256(d).hexdigest()) for d in payloads]
    assert sink.stored == expected


@pytest.mark.parametrize("peer", [TUNED, STOCK], ids=["with-tuned", "with-stock"])
async def test_echo_both_ways_over_one_stream(tmp_path: Path, peer: TransportSettings) -> None:
    """Both directions carry large frames on the same stream at once (each side writes while the other does)."""

    async def echo(stream: FramedStream) -> None:
        data = await stream.read_frame(8_000_000)
        await stream.write_frame(data[::-1])
        await stream.close_write()  # FIN before the handler's reset: the answer is complete, not aborted

    data = os.urandom(5_000_000)
    with trio.fail_after(60):
        async with connected(tmp_path, TUNED, peer) as (a, b):
            b.set_stream_handler(RAW, echo)
            a.set_stream_handler(RAW, echo)
            for opener, other in ((a, b), (b, a)):
                stream = await opener.open_stream(other.peer_id, RAW)
                try:
                    await stream.write_frame(data)
                    assert await stream.read_frame(8_000_000) == data[::-1]
                finally:
                    await stream.aclose()


async def test_several_concurrent_pushes_on_one_connection_arrive_intact(tmp_path: Path) -> None:
    sink = DigestSink()
    payloads = [os.urandom(size) for size in (3_000_000, 2_500_000, 700_000, 4_000_000, 10, 1_900_000)]
    with trio.fail_after(90):
        async with connected(tmp_path, TUNED, TUNED) as (runner, leader):
            register_update_handler(leader, sink, UpdateLimits(max_update_bytes=8_000_000))
            async with trio.open_nursery() as nursery:
                for data in payloads:
                    nursery.start_soon(
                        lambda d=data: push_update(runner, leader.peer_id, session_id=1, round=1, cid=CID, data=d)
                    )
            assert len(muxers(runner)) == 1  # all of them shared one connection
    assert sorted(sink.stored) == sorted((runner.peer_id, len(d), hashlib.sha256(d).hexdigest()) for d in payloads)


@pytest.mark.parametrize("peer", [TUNED, STOCK], ids=["with-tuned", "with-stock"])
async def test_receiver_reset_mid_stream_fails_the_sender_and_spares_the_connection(
    tmp_path: Path, peer: TransportSettings
) -> None:
    got_some = trio.Event()

    async def reset_after_a_little(stream: FramedStream) -> None:
        await stream._read_exact(300_000, 10, 10)
        got_some.set()
        await stream.reset()

    sink = DigestSink()
    with trio.fail_after(60):
        async with connected(tmp_path, TUNED, peer) as (a, b):
            b.set_stream_handler(RAW, reset_after_a_little)
            register_update_handler(b, sink)
            stream = await a.open_stream(b.peer_id, RAW)
            with pytest.raises(StreamProtocolError):
                # 40 MB is more than any window: the writer is still writing when the reset arrives.
                await stream.write_frame(os.urandom(40_000_000))
                await stream.read_frame(10)
            assert got_some.is_set()
            await stream.aclose()
            # Other streams on the same connection still work.
            await push_update(a, b.peer_id, session_id=1, round=1, cid=CID, data=b"after the reset")
    assert [size for _, size, _ in sink.stored] == [len(b"after the reset")]


@pytest.mark.parametrize("peer", [TUNED, STOCK], ids=["with-tuned", "with-stock"])
async def test_sender_reset_mid_frame_fails_the_receiver_with_closed_early(
    tmp_path: Path, peer: TransportSettings
) -> None:
    outcome: list[BaseException] = []
    receiving: list[TunedYamuxStream] = []
    done = trio.Event()

    async def read_one(stream: FramedStream) -> None:
        receiving.append(muxed(stream))  # type: ignore[arg-type]
        try:
            await stream.read_frame(10_000_000)
        except StreamProtocolError as exc:
            outcome.append(exc)
        done.set()

    def read_what_came() -> bool:  # the whole first megabyte arrived (credit used) and was read (none buffered)
        window = MuxerSettings().receive_window_bytes
        return bool(receiving) and window - receiving[0]._recv_credit >= 1_000_000 and not receiving[0].buffered_bytes

    with trio.fail_after(60):
        async with connected(tmp_path, peer, TUNED) as (a, b):
            b.set_stream_handler(RAW, read_one)
            stream = await a.open_stream(b.peer_id, RAW)
            await stream._write((5_000_000).to_bytes(4, "big") + os.urandom(1_000_000))
            # The reset must come mid-frame, not before the receiver read the start: a reset voids unread data.
            await wait_until(read_what_came, what="the receiver to read the first megabyte")
            await stream.reset()
            await done.wait()
    assert len(outcome) == 1 and isinstance(outcome[0], StreamClosedEarly)
    assert outcome[0].expected == 5_000_000 and outcome[0].received <= 1_000_000


async def test_flow_control_stops_a_fast_sender_until_the_receiver_reads(tmp_path: Path) -> None:
    """A receiver that does not read holds at most its window; the writer waits, then finishes intact."""
    window = INITIAL_WINDOW
    small = TransportSettings(muxer=MuxerSettings(receive_window_bytes=window))
    held: list[FramedStream] = []
    release = trio.Event()
    received: list[bytes] = []

    async def read_late(stream: FramedStream) -> None:
        held.append(stream)
        await release.wait()
        received.append(await stream.read_frame(8_000_000))

    data = os.urandom(6_000_000)
    limits = StreamLimits(write_timeout_s=60, read_timeout_s=60)
    with trio.fail_after(90):
        async with connected(tmp_path, TUNED, small, limits) as (a, b):
            b.set_stream_handler(RAW, read_late)
            stream = await a.open_stream(b.peer_id, RAW)
            writer_done = trio.Event()

            async def write() -> None:
                await stream.write_frame(data)
                writer_done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(write)
                sending = muxed(stream)
                assert isinstance(sending, TunedYamuxStream)
                await wait_until(lambda: bool(held) and sending.send_credit == 0, what="the sender to run dry")
                await trio.sleep(0.5)  # time for any excess to arrive, if the sender ignored the window
                receiving = muxed(held[0])
                assert isinstance(receiving, TunedYamuxStream)
                assert not writer_done.is_set()
                assert 0 < receiving.buffered_bytes <= window
                release.set()
            await stream.aclose()
    assert received == [data]


async def test_a_writer_without_window_for_too_long_resets_its_stream(tmp_path: Path) -> None:
    impatient = TransportSettings(muxer=MuxerSettings(window_wait_timeout_s=1.0))
    never = trio.Event()

    async def never_read(stream: FramedStream) -> None:
        await never.wait()

    with trio.fail_after(60):
        async with connected(tmp_path, impatient, TUNED, StreamLimits(write_timeout_s=30)) as (a, b):
            b.set_stream_handler(RAW, never_read)
            stream = await a.open_stream(b.peer_id, RAW)
            with pytest.raises(StreamClosedEarly):
                await stream.write_frame(os.urandom(40_000_000))
            never.set()
            assert a.is_connected(b.peer_id)


async def test_a_peer_sending_past_its_window_is_disconnected(tmp_path: Path) -> None:
    """The stock muxer is made to ignore our window (as a hostile peer would); we drop the connection rather
    than buffer without bound."""
    small = TransportSettings(muxer=MuxerSettings(receive_window_bytes=INITIAL_WINDOW))
    never = trio.Event()

    async def never_read(stream: FramedStream) -> None:
        await never.wait()

    with trio.fail_after(60):
        async with connected(tmp_path, STOCK, small, StreamLimits(write_timeout_s=30)) as (a, b):
            b.set_stream_handler(RAW, never_read)
            stream = await a.open_stream(b.peer_id, RAW)
            stock = muxed(stream)
            assert isinstance(stock, YamuxStream)
            stock.send_window = 64 * INITIAL_WINDOW  # the lie: credit we never gave
            with pytest.raises(StreamProtocolError):
                await stream.write_frame(os.urandom(8_000_000))
            await wait_until(lambda: not b.is_connected(a.peer_id), what="the receiver to drop the sender")
            never.set()


@pytest.mark.parametrize("peer", [TUNED, STOCK], ids=["with-tuned", "with-stock"])
async def test_an_answer_completed_by_fin_survives_the_handlers_reset(tmp_path: Path, peer: TransportSettings) -> None:
    """Handlers answer, half-close, and their stream is then reset (FramedStream.aclose): a reader that gets
    to the answer only after the RST arrived still reads it whole (as with py-libp2p's Yamux)."""
    answer = os.urandom(300_000)

    async def answer_and_go(stream: FramedStream) -> None:
        await stream.write_frame(answer)
        await stream.close_write()

    with trio.fail_after(60):
        async with connected(tmp_path, TUNED, peer) as (a, b):
            b.set_stream_handler(RAW, answer_and_go)
            stream = await a.open_stream(b.peer_id, RAW)
            await stream.write_frame(b"question")
            await wait_until(lambda: muxed(stream).is_reset, what="the handler's reset")  # type: ignore[attr-defined]
            assert await stream.read_frame(1_000_000) == answer
            await stream.aclose()
