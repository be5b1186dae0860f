"""What every node of a round agrees on before any secure-aggregation message: session, round, runners, graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parity_p2p.secagg.graph import NeighbourGraph, build_graph
from parity_p2p.secagg.keys import PairBinding
from parity_p2p.secagg.params import SecAggParams


@dataclass(frozen=True)
class RoundContext:
    session_id: int
    round: int
    params: SecAggParams
    graph: NeighbourGraph

    @classmethod
    def create(
        cls, session_id: int, round_number: int, participants: Sequence[str], round_seed: bytes, params: SecAggParams
    ) -> RoundContext:
        return cls(session_id, round_number, params, build_graph(participants, round_seed, params))

    @property
    def participants(self) -> tuple[str, ...]:
        return self.graph.participants

    def position(self, runner: str) -> int:
        """The runner's Shamir x-coordinate: 1 + its index in the sorted participant list."""
        return self.participants.index(runner) + 1

    def threshold(self, runner: str) -> int:
        """Shares needed to rebuild `runner`'s secrets (its neighbourhood's threshold)."""
        return self.params.threshold_for(len(self.graph.holders(runner)))

    def binding(self, a: str, b: str) -> PairBinding:
        return PairBinding.of(self.session_id, self.round, a, b)

    def sign(self, owner: str, peer: str) -> int:
        """The pairwise mask is added by the lower id and subtracted by the higher, so the pair's masks cancel."""
        return 1 if owner < peer else -1
