"""/parity/blocks/1.0.0 between two real hosts: known blocks come back byte for byte, unknown CIDs NOT_FOUND."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from parity_p2p.gossip.block_protocol import MAX_CIDS_PER_REQUEST, fetch_blocks, register_block_handler
from parity_p2p.gossip.errors import BadFrame, StreamOpenError
from parity_p2p.gossip.host import HostConfig, P2PHost, serve

KNOWN = "bafkreiaaaa"
UNKNOWN = "bafkreibbbb"


async def test_block_request_returns_blocks_and_not_found(tmp_path: Path) -> None:
    blocks = {KNOWN: os.urandom(256 * 1024), "bafkreiempty": b""}
    requested: list[str] = []

    async def get_block(cid: str) -> bytes | None:
        requested.append(cid)
        return blocks.get(cid)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            provider: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "p"))
            requester: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "r"))
            register_block_handler(provider, get_block)
            await requester.connect(provider.listen_addrs()[0])
            got = await fetch_blocks(requester, provider.peer_id, [KNOWN, UNKNOWN, "bafkreiempty"])
            with pytest.raises(BadFrame, match="not a CID string"):
                await fetch_blocks(requester, provider.peer_id, ["../etc/passwd"])
            with pytest.raises(BadFrame, match=r"list of 1\.\.64"):
                await fetch_blocks(requester, provider.peer_id, [KNOWN] * (MAX_CIDS_PER_REQUEST + 1))
            with pytest.raises(StreamOpenError):
                await fetch_blocks(provider, requester.peer_id, [KNOWN])  # requester serves no blocks
            nursery.cancel_scope.cancel()
    assert got == {KNOWN: blocks[KNOWN], UNKNOWN: None, "bafkreiempty": b""}
    assert requested == [KNOWN, UNKNOWN, "bafkreiempty"]
    assert provider.metrics.counters["blocks.not_found"] == 1
