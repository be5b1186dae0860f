"""Byzantine-robust strategies. They need every update at once (memory O(n * P)), unlike FedAvg."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable

from parity_p2p.learning.strategies import aggregate
from parity_p2p.learning.strategies.aggregate import State
from parity_p2p.learning.strategies.base import (
    AggregateResult,
    ClientUpdate,
    Strategy,
    StrategyError,
    add_global_into,
)


class _Collecting(Strategy):
    """Materialises the updates, then delegates the math to `_combine`."""

    def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
        held = list(updates)
        try:
            delta, included = self._combine([u.delta for u in held])
        except ValueError as error:
            raise self._fail(error) from None
        return AggregateResult(
            state=add_global_into(delta, global_state),
            num_updates=len(held),
            total_examples=sum(held[i].num_examples for i in included),
            included=tuple(included),
        )

    @abstractmethod
    def _combine(self, deltas: list[State]) -> tuple[State, list[int]]:
        """The robust combination of the collected deltas, and which of them it used."""


class Median(_Collecting):
    """Coordinate-wise median; unweighted, since a liar would otherwise just claim a large data size."""

    name = "median"

    def _combine(self, deltas: list[State]) -> tuple[State, list[int]]:
        return aggregate.coordinate_median(deltas), list(range(len(deltas)))


class TrimmedMean(_Collecting):
    """Coordinate-wise mean after dropping the `trim_fraction` largest and smallest values."""

    name = "trimmed_mean"

    def __init__(self, trim_fraction: float = 0.1) -> None:
        if not 0 <= trim_fraction < 0.5:
            raise StrategyError(self.name, f"trim_fraction must be in [0, 0.5), got {trim_fraction}")
        self.trim_fraction = trim_fraction

    def _combine(self, deltas: list[State]) -> tuple[State, list[int]]:
        return aggregate.trimmed_mean(deltas, self.trim_fraction), list(range(len(deltas)))


class MultiKrum(_Collecting):
    """Averages the `selected` updates closest to their n - f - 2 neighbours; tolerates f Byzantine runners
    when n > 2f + 2."""

    name = "multi_krum"

    def __init__(self, byzantine: int = 1, selected: int | None = None) -> None:
        if byzantine < 0:
            raise StrategyError(self.name, f"byzantine count must be >= 0, got {byzantine}")
        if selected is not None and selected < 1:
            raise StrategyError(self.name, f"selected must be >= 1, got {selected}")
        self.byzantine = byzantine
        self.selected = selected

    def _combine(self, deltas: list[State]) -> tuple[State, list[int]]:
        # Default m = n - f: keep everything except as many updates as may be Byzantine.
        selected = self.selected if self.selected is not None else max(1, len(deltas) - self.byzantine)
        return aggregate.multi_krum(deltas, self.byzantine, min(selected, len(deltas)))


class Krum(MultiKrum):
    """Picks the single update with the lowest Krum score."""

    name = "krum"

    def __init__(self, byzantine: int = 1) -> None:
        super().__init__(byzantine=byzantine, selected=1)
