"""One stream of our Yamux connection: credit-based flow control in both directions, zero-copy receive buffer.

Receive: frames are kept as memoryviews of the decrypted Noise messages and copied once, when read. The peer's
credit is topped up by one WINDOW_UPDATE when half the window has been read (go-yamux's rule), not per read.
Send: one writer at a time (frames of two writes never interleave: the py-libp2p defect in TOOLCHAIN.md); a write
takes as much credit as it can and hands the connection several frames in one buffer.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import trio
from libp2p.abc import IMuxedStream
from libp2p.stream_muxer.exceptions import MuxedStreamClosed, MuxedStreamEOF, MuxedStreamReset

from .yamux_frames import INITIAL_WINDOW, Flag, FrameType, MuxerSettings, header

if TYPE_CHECKING:
    from .yamux_conn import TunedYamux


_PIN_FACTOR = 4


class TunedYamuxStream(IMuxedStream):
    def __init__(self, conn: TunedYamux, stream_id: int, settings: MuxerSettings) -> None:
        self.muxed_conn = conn
        self._conn = conn
        self.stream_id = stream_id
        self._settings = settings
        self._send_window = INITIAL_WINDOW
        self._credit_arrived = trio.Event()
        self._recv_chunks: deque[memoryview] = deque()
        self._recv_buffered = 0
        self._recv_credit = INITIAL_WINDOW
        """What the peer may still send before our next WINDOW_UPDATE; more is a protocol violation."""
        self._readable = trio.Event()
        self._write_lock = trio.Lock()
        self._unannounced = b""
        """The SYN of a stream we opened, not sent yet: it leaves with the stream's first frame (one write, one
        Noise message and one turn of the connection's send lock fewer per stream; see `announce_later`)."""
        self.local_closed = False
        self.remote_closed = False
        self.is_reset = False

    @property
    def buffered_bytes(self) -> int:
        """Received and not yet read: never more than the receive window we granted."""
        return self._recv_buffered

    @property
    def send_credit(self) -> int:
        """What we may still send before the peer's next WINDOW_UPDATE."""
        return self._send_window

    # ---- called by the connection's reader (never blocks) --------------------------------------------------------
    def grant_initial_window(self) -> int:
        """Our whole receive window at once: the delta to put in the SYN or ACK frame."""
        delta = self._settings.receive_window_bytes - INITIAL_WINDOW
        self._recv_credit += delta
        return delta

    def on_data(self, payload: list[memoryview], size: int) -> bool:
        """Buffer a DATA payload (its pieces, as they lie in the decrypted messages); False if it exceeds the
        credit we gave (the caller closes the connection)."""
        if size > self._recv_credit:
            return False
        self._recv_credit -= size
        if self.is_reset or not size:
            return True  # credit used either way; the bytes of a reset stream are dropped
        for piece in payload:
            if len(piece) * _PIN_FACTOR < memoryview(piece.obj).nbytes:
                # A small slice would keep its whole Noise message alive while it waits to be read: copied, so
                # the memory a stream holds stays within _PIN_FACTOR x its window whatever frames a peer sends.
                piece = memoryview(piece.tobytes())
            self._recv_chunks.append(piece)
        self._recv_buffered += size
        self._readable.set()
        return True

    def on_window_update(self, delta: int) -> None:
        self._send_window += delta
        self._credit_arrived.set()

    def on_fin(self) -> None:
        self.remote_closed = True
        self._readable.set()

    def on_reset(self) -> None:
        self.is_reset = True
        if not self.remote_closed:
            # Unfinished data is void. Data completed by a FIN stays readable: our handlers answer, half-close
            # and then reset (FramedStream.aclose), and py-libp2p's Yamux also delivers such an answer.
            self._recv_chunks.clear()
            self._recv_buffered = 0
        self._readable.set()
        self._credit_arrived.set()

    def announce_later(self, syn_frame: bytes) -> None:
        """Send `syn_frame` in front of this stream's first data, FIN or read, instead of on its own."""
        self._unannounced = syn_frame

    def _take_unannounced(self) -> bytes:
        frame, self._unannounced = self._unannounced, b""
        return frame

    # ---- IMuxedStream -----------------------------------------------------------------------------------------------
    async def read(self, n: int | None = -1) -> bytes:
        """Up to n bytes (all buffered bytes if n is -1 or None), waiting for at least one.
        MuxedStreamEOF after the peer's FIN once drained; MuxedStreamReset after a reset."""
        if n == 0:
            return b""
        parts = await self.read_views(-1 if n is None else n)
        return parts[0].tobytes() if len(parts) == 1 else b"".join(parts)

    async def read_views(self, n: int = -1) -> list[memoryview]:
        """Like read, but the buffered slices themselves, not a copy: FramedStream assembles a frame from them
        with one copy (read() + the frame's join were two copies of every byte)."""
        if self._unannounced and not self._recv_buffered:
            async with self._write_lock:  # reading first: the peer must learn of the stream to answer on it
                if self._unannounced:
                    await self._conn.send_frames(self._take_unannounced())
        while not self._recv_buffered:
            if self.is_reset:
                raise MuxedStreamReset(f"stream {self.stream_id} was reset")
            if self.remote_closed:
                raise MuxedStreamEOF(f"stream {self.stream_id} closed by the peer")
            self._readable = trio.Event()
            await self._readable.wait()
        take = self._recv_buffered if n < 0 else min(n, self._recv_buffered)
        parts: list[memoryview] = []
        remaining = take
        while remaining:
            chunk = self._recv_chunks[0]
            if len(chunk) <= remaining:
                parts.append(self._recv_chunks.popleft())
                remaining -= len(chunk)
            else:
                parts.append(chunk[:remaining])
                self._recv_chunks[0] = chunk[remaining:]
                remaining = 0
        self._recv_buffered -= take
        self._release_credit()
        return parts

    def _release_credit(self) -> None:
        if self.remote_closed or self.is_reset:
            return
        window = self._settings.receive_window_bytes
        delta = window - (self._recv_credit + self._recv_buffered)
        # One update per half window read, as go-yamux: py-libp2p sent ~2,000 for 20 MB, one frame each.
        if delta < window // 2:
            return
        self._recv_credit += delta
        self._conn.queue_control(header(FrameType.WINDOW_UPDATE, Flag.NONE, self.stream_id, delta))

    async def write(self, data: bytes) -> None:
        async with self._write_lock:
            view = memoryview(data)
            offset = 0
            self._check_writable()
            while offset < len(view):
                # Checked before each batch, not after the last: once every byte is out, a reset arriving
                # meanwhile (the peer read it all, answered and left) must not fail a completed write.
                self._check_writable()
                if self._send_window == 0:
                    await self._wait_for_credit()
                    continue
                end = offset + min(self._send_window, len(view) - offset, self._settings.write_batch_bytes)
                parts: list[bytes | memoryview] = [self._take_unannounced()]
                frame = self._settings.frame_payload_bytes
                for start in range(offset, end, frame):
                    size = min(frame, end - start)
                    parts.append(header(FrameType.DATA, Flag.NONE, self.stream_id, size))
                    parts.append(view[start : start + size])
                self._send_window -= end - offset
                await self._conn.send_frames(b"".join(parts))
                offset = end

    async def _wait_for_credit(self) -> None:
        timeout = self._settings.window_wait_timeout_s
        with trio.move_on_after(timeout):
            while self._send_window == 0 and not self.is_reset and not self._conn.is_closed:
                self._credit_arrived = trio.Event()
                await self._credit_arrived.wait()
            return
        # The peer stopped reading: give the stream up rather than hold the writer (and its memory) forever.
        await self.reset()
        raise MuxedStreamReset(f"stream {self.stream_id}: no send window from the peer for {timeout:g} s")

    def _check_writable(self) -> None:
        if self.is_reset:
            raise MuxedStreamReset(f"stream {self.stream_id} was reset")
        if self.local_closed:
            raise MuxedStreamClosed(f"stream {self.stream_id} is closed for writing")
        if self._conn.is_closed:
            raise MuxedStreamReset(f"stream {self.stream_id}: the connection is closed")

    async def close(self) -> None:
        """Half-close: FIN after our last data frame; the peer may still send until it closes too."""
        if self.local_closed or self.is_reset:
            return
        async with self._write_lock:  # after any write in progress, so FIN follows the data
            if self.local_closed or self.is_reset:
                return
            self.local_closed = True
            if not self._conn.is_closed:
                fin = header(FrameType.WINDOW_UPDATE, Flag.FIN, self.stream_id, 0)
                await self._conn.send_frames(self._take_unannounced() + fin)
        if self.remote_closed:
            self._conn.forget_stream(self.stream_id)

    async def reset(self) -> None:
        if self.is_reset or (self.local_closed and self.remote_closed):
            return
        self.on_reset()
        self.local_closed = True
        if not self._take_unannounced():  # else the peer never heard of the stream: nothing to reset there
            # Queued, not awaited: a reset never waits behind a large write of another stream.
            self._conn.queue_control(header(FrameType.WINDOW_UPDATE, Flag.RST, self.stream_id, 0))
        self._conn.forget_stream(self.stream_id)
        await trio.lowlevel.checkpoint()

    def set_deadline(self, ttl: int) -> None:
        raise NotImplementedError("Yamux has no stream deadlines: use trio cancel scopes")

    def get_remote_address(self) -> tuple[str, int] | None:
        return self._conn.get_remote_address()

    async def __aenter__(self) -> TunedYamuxStream:
        return self
