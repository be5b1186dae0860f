"""What a node's session machinery needs from the rest of the node, in one place."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from parity_p2p.chain import ChainClient
from parity_p2p.consensus.timing import TimingPolicy
from parity_p2p.gossip.network import Network
from parity_p2p.node.chain_membership import ChainMembership
from parity_p2p.node.peer_fetcher import PeerFetcher
from parity_p2p.storage.content import ContentStore

EventSink = Callable[[str, dict[str, Any]], None]


@dataclass
class ChainClock:
    """The chain's idea of now: deadlines and election steps are defined by block timestamps.

    Anchored on each new block: a block is stamped about when it is made, so whoever first sees a block number
    (the session service's poll, a runner's finalisation watch) sets `offset = timestamp - wall clock`. Between
    blocks the offset holds (an idle devnet makes no blocks, so the latest timestamp alone would look ever older).
    One clock per node, shared: a runner that starts late inherits an anchor taken when a block was fresh, instead
    of anchoring on a block that may be long past (then its failover steps would lag the other nodes')."""

    offset: float = 0.0  # chain time minus wall time
    block: int = -1

    def observe(self, number: int, stamp: int) -> None:
        if number != self.block:
            self.block = number
            self.offset = stamp - time.time()

    def now(self) -> float:
        return time.time() + self.offset


def _drop(kind: str, data: dict[str, Any]) -> None:
    return None


@dataclass
class NodeContext:
    account: LocalAccount
    chain: ChainClient
    network: Network
    store: ContentStore
    fetcher: PeerFetcher
    emit: EventSink = _drop
    timing: TimingPolicy = field(default_factory=TimingPolicy)
    auto_claim: bool = True
    poll_interval_s: float = 0.5  # the session service's chain polling (new sessions, joins): every 2x this
    finalize_poll_s: float = 0.5  # a round's closure is polled this often until a hint (round_closed) comes
    fast_poll_s: float = 0.05  # after a hint, while the chain does not show the closure yet (backing off)
    membership: ChainMembership | None = None  # told of each new round, so gossip validation keeps up
    local_datasets: Mapping[str, Path] = field(default_factory=dict)  # private-data schema name -> local CSV
    max_recompute_bytes: int = 256 * 1024 * 1024  # above it, followers run the light check (proposal.py)
    torch_threads: int = 0  # PolicyConfig.torch_threads: 0 = automatic by model size
    clock: ChainClock = field(default_factory=ChainClock)

    @property
    def address(self) -> str:
        return to_checksum_address(self.account.address)
