"""Opening a stream with optimistic multistream-select: no round trip before the first byte of the protocol.

py-libp2p's client negotiates in two round trips before the caller may write: it sends the multistream header and
waits for its echo, then proposes the protocol and waits for that echo; on a busy peer each round trip also waits
for the peer's turn on the CPU. Like go-libp2p's lazy client and js-libp2p's optimistic select, we send header and
protocol with the caller's first frame (FramedStream prepends them to its first write, which also carries the
Yamux SYN: see TunedYamuxStream.announce_later) and check both echoes on the stream's first read. The listener
side is the stock one: it reads the proposals from its buffer and answers in order, so nothing changes on the
wire but the waiting. Measured by bench/stream_open.py.

Only for protocols the peer is expected to speak (all ours are): if it answers "na", the request bytes already
sent are lost with the stream, and the first read raises StreamOpenError saying so.
"""

from __future__ import annotations

from libp2p.protocol_muxer.multiselect_client import MULTISELECT_PROTOCOL_ID
from libp2p.utils import encode_delim

HEADER_LINE = encode_delim(MULTISELECT_PROTOCOL_ID.encode())
REFUSAL_LINE = encode_delim(b"na")


def protocol_line(protocol: str) -> bytes:
    """The protocol's multistream line; the peer echoes it byte for byte when it agrees. One length byte: our
    protocol names are short, and the answer is then read without parsing a longer varint."""
    line = encode_delim(protocol.encode())
    if len(line) - 1 > 127:
        raise ValueError(f"protocol name too long for an optimistic open: {protocol!r}")
    return line


def proposal(protocol: str) -> bytes:
    """What the opener sends before its request: the multistream header line, then the protocol's line."""
    return HEADER_LINE + protocol_line(protocol)
