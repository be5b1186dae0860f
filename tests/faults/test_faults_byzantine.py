"""Byzantine robustness at small scale: one of five runners lies, on real training (the nodes' learning code).

bench/robustness.py measures the full grid; these tests hold the bounds that would catch a broken median, Krum or
norm screen: seeded and deterministic, a few seconds in all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris

from parity_p2p.consensus.contribution import IncludedUpdate
from parity_p2p.consensus.proposal import usage_problems
from parity_p2p.learning.byzantine import Attack, Attacked, AttackError, attacked_delta
from parity_p2p.learning.datasets import TabularDataset
from parity_p2p.learning.federation import run_federation, standardized
from parity_p2p.learning.model_config import ModelConfig, parse_model_config
from parity_p2p.learning.partition import SplitSpec
from parity_p2p.learning.strategies import ClientUpdate, NormScreen, State, Strategy, StrategyError, build_strategy
from parity_p2p.learning.strategies.base import AggregateResult
from parity_p2p.learning.strategies.norm_screen import DEFAULT_NORM_FACTOR, screen_norms
from parity_p2p.learning.trainer import TrainConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RUNNERS = 5
ATTACKER = "runner-004"
ROUNDS = 8
SEED = 11
TRAIN = TrainConfig(lr=0.1, batch_size=16, local_epochs=2)
IID = SplitSpec("stratified")


@cache
def iris() -> TabularDataset:
    features, labels = load_iris(return_X_y=True)
    return standardized(
        TabularDataset(features.astype(np.float32), labels.astype(np.int64), ("0", "1", "2"), ("a", "b", "c", "d"))
    )


@cache
def iris_model() -> ModelConfig:
    return parse_model_config(json.loads((EXAMPLES / "iris_model.json").read_text()))


def final_accuracy(strategy: Strategy) -> float:
    history = run_federation(iris(), iris_model(), RUNNERS, IID, strategy, ROUNDS, TRAIN, SEED)
    accuracy = history.final.eval.accuracy
    assert accuracy is not None
    return accuracy


def krum() -> Strategy:
    return build_strategy("krum", byzantine=1)


@cache
def honest_accuracy() -> float:
    return final_accuracy(build_strategy("fedavg"))


def test_under_a_sign_flipping_runner_median_and_krum_stay_near_honest_while_fedavg_falls() -> None:
    honest = honest_accuracy()
    assert honest >= 0.7, "the honest run must learn, or the comparison below means nothing"
    fedavg = final_accuracy(Attacked(build_strategy("fedavg"), ATTACKER, Attack.SIGN_FLIP_X4))
    median = final_accuracy(Attacked(build_strategy("median"), ATTACKER, Attack.SIGN_FLIP_X4))
    krummed = final_accuracy(Attacked(krum(), ATTACKER, Attack.SIGN_FLIP_X4))
    # -4 d from one of five cancels the four honest deltas under plain averaging: FedAvg stays near chance.
    assert fedavg <= honest - 0.3, (fedavg, honest)
    assert median >= honest - 0.1, (median, honest)
    assert krummed >= honest - 0.1, (krummed, honest)


def test_the_norm_screen_sets_aside_a_10x_runner_every_round_and_keeps_fedavg_near_honest() -> None:
    screened: list[str] = []

    class Recorder(Strategy):
        name = "recorder"

        def __init__(self, inner: Strategy) -> None:
            self.inner = inner

        def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
            result = self.inner.aggregate(round_number, global_state, updates)
            screened.extend(s.runner for s in result.screened_out)
            return result

    accuracy = final_accuracy(Attacked(Recorder(NormScreen(build_strategy("fedavg"))), ATTACKER, Attack.SCALED))
    assert screened == [ATTACKER] * ROUNDS
    assert accuracy >= honest_accuracy() - 0.1


def test_the_norm_screen_does_not_catch_a_same_norm_sign_flip() -> None:
    # Documented limit: a sign flip keeps the norm, so only a robust strategy helps against it.
    deltas = [{"w": torch.full((4,), 1.0 + i / 10)} for i in range(4)]
    flipped = [*deltas, attacked_delta(deltas[0], Attack.SIGN_FLIP)]
    assert screen_norms(flipped).outliers == ()


def update(runner: str, value: float) -> ClientUpdate:
    return ClientUpdate(delta={"w": torch.full((3,), value)}, num_examples=10, local_steps=1, norm_factor=1.0,
                        runner=runner)  # fmt: skip


@pytest.mark.parametrize(
    ("norms", "outliers"),
    [
        ([1.0, 1.1, 0.9, 10.0], (3,)),  # 10x the median
        ([1.0, 1.1, 0.9, 4.0], ()),  # within the factor
        ([10.0, 1.0, 1.0, 1.0, 10.0], (0, 4)),  # two liars of five
        ([1.0, 10.0], ()),  # two updates: no majority to compare against
        ([0.0, 0.0, 0.0, 1.0], ()),  # all-zero round: no scale
        ([1.0, 1.0, float("nan")], (2,)),  # a NaN norm is never "within" the bound
    ],
)
def test_screen_norms_drops_what_exceeds_the_factor_times_the_median(
    norms: list[float], outliers: tuple[int, ...]
) -> None:
    deltas = [{"w": torch.tensor([n, 0.0, 0.0])} for n in norms]
    assert screen_norms(deltas, DEFAULT_NORM_FACTOR).outliers == outliers


@pytest.mark.parametrize("factor", [0.5, float("inf"), float("nan")])
def test_a_bad_screen_factor_is_a_typed_error(factor: float) -> None:
    with pytest.raises(StrategyError, match="factor must be"):
        NormScreen(build_strategy("fedavg"), factor)


def test_norm_screen_reports_positions_as_given_and_krum_still_runs_on_what_is_left() -> None:
    updates = [update("a", 1.0), update("b", 1.1), update("c", 30.0), update("d", 0.9), update("e", 1.05)]
    result = NormScreen(krum()).aggregate(1, {"w": torch.zeros(3)}, updates)
    assert [(s.index, s.runner) for s in result.screened_out] == [(2, "c")]
    assert "exceeds 5 x the round's median" in result.screened_out[0].reason
    assert 2 not in result.included and len(result.included) == 1  # Krum picks one of the four honest ones
    assert result.num_updates == 5
    assert float(result.state["w"][0]) < 2.0


def test_an_attacker_that_sends_nothing_is_a_typed_error() -> None:
    with pytest.raises(AttackError, match="nobody"):
        Attacked(build_strategy("fedavg"), "nobody", Attack.SCALED).aggregate(1, {"w": torch.zeros(3)},
                                                                              [update("a", 1.0)])  # fmt: skip


def test_a_follower_sees_points_flags_that_differ_from_its_own_aggregation() -> None:
    # A leader proposing the right model can still lie in the used-by-strategy flags that decide points.
    honest = IncludedUpdate("0xAa", "cid-a", 10, True)
    screened = IncludedUpdate("0xBb", "cid-b", 10, False)
    assert usage_problems([honest, screened], {"0xaa"}) == []
    zeroed = IncludedUpdate("0xAa", "cid-a", 10, False)
    paid = IncludedUpdate("0xBb", "cid-b", 10, True)
    problems = usage_problems([zeroed, paid], {"0xaa"})
    assert problems == [
        "0xAa is marked unused by the strategy, the recomputation used it",
        "0xBb is marked used by the strategy, the recomputation left it out",
    ]
