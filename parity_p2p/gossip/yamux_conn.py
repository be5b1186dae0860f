"""Our Yamux connection (/yamux/1.0.0, wire-compatible with py-libp2p's, go-yamux and js-libp2p's).

Why our own: py-libp2p's Yamux moved the update stream at ~0.1x raw TCP (docs/performance.md). The time went to
per-frame Python overhead: 65,548-byte frames split into two Noise messages, tiny reads, a WINDOW_UPDATE every
~10 kB, 12-byte header reads through several layers. Here:

- data frames carry at most 65,507 bytes, so a frame is exactly one Noise message (yamux_frames.MAX_DATA_PAYLOAD);
- one reader task parses frames out of whole decrypted messages (memoryview slices, no per-frame copy);
- each stream grants its full receive window up front (in SYN/ACK) and tops it up once per half window read;
- control frames (ACK, RST, window updates, ping replies) go through a queue drained by a sender task, so the
  reader never blocks on a socket write: two peers both writing large payloads cannot deadlock each other.

Flow control is enforced: a peer sending past the credit we gave gets GO_AWAY(protocol error) and is dropped.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import multiaddr
import trio
from libp2p.abc import IMuxedConn, IMuxedStream, ISecureConn
from libp2p.connection_types import ConnectionType
from libp2p.exceptions import BaseLibp2pError
from libp2p.peer.id import ID
from libp2p.stream_muxer.exceptions import MuxedConnUnavailable, MuxedStreamReset
from noise.exceptions import NoiseInvalidMessage, NoiseMaxNonceError

from .errors import NoiseTransportError, YamuxProtocolError
from .yamux_frames import (
    HEADER_SIZE,
    VERSION,
    Flag,
    FrameHeader,
    FrameType,
    GoAwayCode,
    MuxerSettings,
    header,
    parse_header,
)
from .yamux_stream import TunedYamuxStream

logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 2.0
_CONNECTION_ERRORS = (
    NoiseTransportError,
    BaseLibp2pError,
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    NoiseInvalidMessage,
    NoiseMaxNonceError,
)
"""What a dying or hostile connection raises below us (reset socket, EOF, failed decryption)."""


class _ConnectionEnded(Exception):
    """The secured connection has no more bytes."""


class _FrameReader:
    """Exact-size reads over a secured connection that yields whole messages: slices, copies only across messages."""

    def __init__(self, conn: ISecureConn) -> None:
        self._conn = conn
        self._chunks: deque[memoryview] = deque()
        self._size = 0
        self.last_read = trio.current_time()  # when the peer last sent anything (the keepalive reads it)

    async def _fill(self, n: int) -> None:
        while self._size < n:
            # read(None): whatever is available; for a Noise session exactly one decrypted message.
            data = await self._conn.read(None)
            if not data:
                raise _ConnectionEnded()
            self.last_read = trio.current_time()
            self._chunks.append(memoryview(data))
            self._size += len(data)
        self._size -= n

    async def read_exactly(self, n: int) -> memoryview:
        await self._fill(n)
        first = self._chunks[0]
        if len(first) > n:
            self._chunks[0] = first[n:]
            return first[:n]
        if len(first) == n:
            return self._chunks.popleft()
        return memoryview(b"".join(self._take(n)))  # a header split across messages: 12 bytes copied

    async def read_pieces(self, n: int) -> list[memoryview]:
        """n bytes as slices of the messages they arrived in (a DATA payload: no copy, however it was cut)."""
        await self._fill(n)
        return self._take(n)

    def _take(self, n: int) -> list[memoryview]:
        parts: list[memoryview] = []
        remaining = n
        while remaining:
            chunk = self._chunks[0]
            if len(chunk) <= remaining:
                parts.append(self._chunks.popleft())
                remaining -= len(chunk)
            else:
                parts.append(chunk[:remaining])
                self._chunks[0] = chunk[remaining:]
                remaining = 0
        return parts


class TunedYamux(IMuxedConn):
    """Built by TunedMuxerMultistream for every connection that negotiated /yamux/1.0.0."""

    def __init__(self, secured_conn: ISecureConn, peer_id: ID, settings: MuxerSettings | None = None) -> None:
        self.secured_conn = secured_conn
        self.peer_id = peer_id
        self.settings = settings if settings is not None else MuxerSettings()
        self.event_started = trio.Event()
        self.event_closed = trio.Event()
        self.on_close: Callable[[], Awaitable[Any]] | None = None  # set by the swarm's SwarmConn
        self._initiator = secured_conn.is_initiator
        self._next_stream_id = 1 if self._initiator else 2  # spec: the dialer uses odd ids, the listener even
        self._streams: dict[int, TunedYamuxStream] = {}
        self._accepted_send, self._accepted_receive = trio.open_memory_channel[TunedYamuxStream](
            self.settings.accept_backlog
        )
        self._send_lock = trio.Lock()
        self._control: list[bytes] = []
        self._control_queued = trio.Event()
        self._going_away = False
        self._torn_down = False
        self._reader = _FrameReader(secured_conn)
        self._pings_sent = 0

    # ---- IMuxedConn ---------------------------------------------------------------------------------------------
    @property
    def is_initiator(self) -> bool:
        return self._initiator

    @property
    def is_established(self) -> bool:
        return self.event_started.is_set() and not self._torn_down

    @property
    def is_closed(self) -> bool:
        return self._torn_down

    async def start(self) -> None:
        if self.event_started.is_set():
            return
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_control_frames)
                nursery.start_soon(self._keep_alive, nursery.cancel_scope)
                self.event_started.set()
                await self._read_frames()
                nursery.cancel_scope.cancel()
        finally:
            await self._teardown()

    async def close(self) -> None:
        if self._torn_down:
            return
        # Suppressed reset: the connection is already gone, nobody to tell.
        with trio.move_on_after(_CLOSE_TIMEOUT_S) as scope, contextlib.suppress(MuxedStreamReset):
            scope.shield = True
            await self.send_frames(header(FrameType.GO_AWAY, Flag.NONE, 0, GoAwayCode.NORMAL))
        await self._teardown()

    async def open_stream(self) -> IMuxedStream:
        if self._torn_down or self._going_away:
            raise MuxedConnUnavailable(f"connection to {self.peer_id} is closing")
        stream_id = self._next_stream_id
        if stream_id > 0xFFFFFFFF:
            raise MuxedConnUnavailable(f"connection to {self.peer_id} ran out of stream ids")
        self._next_stream_id += 2
        stream = TunedYamuxStream(self, stream_id, self.settings)
        self._streams[stream_id] = stream
        delta = stream.grant_initial_window()
        stream.announce_later(header(FrameType.WINDOW_UPDATE, Flag.SYN, stream_id, delta))
        await trio.lowlevel.checkpoint()
        return stream

    async def accept_stream(self) -> IMuxedStream:
        try:
            return await self._accepted_receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise MuxedConnUnavailable(f"connection to {self.peer_id} closed") from None

    def get_transport_addresses(self) -> list[multiaddr.Multiaddr]:
        return self.secured_conn.get_transport_addresses()

    def get_connection_type(self) -> ConnectionType:
        return self.secured_conn.get_connection_type()

    def get_remote_address(self) -> tuple[str, int] | None:
        return self.secured_conn.get_remote_address()

    # ---- used by streams ----------------------------------------------------------------------------------------
    async def send_frames(self, blob: bytes) -> None:
        """Write whole frames; MuxedStreamReset if the connection is gone."""
        if self._torn_down:
            raise MuxedStreamReset(f"connection to {self.peer_id} is closed")
        try:
            async with self._send_lock:
                await self.secured_conn.write(blob)
        except _CONNECTION_ERRORS as exc:
            raise MuxedStreamReset(f"connection to {self.peer_id} failed: {exc}") from exc

    def queue_control(self, frame: bytes) -> None:
        if self._torn_down:
            return
        self._control.append(frame)
        self._control_queued.set()

    def forget_stream(self, stream_id: int) -> None:
        """The stream is done in both directions: later frames for its id are ignored."""
        self._streams.pop(stream_id, None)

    # ---- tasks --------------------------------------------------------------------------------------------------
    async def _send_control_frames(self) -> None:
        while True:
            await self._control_queued.wait()
            self._control_queued = trio.Event()
            frames, self._control = self._control, []
            try:
                await self.send_frames(b"".join(frames))
            except MuxedStreamReset:
                return  # the reader sees the same failure and tears down

    async def _keep_alive(self, connection_scope: trio.CancelScope) -> None:
        """Ping a quiet peer; end the connection once it has been silent for keepalive_timeout_s."""
        interval, timeout = self.settings.keepalive_interval_s, self.settings.keepalive_timeout_s
        while True:
            now = trio.current_time()
            silent = now - self._reader.last_read
            if silent >= timeout:
                logger.info("yamux peer %s silent for %.1f s, pings unanswered: closing the connection", self.peer_id,
                            silent)  # fmt: skip
                connection_scope.cancel()
                return
            if silent >= interval:
                self._pings_sent += 1
                self.queue_control(header(FrameType.PING, Flag.SYN, 0, self._pings_sent & 0xFFFFFFFF))
                wait = min(interval, timeout - silent)
            else:
                wait = interval - silent
            await trio.sleep(wait)
            late = trio.current_time() - (now + wait)
            if late > interval:
                # This process was stalled (not the peer): the reader has not had its turn yet; start counting anew.
                self._reader.last_read = max(self._reader.last_read, trio.current_time() - interval)

    async def _read_frames(self) -> None:
        reader = self._reader
        try:
            while True:
                head = parse_header(await reader.read_exactly(HEADER_SIZE))
                if head.version != VERSION:
                    raise YamuxProtocolError(f"unknown Yamux version {head.version}")
                if head.type == FrameType.DATA:
                    if head.length > self.settings.receive_window_bytes:
                        raise YamuxProtocolError(f"DATA frame of {head.length} bytes exceeds any window we give")
                    body = await reader.read_pieces(head.length) if head.length else []
                    self._on_stream_frame(head, body)
                elif head.type == FrameType.WINDOW_UPDATE:
                    self._on_stream_frame(head, None)
                elif head.type == FrameType.PING:
                    if head.flags & Flag.SYN:
                        self.queue_control(header(FrameType.PING, Flag.ACK, 0, head.length))
                elif head.type == FrameType.GO_AWAY:
                    # No new streams either way; existing streams finish. The peer closes the socket when done.
                    self._going_away = True
                else:
                    raise YamuxProtocolError(f"unknown frame type {head.type}")
                if len(self._control) > self.settings.max_pending_control_frames:
                    # Only a peer that makes us answer faster than the socket drains gets here (a ping flood).
                    raise YamuxProtocolError(f"{len(self._control)} control frames pending")
        except _ConnectionEnded:
            logger.debug("yamux connection to %s ended", self.peer_id)
        except YamuxProtocolError as exc:
            logger.warning("yamux peer %s broke the protocol: %s; closing", self.peer_id, exc.reason)
            with trio.move_on_after(_CLOSE_TIMEOUT_S), contextlib.suppress(MuxedStreamReset):
                await self.send_frames(header(FrameType.GO_AWAY, Flag.NONE, 0, GoAwayCode.PROTOCOL_ERROR))
        except _CONNECTION_ERRORS as exc:
            logger.debug("yamux connection to %s lost: %r", self.peer_id, exc)

    def _on_stream_frame(self, head: FrameHeader, body: list[memoryview] | None) -> None:
        stream = self._streams.get(head.stream_id)
        if head.flags & Flag.SYN:
            stream = self._on_syn(head.stream_id)
            if stream is None:
                return
        if stream is None:
            return  # a stream we already forgot (reset or closed both ways): its late frames are dropped
        if body is not None:
            if not stream.on_data(body, head.length):
                raise YamuxProtocolError(f"stream {head.stream_id}: DATA beyond the receive window")
        elif head.length:
            stream.on_window_update(head.length)
        if head.flags & Flag.RST:
            stream.on_reset()
            self.forget_stream(head.stream_id)
        elif head.flags & Flag.FIN:
            stream.on_fin()
            if stream.local_closed:
                self.forget_stream(head.stream_id)

    def _on_syn(self, stream_id: int) -> TunedYamuxStream | None:
        if stream_id == 0 or (stream_id % 2 == 1) == self._initiator:
            raise YamuxProtocolError(f"peer opened stream {stream_id}, an id of our parity")
        if stream_id in self._streams:
            raise YamuxProtocolError(f"peer opened stream {stream_id} twice")
        stream = TunedYamuxStream(self, stream_id, self.settings)
        if self._going_away or self._torn_down:
            self.queue_control(header(FrameType.WINDOW_UPDATE, Flag.RST, stream_id, 0))
            return None
        try:
            self._accepted_send.send_nowait(stream)
        except trio.WouldBlock:
            # Backlog full: refuse this stream (go-yamux does the same) rather than stop reading the connection.
            self.queue_control(header(FrameType.WINDOW_UPDATE, Flag.RST, stream_id, 0))
            return None
        self._streams[stream_id] = stream
        self.queue_control(header(FrameType.WINDOW_UPDATE, Flag.ACK, stream_id, stream.grant_initial_window()))
        return stream

    async def _teardown(self) -> None:
        if self._torn_down:
            return
        self._torn_down = True
        for stream in self._streams.values():
            stream.on_reset()
        self._streams.clear()
        self._accepted_send.close()
        with trio.move_on_after(_CLOSE_TIMEOUT_S) as scope:
            scope.shield = True  # also when cancelled: the socket must be closed, not left to the collector
            try:
                await self.secured_conn.close()
            except _CONNECTION_ERRORS as exc:
                logger.debug("closing the connection to %s: %r", self.peer_id, exc)
            self.event_closed.set()
            if self.on_close is not None:
                await self.on_close()
