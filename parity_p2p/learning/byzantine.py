"""Byzantine runners for drills and benchmarks: what a malicious participant does to its update.

An attack rewrites one runner's delta before the aggregator sees it; `Attacked` wraps any strategy so that
`run_federation` (the same training and aggregation code the nodes run) plays a round with that runner lying.
Nothing here is used by a node: it exists to measure and test how strategies hold up.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import replace

from parity_p2p.learning.errors import LearningError
from parity_p2p.learning.strategies.aggregate import State
from parity_p2p.learning.strategies.base import AggregateResult, ClientUpdate, Strategy, Wrapping


class Attack(enum.Enum):
    """How the Byzantine runner rewrites its honest delta d."""

    NONE = "none"
    SCALED = "scaled"  # 10 d: same direction, ten times the step (a "boosted" update)
    SIGN_FLIP = "sign_flip"  # -d: pushes back as hard as it honestly would push forward
    SIGN_FLIP_X4 = "sign_flip_x4"  # -4 d: one runner cancels four honest ones under plain averaging

    @property
    def factor(self) -> float:
        return {"none": 1.0, "scaled": 10.0, "sign_flip": -1.0, "sign_flip_x4": -4.0}[self.value]


class AttackError(LearningError):
    """The attack setup is impossible (e.g. the attacker is not a runner of the federation)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"attack: {self.reason}"


def attacked_delta(delta: State, attack: Attack) -> State:
    """The delta a Byzantine runner sends instead of its honest `delta` (a fresh state; the input is kept)."""
    return {name: tensor * attack.factor if tensor.is_floating_point() else tensor.clone()
            for name, tensor in delta.items()}  # fmt: skip


class Attacked(Wrapping):
    """`inner` aggregating a round in which `attacker`'s update has been rewritten by `attack`."""

    name = "attacked"

    def __init__(self, inner: Strategy, attacker: str, attack: Attack) -> None:
        super().__init__(inner)
        self.attacker = attacker
        self.attack = attack
        self.rounds_attacked = 0

    def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
        return self.inner.aggregate(round_number, global_state, self._rewrite(updates))

    def _rewrite(self, updates: Iterable[ClientUpdate]) -> Iterator[ClientUpdate]:
        seen = False
        for update in updates:
            if update.runner == self.attacker:
                seen = True
                self.rounds_attacked += 1
                update = replace(update, delta=attacked_delta(update.delta, self.attack))
            yield update
        if not seen:
            raise AttackError(f"runner {self.attacker!r} sent no update this round")
