"""FedAvg (McMahan et al. 2017): the data-size-weighted mean of the updates, streaming."""

from __future__ import annotations

from collections.abc import Iterable

from parity_p2p.learning.strategies.aggregate import State, weighted_average
from parity_p2p.learning.strategies.base import AggregateResult, ClientUpdate, Counted, Strategy, add_global_into


class FedAvg(Strategy):
    """Weighted by each runner's data size; memory: one model-sized accumulator for any number of updates."""

    name = "fedavg"

    def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
        counted = Counted(updates)
        try:
            mean, _, count = weighted_average((u.delta, float(u.num_examples)) for u in counted)
        except ValueError as error:
            raise self._fail(error) from None
        return AggregateResult(
            state=add_global_into(mean, global_state),
            num_updates=count,
            total_examples=counted.total_examples,
            included=tuple(range(count)),
        )
