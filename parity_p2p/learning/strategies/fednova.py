"""FedNova (Wang et al. 2020): normalised averaging that removes the bias of unequal local step counts."""

from __future__ import annotations

from collections.abc import Iterable

from parity_p2p.learning.strategies.aggregate import State, fednova
from parity_p2p.learning.strategies.base import AggregateResult, ClientUpdate, Counted, Strategy, add_global_into


class FedNova(Strategy):
    """Eq. 6 of the paper, streaming: each delta is divided by its ||a_i||_1 (local steps for plain SGD), the
    mean of those is weighted by data size and scaled by tau_eff = sum_i p_i ||a_i||_1."""

    name = "fednova"

    def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
        counted = Counted(updates)
        try:
            delta, tau_eff, count = fednova((u.delta, float(u.num_examples), float(u.norm_factor)) for u in counted)
        except ValueError as error:
            raise self._fail(error) from None
        return AggregateResult(
            state=add_global_into(delta, global_state),
            num_updates=count,
            total_examples=counted.total_examples,
            included=tuple(range(count)),
            metrics={"tau_eff": tau_eff},
        )
