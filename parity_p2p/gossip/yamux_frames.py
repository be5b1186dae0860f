"""Yamux (/yamux/1.0.0) frame layout and the sizes our muxer picks (hashicorp/yamux spec.md).

Header, 12 bytes, network order: version u8 (0), type u8, flags u16, stream id u32, length u32. For DATA the
length is the payload size; for WINDOW_UPDATE the window delta; for PING an opaque value; for GO_AWAY a code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, NamedTuple

from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH

from .errors import HostConfigError

PROTOCOL_ID = "/yamux/1.0.0"
VERSION = 0
HEADER = struct.Struct("!BBHII")
HEADER_SIZE = HEADER.size
INITIAL_WINDOW = 256 * 1024
"""Every stream starts with this much credit in each direction (spec); more only by WINDOW_UPDATE."""
MAX_DATA_PAYLOAD = MAX_PLAINTEXT_LENGTH - HEADER_SIZE
"""65,507: a full data frame (header + payload) is exactly one Noise message. py-libp2p's 64 KiB payload makes
65,548-byte frames, which Noise must split into two messages: twice the encryptions, writes and reads."""


class FrameType(IntEnum):
    DATA = 0
    WINDOW_UPDATE = 1
    PING = 2
    GO_AWAY = 3


class Flag:
    """Plain ints, not an IntFlag: `flags & Flag.FIN` runs per frame, and enum arithmetic is Python-level."""

    NONE: Final = 0
    SYN: Final = 1
    ACK: Final = 2
    FIN: Final = 4
    RST: Final = 8


class GoAwayCode(IntEnum):
    NORMAL = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2


class FrameHeader(NamedTuple):
    """A tuple rather than a frozen dataclass: one is built per frame, and frozen __init__ is slow."""

    version: int
    type: int
    flags: int
    stream_id: int
    length: int


def parse_header(raw: bytes | memoryview) -> FrameHeader:
    return FrameHeader._make(HEADER.unpack(raw))


def header(frame_type: FrameType, flags: int, stream_id: int, length: int) -> bytes:
    return HEADER.pack(VERSION, frame_type, flags, stream_id, length)


@dataclass(frozen=True)
class MuxerSettings:
    """How our Yamux uses memory and batches writes. Wire format and initial windows are the spec's."""

    receive_window_bytes: int = 16 * 1024 * 1024
    """Per stream: the most a peer may send us ahead of our reader (the most we buffer for one stream). 16 MiB
    is go-yamux's maximum; a window update goes out once half of it has been read (go-yamux's rule)."""
    frame_payload_bytes: int = MAX_DATA_PAYLOAD
    """Largest DATA payload we send. The default makes a frame exactly one Noise message."""
    write_batch_bytes: int = 256 * 1024
    """A stream write hands the connection up to this many payload bytes (several frames) in one socket write."""
    window_wait_timeout_s: float = 30.0
    """A writer without send credit for this long gives up and resets the stream (py-libp2p waits 5 s)."""
    accept_backlog: int = 256
    """Inbound streams not yet accepted by the host; more are refused with RST instead of blocking the reader."""
    max_pending_control_frames: int = 4096
    """Control frames (ACK, RST, ping replies, window updates) queued for sending; a peer that makes us queue
    more is flooding us and the connection is closed."""
    keepalive_interval_s: float = 5.0
    """A connection that received nothing for this long sends a Yamux PING (go-yamux's keepalive, more often)."""
    keepalive_timeout_s: float = 15.0
    """A connection that received nothing at all for this long, pings included, is closed as dead. TCP alone
    would keep it: after a network cut its retransmissions back off to tens of seconds, so a host stays deaf
    long after the network came back; closing lets discovery dial a fresh connection instead."""

    def __post_init__(self) -> None:
        if not INITIAL_WINDOW <= self.receive_window_bytes <= 2**31:
            raise HostConfigError("receive_window_bytes", f"must be between {INITIAL_WINDOW} and 2**31")
        if self.write_batch_bytes < 1:
            raise HostConfigError("write_batch_bytes", "must be positive")
        if not 1 <= self.frame_payload_bytes <= INITIAL_WINDOW:
            raise HostConfigError("frame_payload_bytes", f"must be between 1 and {INITIAL_WINDOW}")
        if self.window_wait_timeout_s <= 0:
            raise HostConfigError("window_wait_timeout_s", "must be positive")
        if not 0 < self.keepalive_interval_s < self.keepalive_timeout_s:
            raise HostConfigError("keepalive_interval_s", "must be positive and below keepalive_timeout_s")
        if self.accept_backlog < 1 or self.max_pending_control_frames < 16:
            raise HostConfigError("accept_backlog", "accept_backlog >= 1 and max_pending_control_frames >= 16")
