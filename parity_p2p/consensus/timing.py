"""Round timing: when the leader stops waiting for updates, adapted to observed training times.

The chain fixes the outer bound: the step-0 leader must post within `round_timeout` of the round's start or the
next leader takes over. Inside that window the leader must leave room to aggregate, gather attestations and get
a transaction mined, so collection ends at

    collect_at = start + clamp(slack x p90(recent training seconds) + margin, floor, max_fraction x timeout)

A straggler past `collect_at` is left out of the round, not waited for, as long as the quorum has arrived. With
fewer updates than the session's minimum, the leader waits until `give_up_at` and then lets the round fail over.
The leader's own update is no straggler's: while its own training runs, it waits up to `own_update_by` (the
whole max_fraction), rather than leave its own work (and reward) out because it trained slower than usual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class TimingPolicy:
    slack: float = 1.5  # multiple of the p90 training time
    margin: float = 2.0  # seconds for the upload and the leader's own bookkeeping
    floor: float = 3.0  # never close collection sooner than this after the start
    max_fraction: float = 0.6  # of round_timeout: the rest is for aggregation, attestations and the transaction
    give_up_fraction: float = 0.85  # of round_timeout: past this a round without quorum is left to failover

    def __post_init__(self) -> None:
        if not 0 < self.max_fraction <= self.give_up_fraction < 1:
            raise ValueError("need 0 < max_fraction <= give_up_fraction < 1")
        if self.slack < 1 or self.margin < 0 or self.floor < 0:
            raise ValueError("slack must be >= 1, margin and floor >= 0")


def p90(values: Sequence[float]) -> float:
    """The 90th percentile by nearest rank (no interpolation: a straggler sets it, as it should)."""
    if not values:
        raise ValueError("p90 of no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


@dataclass(frozen=True)
class RoundWindow:
    started_at: float
    collect_at: float
    own_update_by: float
    """While the leader's own training runs, collection waits for it up to here (never past max_fraction)."""
    give_up_at: float
    failover_at: float


def round_window(
    started_at: float, round_timeout: float, recent_train_seconds: Sequence[float], policy: TimingPolicy
) -> RoundWindow:
    """Deadlines of one leader step. Without history, collection may use the whole `max_fraction`."""
    cap = policy.max_fraction * round_timeout
    if recent_train_seconds:
        wanted = policy.slack * p90(recent_train_seconds) + policy.margin
        collect = min(max(wanted, policy.floor), cap)
    else:
        collect = cap
    return RoundWindow(
        started_at=started_at,
        collect_at=started_at + collect,
        own_update_by=started_at + cap,
        give_up_at=started_at + policy.give_up_fraction * round_timeout,
        failover_at=started_at + round_timeout,
    )


class Collect(Enum):
    WAIT = "wait"
    AGGREGATE = "aggregate"
    GIVE_UP = "give_up"


def collect_decision(
    now: float, window: RoundWindow, received: int, expected: int, min_participants: int, *, own_pending: bool = False
) -> Collect:
    """What a leader does with `received` of `expected` updates at time `now`; `own_pending`: its own training
    is still running (its update is not among the received)."""
    if received >= expected:
        return Collect.AGGREGATE
    if received >= min_participants and now >= (window.own_update_by if own_pending else window.collect_at):
        return Collect.AGGREGATE
    if now >= window.give_up_at:
        return Collect.GIVE_UP
    return Collect.WAIT


@dataclass(frozen=True)
class PollBackoff:
    """How often to ask the chain whether a round closed. Without news, every `ceiling` seconds. Once a hint says
    it closed (the leader's receipt) but the chain does not show it yet, every `floor` seconds at first, each
    further poll waiting `factor` times longer, up to `ceiling`."""

    floor: float = 0.05
    ceiling: float = 0.5
    factor: float = 1.5

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.ceiling:
            raise ValueError(f"need 0 < floor <= ceiling, got floor={self.floor}, ceiling={self.ceiling}")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")

    def after(self, interval: float) -> float:
        """The wait after a quiet poll that waited `interval`."""
        return min(self.ceiling, max(self.floor, interval * self.factor))
