"""A norm screen in front of any strategy: updates whose delta is far longer than the round's typical one are set
aside before aggregation.

Rule: with at least MIN_UPDATES updates, an update whose delta L2 norm exceeds `factor` x the median delta norm of
the round is screened out (it earns no contribution points: it is not "used by the strategy"). The median, not the
mean, is the reference, so one huge update cannot raise its own bar; with fewer than MIN_UPDATES updates there is no
majority to compare against and nothing is screened. The rule is a pure function of the round's update set, so a
leader and every follower that recomputes the aggregate drop the same updates.

Why a screen and not only clipping: FedAvg with clipping still lets a scaled update pull the average by the clip
bound in its chosen direction, and a clip bound must be set per model; a ratio to the round's median needs no
model-specific setting. A screen cannot catch a same-norm attack (a sign-flipped update): that is what median,
trimmed mean and Krum are for (docs/reliability.md has the measured effect of both).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import torch

from parity_p2p.learning.strategies.aggregate import State
from parity_p2p.learning.strategies.base import (
    AggregateResult,
    ClientUpdate,
    ScreenedOut,
    Strategy,
    StrategyError,
    Wrapping,
)
from parity_p2p.learning.strategies.robust import MultiKrum

DEFAULT_NORM_FACTOR = 5.0
"""Honest deltas of one round were measured within 2.4x of their median (bench/robustness.py, IID and non-IID):
5x leaves room and still refuses a 10x-scaled update."""
MIN_UPDATES = 3


def delta_norm(delta: State) -> float:
    """The L2 norm over every floating tensor of a delta, summed in float64 in name order (same on every node)."""
    total = 0.0
    for name in sorted(delta):
        tensor = delta[name]
        if tensor.is_floating_point():
            total += float(torch.linalg.vector_norm(tensor, dtype=torch.float64)) ** 2
    return math.sqrt(total)


@dataclass(frozen=True)
class NormVerdict:
    """The screen's decision for one round: every update's norm, the median and the positions set aside."""

    norms: tuple[float, ...]
    median: float
    factor: float
    outliers: tuple[int, ...]

    def reason(self, index: int) -> str:
        return (
            f"delta L2 norm {self.norms[index]:.6g} exceeds {self.factor:g} x the round's median "
            f"{self.median:.6g}"
        )


def screen_norms(deltas: Sequence[State], factor: float = DEFAULT_NORM_FACTOR) -> NormVerdict:
    """Which deltas exceed `factor` x the median norm (see the module docstring for the rule)."""
    if not (math.isfinite(factor) and factor >= 1.0):
        raise StrategyError("norm_screen", f"factor must be a finite number >= 1, got {factor}")
    norms = tuple(delta_norm(d) for d in deltas)
    if len(norms) < MIN_UPDATES:
        return NormVerdict(norms, math.nan, factor, ())
    ordered = sorted(norms)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    if median <= 0.0:  # a round of all-zero deltas has no scale to compare against
        return NormVerdict(norms, median, factor, ())
    outliers = tuple(i for i, n in enumerate(norms) if not n <= factor * median)
    return NormVerdict(norms, median, factor, outliers)


class NormScreen(Wrapping):
    """Screens out norm outliers, then lets `inner` aggregate the rest; `included` and `screened_out` index the
    updates as given (not as the inner strategy saw them)."""

    def __init__(self, inner: Strategy, factor: float = DEFAULT_NORM_FACTOR) -> None:
        screen_norms([], factor)  # validates the factor now rather than at the first round
        super().__init__(inner)
        self.factor = factor

    name = "norm_screen"

    def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
        held = list(updates)  # the median needs every norm before any update can be kept
        verdict = screen_norms([u.delta for u in held], self.factor)
        dropped = set(verdict.outliers)
        kept = [i for i in range(len(held)) if i not in dropped]
        inner = _tolerating(self.inner, len(dropped))
        result = inner.aggregate(round_number, global_state, [held[i] for i in kept])
        screened = tuple(ScreenedOut(i, held[i].runner, verdict.reason(i)) for i in verdict.outliers)
        metrics = {**result.metrics, "norm_median": verdict.median, "norm_screened": float(len(screened))}
        return replace(
            result,
            num_updates=len(held),
            included=tuple(kept[j] for j in result.included),
            metrics=metrics,
            screened_out=(*result.screened_out, *screened),
        )


def _tolerating(inner: Strategy, screened: int) -> Strategy:
    """Krum budgets for f Byzantine updates and needs n > 2f + 2: each screened update is one of those f, so the
    budget shrinks with it (else screening one of 5 updates would leave Krum(f=1) unable to run on 4)."""
    if screened and isinstance(inner, MultiKrum) and inner.byzantine:
        fewer = copy.copy(inner)
        fewer.byzantine = max(0, inner.byzantine - screened)
        return fewer
    return inner
