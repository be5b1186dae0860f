"""A follower's decision to attest a leader's round proposal.

The leader proposes (model CID, included updates with data sizes and points); a follower signs an attestation only
when every check below passes, so a leader cannot post a model or contribution points the quorum did not verify.
The recomputed aggregate must equal the proposed model within MODEL_ATOL + MODEL_RTOL x |value| element-wise:
aggregation on another machine may sum in another order, and float32 rounding then differs in the last bits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parity_p2p.consensus.contribution import IncludedUpdate, data_size_problems

MODEL_ATOL = 1e-6
MODEL_RTOL = 1e-5
# The light check, for rounds too large to recompute: the proposed model may not raise this follower's held-out
# loss above max(LIGHT_LOSS_FACTOR x base, base + LIGHT_LOSS_SLACK). Lenient on purpose (non-IID rounds can raise a
# runner's own loss); it catches a corrupted or wrecked model, not a subtly biased average.
LIGHT_LOSS_FACTOR = 2.0
LIGHT_LOSS_SLACK = 1.0


@dataclass(frozen=True)
class RoundProposal:
    """What a leader proposes for one round (the updates root is derived from `included`)."""

    session_id: int
    round: int
    leader: str
    model_cid: str
    included: tuple[IncludedUpdate, ...]


@dataclass(frozen=True)
class AttestDecision:
    attest: bool
    reasons: tuple[str, ...]


def models_match(
    proposed: Mapping[str, npt.NDArray[np.floating]], recomputed: Mapping[str, npt.NDArray[np.floating]]
) -> list[str]:
    """Differences beyond the tolerance between two models' tensors (empty when they match)."""
    problems: list[str] = []
    if set(proposed) != set(recomputed):
        missing = sorted(set(recomputed) - set(proposed))
        extra = sorted(set(proposed) - set(recomputed))
        return [f"tensor names differ: missing {missing}, unexpected {extra}"]
    for name in sorted(proposed):
        a, b = np.asarray(proposed[name]), np.asarray(recomputed[name])
        if a.shape != b.shape:
            problems.append(f"{name}: shape {a.shape} != {b.shape}")
        elif not np.allclose(a, b, rtol=MODEL_RTOL, atol=MODEL_ATOL, equal_nan=False):
            worst = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
            problems.append(f"{name}: differs by up to {worst:.3g}")
    return problems


def usage_problems(included: Sequence[IncludedUpdate], used_by_recomputation: Collection[str]) -> list[str]:
    """Where the proposal's used-by-strategy flags (and so its contribution points) differ from this follower's own
    aggregation of the same updates: `used_by_recomputation` holds the runners its strategy and norm screen used.
    Matching model bytes alone do not prove the flags: a leader could zero an honest runner's points, or pay a
    screened-out one, and still propose the right model."""
    used = {runner.lower() for runner in used_by_recomputation}
    problems = []
    for update in included:
        recomputed = update.runner.lower() in used
        if update.used_by_strategy != recomputed:
            problems.append(
                f"{update.runner} is marked {'used' if update.used_by_strategy else 'unused'} by the strategy, "
                f"the recomputation {'used it' if recomputed else 'left it out'}"
            )
    return problems


def light_model_problems(base_loss: float, proposed_loss: float) -> list[str]:
    """Why a model that was not recomputed cannot be attested (empty when it passes the light check)."""
    if not np.isfinite(proposed_loss):
        return ["the proposed model's held-out loss is not finite"]
    limit = max(base_loss * LIGHT_LOSS_FACTOR, base_loss + LIGHT_LOSS_SLACK)
    if proposed_loss > limit:
        return [f"the proposed model's held-out loss {proposed_loss:.4g} exceeds {limit:.4g} (base {base_loss:.4g})"]
    return []


def decide_attestation(
    proposal: RoundProposal,
    *,
    eligible_leaders: Sequence[str],
    participants: Sequence[str],
    min_participants: int,
    my_address: str,
    my_update_cid: str | None,
    expected_sizes: Mapping[str, int] | None,
    model_problems: Sequence[str],
    max_private_size: int | None = None,
) -> AttestDecision:
    """Whether to sign an attestation for `proposal`, with every reason not to.

    `eligible_leaders`: the leaders whose turn it was while the proposal could be made (failover steps);
    `my_update_cid`: the update this runner pushed in time, or None if it sent none; `model_problems`: the
    output of `models_match` between the proposed model and this runner's recomputation.
    """
    reasons: list[str] = []
    lowered = [p.lower() for p in participants]
    if proposal.leader.lower() not in {a.lower() for a in eligible_leaders}:
        reasons.append(f"{proposal.leader} is not an eligible leader of round {proposal.round}")
    runners = [u.runner.lower() for u in proposal.included]
    if runners != sorted(set(runners), key=lambda a: int(a, 16)):
        reasons.append("included updates are not in strictly ascending runner order")
    outsiders = sorted(set(runners) - set(lowered))
    if outsiders:
        reasons.append(f"updates from non-participants: {outsiders}")
    if len(proposal.included) < min_participants:
        reasons.append(f"{len(proposal.included)} updates included, the session needs {min_participants}")
    if my_update_cid is not None:
        mine = [u for u in proposal.included if u.runner.lower() == my_address.lower()]
        if not mine or mine[0].update_cid != my_update_cid:
            reasons.append("my on-time update is not included")
    reasons.extend(data_size_problems(proposal.included, expected_sizes, max_private_size))
    reasons.extend(f"model: {p}" for p in model_problems)
    return AttestDecision(attest=not reasons, reasons=tuple(reasons))
