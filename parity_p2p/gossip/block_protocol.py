"""`/parity/blocks/1.0.0`: fetch content blocks by CID from a peer.

    requester                                  provider
    frame: {"cids": [cid, ...]}  (<= 64)   ->
                                           <- per CID, in request order, one frame:
                                              0x00 + block bytes (FOUND) | 0x01 (NOT_FOUND)

Byte-oriented on purpose: this layer neither parses CIDs nor hashes blocks. The content store plugs in
`get_block` on the serving side and verifies every fetched block against its CID on the requesting side.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence

from .cid_text import is_cid_text
from .errors import BadFrame, StreamProtocolError
from .host import P2PHost
from .streams import FramedStream

logger = logging.getLogger(__name__)

BLOCK_PROTOCOL = "/parity/blocks/1.0.0"
MAX_CIDS_PER_REQUEST = 64
MAX_BLOCK_BYTES = 2 * 1024 * 1024
"""UnixFS chunks are 256 KiB; 2 MiB is Bitswap's block limit, so any IPFS block fits."""
MAX_REQUEST_BYTES = 16 * 1024
FOUND = b"\x00"
NOT_FOUND = b"\x01"

GetBlock = Callable[[str], "bytes | Awaitable[bytes | None] | None"]


def register_block_handler(host: P2PHost, get_block: GetBlock) -> None:
    """Serve blocks from `get_block(cid) -> bytes | None` (sync or async)."""
    metrics = host.metrics

    async def handle(stream: FramedStream) -> None:
        try:
            request = await stream.read_json(MAX_REQUEST_BYTES, BLOCK_PROTOCOL)
            cids = _check_cids(request.get("cids"))
            for cid in cids:
                block = get_block(cid)
                if inspect.isawaitable(block):
                    block = await block
                if block is None:
                    metrics.count("blocks.not_found")
                    await stream.write_frame(NOT_FOUND)
                elif len(block) > MAX_BLOCK_BYTES:
                    logger.error("block %s has %d bytes, above the %d-byte limit; not served", cid, len(block),
                                 MAX_BLOCK_BYTES)
                    await stream.write_frame(NOT_FOUND)
                else:
                    metrics.count("blocks.served")
                    metrics.count("blocks.bytes_sent", len(block))
                    await stream.write_frame(FOUND + block)
            await stream.close_write()
        except StreamProtocolError as exc:
            metrics.count(f"blocks.failed.{type(exc).__name__}")
            logger.info("block request from %s failed: %s", stream.peer_id, exc)

    host.set_stream_handler(BLOCK_PROTOCOL, handle)


async def fetch_blocks(host: P2PHost, peer_id: str, cids: Sequence[str]) -> dict[str, bytes | None]:
    """Ask `peer_id` for `cids`; the answer maps each CID to its bytes or None (the peer has not got it).
    The bytes are NOT verified here: the caller must hash them against the CID."""
    wanted = _check_cids(list(cids))
    stream = await host.open_stream(peer_id, BLOCK_PROTOCOL)
    result: dict[str, bytes | None] = {}
    try:
        await stream.write_json({"cids": wanted})
        for cid in wanted:
            frame = await stream.read_frame(MAX_BLOCK_BYTES + 1)
            if frame == NOT_FOUND:
                result[cid] = None
            elif frame[:1] == FOUND:
                result[cid] = frame[1:]
                host.metrics.count("blocks.bytes_received", len(frame) - 1)
            else:
                raise BadFrame(BLOCK_PROTOCOL, f"answer for {cid} starts with {frame[:1]!r}")
    finally:
        await stream.aclose()
    return result


def _check_cids(value: object) -> list[str]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_CIDS_PER_REQUEST:
        raise BadFrame(BLOCK_PROTOCOL, f"cids must be a list of 1..{MAX_CIDS_PER_REQUEST} strings")
    for cid in value:
        if not is_cid_text(cid):
            raise BadFrame(BLOCK_PROTOCOL, f"not a CID string: {cid!r}")
    return value
