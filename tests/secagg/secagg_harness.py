"""A whole secure round in one process: real keys, real shares, real masks; no network, messages passed by hand."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from parity_p2p.secagg import (
    KeyAdvert,
    MaskedInput,
    Reveal,
    RoundContext,
    RunnerRound,
    SecAggParams,
    SharePacket,
    SurvivorSet,
    UnmaskedSum,
    choose_survivors,
    unmask,
)


def runner_ids(n: int) -> list[str]:
    return [f"r{i:02d}" for i in range(n)]


@dataclass
class Round:
    ctx: RoundContext
    runners: dict[str, RunnerRound]
    adverts: dict[str, KeyAdvert]
    packets: dict[str, SharePacket]
    inputs: dict[str, MaskedInput]


def run_until_masked(
    ctx: RoundContext,
    vectors: Mapping[str, np.ndarray],
    weights: Mapping[str, int],
    *,
    gone_before_masking: Collection[str] = (),
    seed: int = 0,
) -> Round:
    """Steps 1-3 for every runner; `gone_before_masking` runners share their keys, then vanish."""
    runners = {r: RunnerRound(ctx, r, rng=np.random.default_rng([seed, i])) for i, r in enumerate(ctx.participants)}
    adverts = {r: runner.advertise() for r, runner in runners.items()}
    packets = {r: runner.share(adverts) for r, runner in runners.items()}
    for r, runner in runners.items():
        for sender, packet in packets.items():
            if sender != r and sender in ctx.graph.neighbours[r]:
                runner.receive_shares(sender, packet)
    inputs = {r: runner.mask(vectors[r], weights[r]) for r, runner in runners.items() if r not in gone_before_masking}
    return Round(ctx, runners, adverts, packets, inputs)


def finish(
    rnd: Round, *, gone_after_masking: Collection[str] = (), gone_before_masking: Collection[str] = ()
) -> UnmaskedSum:
    """Steps 4-5: the leader picks the survivors among inputs it holds, live runners reveal, the leader unmasks.
    Runners gone after masking sent their input but reveal nothing."""
    survivor_set = choose_survivors(rnd.ctx, rnd.inputs)
    gone = set(gone_after_masking) | set(gone_before_masking)
    reveals = {r: runner.reveal(survivor_set) for r, runner in rnd.runners.items() if r not in gone}
    return unmask(rnd.ctx, rnd.adverts, rnd.inputs, survivor_set, reveals)


def reveals_for(rnd: Round, survivor_set: SurvivorSet, who: Collection[str]) -> dict[str, Reveal]:
    return {r: rnd.runners[r].reveal(survivor_set) for r in who}


def plain_weighted_mean(
    vectors: Mapping[str, np.ndarray], weights: Mapping[str, int], who: Collection[str]
) -> np.ndarray:
    total = sum(weights[r] for r in who)
    return sum(np.asarray(vectors[r], dtype=np.float64) * weights[r] for r in who) / total


def context(
    n: int, *, params: SecAggParams | None = None, round_seed: bytes = b"seed", session: int = 7
) -> RoundContext:
    return RoundContext.create(session, 3, runner_ids(n), round_seed, params or SecAggParams())
