"""A follower attests only a proposal it can verify: leader, order, membership, inclusion, sizes, model."""

from __future__ import annotations

import numpy as np
import pytest

from parity_p2p.consensus.contribution import IncludedUpdate, contribution_points, data_size_problems
from parity_p2p.consensus.proposal import RoundProposal, decide_attestation, light_model_problems, models_match

A = "0x" + "1" * 40
B = "0x" + "2" * 40
C = "0x" + "a" * 40
OUTSIDER = "0x" + "f" * 40
SIZES = {A: 30, B: 40, C: 50}


def _proposal(included: tuple[IncludedUpdate, ...], leader: str = A) -> RoundProposal:
    return RoundProposal(session_id=1, round=2, leader=leader, model_cid="bafk-model", included=included)


def _decide(proposal: RoundProposal, **overrides: object) -> tuple[bool, tuple[str, ...]]:
    kwargs: dict[str, object] = {
        "eligible_leaders": [A],
        "participants": [C, A, B],
        "min_participants": 2,
        "my_address": B,
        "my_update_cid": "cid-b",
        "expected_sizes": SIZES,
        "model_problems": [],
    }
    kwargs.update(overrides)
    decision = decide_attestation(proposal, **kwargs)  # type: ignore[arg-type]
    return decision.attest, decision.reasons


HONEST = (IncludedUpdate(A, "cid-a", 30), IncludedUpdate(B, "cid-b", 40), IncludedUpdate(C, "cid-c", 50))


def test_honest_proposal_is_attested() -> None:
    assert _decide(_proposal(HONEST)) == (True, ())


@pytest.mark.parametrize(
    ("proposal", "overrides", "expected"),
    [
        (_proposal(HONEST, leader=C), {}, "not an eligible leader"),
        (_proposal((HONEST[1], HONEST[0], HONEST[2])), {}, "ascending runner order"),
        (_proposal((HONEST[0], HONEST[0])), {}, "ascending runner order"),
        (_proposal((HONEST[0], IncludedUpdate(OUTSIDER, "x", 9))), {}, "non-participants"),
        (_proposal((HONEST[0], HONEST[2])), {}, "my on-time update is not included"),
        (_proposal((HONEST[0], IncludedUpdate(B, "cid-other", 40))), {}, "my on-time update is not included"),
        (_proposal((HONEST[0], IncludedUpdate(B, "cid-b", 400))), {}, "claims 400 samples, its shard has 40"),
        (_proposal((HONEST[1],)), {}, "1 updates included, the session needs 2"),
        (_proposal(HONEST), {"model_problems": ["w: differs by up to 0.1"]}, "model: w"),
    ],
)
def test_each_defect_refuses_with_its_reason(
    proposal: RoundProposal, overrides: dict[str, object], expected: str
) -> None:
    attest, reasons = _decide(proposal, **overrides)
    assert not attest
    assert any(expected in r for r in reasons), reasons


def test_runner_that_sent_nothing_does_not_require_inclusion() -> None:
    assert _decide(_proposal((HONEST[0], HONEST[2])), my_update_cid=None) == (True, ())


def test_private_data_sizes_are_capped_not_matched() -> None:
    big = _proposal((HONEST[0], IncludedUpdate(B, "cid-b", 10_000)))
    assert _decide(big, expected_sizes=None, max_private_size=20_000)[0]
    attest, reasons = _decide(big, expected_sizes=None, max_private_size=1_000)
    assert not attest and "above the cap 1000" in reasons[0]


def test_points_follow_data_size_quality_and_time() -> None:
    assert contribution_points(40, used_by_strategy=True) == 40
    assert contribution_points(40, used_by_strategy=False) == 0
    assert contribution_points(40, used_by_strategy=True, on_time=False) == 0
    assert IncludedUpdate(A, "c", 7, used_by_strategy=False).points == 0
    with pytest.raises(ValueError):
        contribution_points(-1, used_by_strategy=True)
    assert data_size_problems([IncludedUpdate(A, "c", 0)], None) == [f"{A} claims 0 samples"]


def test_models_match_within_tolerance_only() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    assert models_match({"w": w}, {"w": w + np.float32(1e-7)}) == []
    assert models_match({"w": w}, {"w": w + np.float32(1e-3)})[0].startswith("w: differs by up to")
    assert "shape" in models_match({"w": w}, {"w": w.T})[0]
    assert "names differ" in models_match({"w": w}, {"v": w})[0]
    nan = w.copy()
    nan[0, 0] = np.nan
    assert models_match({"w": nan}, {"w": nan}) != []


def test_light_check_refuses_only_a_wrecked_model() -> None:
    assert light_model_problems(0.5, 0.4) == []
    assert light_model_problems(0.5, 1.4) == []  # within base + 1 (non-IID rounds may raise a runner's own loss)
    assert light_model_problems(3.0, 5.9) == []  # within 2 x base
    assert "exceeds" in light_model_problems(0.5, 1.6)[0]
    assert "not finite" in light_model_problems(0.5, float("nan"))[0]
