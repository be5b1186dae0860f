"""Who shares masks with whom: the complete graph for small sessions, a SecAgg+ sparse graph for larger ones.

Sparse graph (Bell et al. 2020): the runners are placed on a ring in an order drawn from the round seed, and each
is linked to the `degree / 2` runners on either side (a Harary graph over a random permutation), so every runner
has `degree` ~ 2 log2 n neighbours and the work per runner grows with log n instead of n. Every node computes the
same graph from (round seed, participants): no message is needed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from parity_p2p.secagg.errors import SecAggConfigError
from parity_p2p.secagg.params import SecAggParams


@dataclass(frozen=True)
class NeighbourGraph:
    """`neighbours[u]` never contains u; the relation is symmetric."""

    participants: tuple[str, ...]
    neighbours: dict[str, frozenset[str]]

    def holders(self, runner: str) -> frozenset[str]:
        """Who holds shares of `runner`'s secrets: its neighbours and itself."""
        return self.neighbours[runner] | {runner}

    @property
    def complete(self) -> bool:
        return all(len(n) == len(self.participants) - 1 for n in self.neighbours.values())


def sparse_degree(n: int, params: SecAggParams) -> int:
    """The number of neighbours: the configured even degree, or the even number just above 2 log2 n."""
    if params.degree is not None:
        return min(params.degree, n - 1 - (n - 1) % 2)
    degree = 2 * math.ceil(math.log2(n))
    return min(degree, n - 1 - (n - 1) % 2)


def build_graph(participants: Sequence[str], round_seed: bytes, params: SecAggParams) -> NeighbourGraph:
    ordered = tuple(sorted(set(participants)))
    if len(ordered) != len(participants):
        raise SecAggConfigError("participants", "runner ids must be distinct")
    if len(ordered) < 2:
        raise SecAggConfigError("participants", f"secure aggregation needs at least 2 runners, got {len(ordered)}")
    n = len(ordered)
    if n <= params.full_graph_max:
        return NeighbourGraph(ordered, {u: frozenset(ordered) - {u} for u in ordered})
    ring = _shuffle(list(ordered), round_seed)
    half = sparse_degree(n, params) // 2
    links: dict[str, set[str]] = {u: set() for u in ordered}
    for i, u in enumerate(ring):
        for step in range(1, half + 1):
            v = ring[(i + step) % n]
            links[u].add(v)
            links[v].add(u)
    return NeighbourGraph(ordered, {u: frozenset(v) for u, v in links.items()})


def _shuffle(items: list[str], seed: bytes) -> list[str]:
    """Fisher-Yates driven by SHA-256(seed | counter): the same order on every machine and Python version."""
    counter = 0

    def below(bound: int) -> int:
        nonlocal counter
        limit = (1 << 64) - (1 << 64) % bound  # rejection sampling: no modulo bias
        while True:
            digest = hashlib.sha256(b"parity-secagg/graph/" + seed + counter.to_bytes(8, "big")).digest()
            counter += 1
            value = int.from_bytes(digest[:8], "big")
            if value < limit:
                return value % bound

    for i in range(len(items) - 1, 0, -1):
        j = below(i + 1)
        items[i], items[j] = items[j], items[i]
    return items
