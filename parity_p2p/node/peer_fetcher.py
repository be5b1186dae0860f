"""Missing content blocks, asked of peers over `/parity/blocks/1.0.0`.

The content store calls this for every block it lacks and verifies what comes back against the CID, so a lying
peer costs one round trip and nothing else. Peers that probably hold the content (the round leader, the runner
that announced an update, the session creator) are asked first; then every connected peer.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import trio

from parity_p2p.gossip.block_protocol import fetch_blocks
from parity_p2p.gossip.errors import GossipError
from parity_p2p.gossip.host import P2PHost
from parity_p2p.storage.multiformats import Cid

logger = logging.getLogger(__name__)


class PeerFetcher:
    def __init__(self, host: P2PHost, *, per_peer_timeout_s: float = 10.0, max_hints: int = 64) -> None:
        self.host = host
        self.per_peer_timeout_s = per_peer_timeout_s
        self._hints: OrderedDict[str, None] = OrderedDict()
        self._max_hints = max_hints
        self.misses = 0

    def prefer(self, peer_id: str) -> None:
        """Ask `peer_id` early from now on (most recent hint first)."""
        self._hints.pop(peer_id, None)
        self._hints[peer_id] = None
        while len(self._hints) > self._max_hints:
            self._hints.popitem(last=False)

    def _candidates(self) -> list[str]:
        connected = set(self.host.connected_peers())
        hinted = [p for p in reversed(self._hints) if p in connected]
        return hinted + sorted(connected - set(hinted))

    async def fetch(self, cid: Cid) -> bytes | None:
        text = str(cid)
        for peer in self._candidates():
            with trio.move_on_after(self.per_peer_timeout_s):
                try:
                    block = (await fetch_blocks(self.host, peer, [text]))[text]
                except GossipError as exc:
                    logger.debug("block %s from %s failed: %s", text, peer, exc)
                    continue
                if block is not None:
                    return block
        self.misses += 1
        return None
