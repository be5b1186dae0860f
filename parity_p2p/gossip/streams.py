"""Length-prefixed frames over a libp2p stream, with a size cap checked before reading and timeouts.

Frame: u32 big-endian length, then that many bytes. Two deadlines guard every read: a per-read timeout catches a
stalled peer, and a whole-frame deadline (base + size / minimum rate) catches a peer that trickles one byte at a
time. One task per stream: Yamux interleaves concurrent writes to the same stream (TOOLCHAIN).
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from typing import Any, cast

import trio
from libp2p.abc import INetStream
from libp2p.io.exceptions import IOException
from libp2p.network.stream.exceptions import StreamEOF, StreamReset
from libp2p.stream_muxer.exceptions import MuxedStreamEOF, MuxedStreamError

from .errors import BadFrame, FrameTooLarge, StreamClosedEarly, StreamOpenError, StreamTimeout
from .optimistic_select import HEADER_LINE, REFUSAL_LINE, proposal, protocol_line
from .yamux_stream import TunedYamuxStream

_LENGTH = struct.Struct(">I")
MAX_FRAME_BYTES = 2**32 - 1
WRITE_CHUNK_BYTES = 1024 * 1024
"""Large payloads are written in pieces so each write has its own timeout. Fewer, larger writes save per-call
overhead; the muxer still interleaves other streams every MuxerSettings.write_batch_bytes."""
SMALL_FRAME_BYTES = 64 * 1024
"""Frames up to this size go out with their length prefix in one write (the copy costs less than a second write)."""


@dataclass(frozen=True)
class StreamLimits:
    read_timeout_s: float = 10.0
    """One read() may wait this long for any bytes; a receiver must also read promptly: Yamux resets a writer
    whose peer does not read for ~5 s."""
    write_timeout_s: float = 10.0
    """One chunk write may wait this long for window space."""
    frame_base_s: float = 10.0
    min_rate_bytes_per_s: int = 1_000_000
    """A frame of n bytes must arrive within frame_base_s + n / min_rate_bytes_per_s."""

    def frame_deadline_s(self, size: int) -> float:
        return self.frame_base_s + size / self.min_rate_bytes_per_s


class FramedStream:
    """A libp2p stream seen as frames of bytes or JSON. Owns the stream: `aclose()` always releases it."""

    def __init__(self, stream: INetStream, limits: StreamLimits | None = None, *, unconfirmed: str = "") -> None:
        """`unconfirmed`: propose this protocol optimistically (optimistic_select.py): the proposal leaves with
        the first write (or before the first read), and the first read checks the peer's answer first."""
        self._stream = stream
        self.limits = limits if limits is not None else StreamLimits()
        self.peer_id: str = stream.muxed_conn.peer_id.to_base58()
        self._muxed = getattr(stream, "muxed_stream", None)
        self._unconfirmed = unconfirmed
        self._proposal = proposal(unconfirmed) if unconfirmed else b""

    async def write_frame(self, data: bytes) -> None:
        if len(data) > MAX_FRAME_BYTES:
            raise FrameTooLarge(len(data), MAX_FRAME_BYTES)
        if len(data) <= SMALL_FRAME_BYTES:  # one write: each is a muxer frame and a turn of the connection's lock
            await self._write(_LENGTH.pack(len(data)) + data)
            return
        await self._write(_LENGTH.pack(len(data)))
        view = memoryview(data)
        for start in range(0, len(data), WRITE_CHUNK_BYTES):
            # A slice, not a copy: both muxers take any bytes-like object (the type says bytes).
            await self._write(cast(bytes, view[start : start + WRITE_CHUNK_BYTES]))

    async def read_frame(self, max_size: int, *, read_timeout_s: float | None = None) -> bytes:
        """Read one frame; FrameTooLarge if the announced size exceeds max_size (nothing of the body is read).
        `read_timeout_s` overrides the wait for the first byte (e.g. while the peer computes a verdict)."""
        if self._unconfirmed:
            await self._confirm_protocol()
        first_wait = self.limits.read_timeout_s if read_timeout_s is None else read_timeout_s
        prefix = await self._read_exact(_LENGTH.size, self.limits.frame_deadline_s(0) + first_wait, first_wait)
        (size,) = _LENGTH.unpack(prefix)
        if size > max_size:
            raise FrameTooLarge(size, max_size)
        return await self._read_exact(size, self.limits.frame_deadline_s(size), self.limits.read_timeout_s)

    async def _confirm_protocol(self) -> None:
        if self._proposal:
            await self._write(b"")  # reading before writing anything: the proposal must go out first
        protocol, self._unconfirmed = self._unconfirmed, ""
        wait = self.limits.read_timeout_s
        deadline = self.limits.frame_deadline_s(0) + wait
        header = await self._read_exact(len(HEADER_LINE), deadline, wait)
        if header != HEADER_LINE:
            raise StreamOpenError(self.peer_id, protocol, f"not a multistream-select answer: {header[:40]!r}")
        expected = protocol_line(protocol)
        (size,) = await self._read_exact(1, deadline, wait)
        if size > len(expected) - 1:  # also catches a longer varint (continuation bit set)
            raise StreamOpenError(self.peer_id, protocol, f"unexpected multistream-select answer ({size} bytes)")
        answer = bytes([size]) + await self._read_exact(size, deadline, wait)
        if answer == REFUSAL_LINE:
            raise StreamOpenError(self.peer_id, protocol, "the peer does not speak this protocol (it answered na)")
        if answer != expected:
            raise StreamOpenError(self.peer_id, protocol, f"the peer answered {answer[1:-1]!r}")

    async def write_json(self, value: dict[str, Any]) -> None:
        await self.write_frame(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())

    async def read_json(self, max_size: int, protocol: str, *, read_timeout_s: float | None = None) -> dict[str, Any]:
        data = await self.read_frame(max_size, read_timeout_s=read_timeout_s)
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BadFrame(protocol, f"frame is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise BadFrame(protocol, "frame is not a JSON object")
        return value

    async def close_write(self) -> None:
        """Half-close: tell the peer we are done writing (it reads EOF). Errors on a dead stream are moot."""
        try:
            with trio.fail_after(self.limits.write_timeout_s):
                await self._stream.close()
        except (IOException, trio.TooSlowError):
            await self.reset()

    async def reset(self) -> None:
        try:
            with trio.move_on_after(self.limits.write_timeout_s):
                await self._stream.reset()
        except IOException:
            pass  # already gone: nothing left to release

    async def aclose(self) -> None:
        await self.reset()

    async def _write(self, data: bytes) -> None:
        if self._proposal:
            data, self._proposal = self._proposal + data, b""
        try:
            with trio.fail_after(self.limits.write_timeout_s):
                await self._stream.write(data)
        except trio.TooSlowError:
            raise StreamTimeout(f"writing {len(data)} bytes to {self.peer_id}", self.limits.write_timeout_s) from None
        except IOException as exc:
            raise StreamClosedEarly(len(data), 0) from exc

    async def _read_exact(self, size: int, deadline_s: float, read_timeout_s: float) -> bytes:
        # Pieces are copied into one growing buffer as they arrive, so the muxer's buffers are released at once
        # and reused (collecting them for a final join kept the whole frame twice, on fresh pages: a third of the
        # receiver's time for 100 MB); BytesIO.getvalue() then hands out that buffer without another copy.
        frame = io.BytesIO()
        received = 0
        try:
            with trio.fail_after(deadline_s):
                while received < size:
                    for chunk in await self._read_some(size - received, read_timeout_s):
                        frame.write(chunk)
                        received += len(chunk)
        except trio.TooSlowError:
            raise StreamTimeout(f"reading a {size}-byte frame from {self.peer_id}", deadline_s) from None
        except StreamEOF:
            raise StreamClosedEarly(size, received) from None
        except IOException as exc:  # reset, closed, connection lost
            raise StreamClosedEarly(size, received) from exc
        return frame.getvalue()

    async def _read_some(self, max_bytes: int, timeout_s: float) -> list[bytes | memoryview]:
        try:
            with trio.fail_after(timeout_s):
                if isinstance(self._muxed, TunedYamuxStream):
                    # Our muxer hands out its buffered slices (no copy); the stock one gives bytes.
                    return list(await self._muxed.read_views(max_bytes))
                chunk = await self._stream.read(max_bytes)
        except trio.TooSlowError:
            raise StreamTimeout(f"waiting for bytes from {self.peer_id}", timeout_s) from None
        except MuxedStreamEOF:
            raise StreamEOF() from None
        except MuxedStreamError as exc:  # reset, connection lost
            raise StreamReset() from exc
        if not chunk:  # some transports signal EOF with b"" rather than StreamEOF
            raise StreamEOF()
        return [chunk]
