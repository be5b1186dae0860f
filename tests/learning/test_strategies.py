"""Strategies against NumPy references (Prepare / Execute / Assert)."""

from __future__ import annotations

import textwrap
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from parity_p2p.learning.codec import DecodeLimits, ModelMeta, decode_model, encode_model
from parity_p2p.learning.server_state import PREFIX, model_file_specs, pack, unpack
from parity_p2p.learning.strategies import (
    ENTRY_POINT_GROUP,
    ClientUpdate,
    DpFedAvg,
    FedAdam,
    FedAvg,
    FedNova,
    FedProx,
    FedYogi,
    Krum,
    Median,
    MultiKrum,
    State,
    Strategy,
    StrategyError,
    TrimmedMean,
    available_strategies,
    build_strategy,
)
from parity_p2p.learning.trainer import TrainConfig

SHAPES = {"layer.weight": (3, 4), "layer.bias": (3,)}


def random_state(rng: np.random.Generator, scale: float = 1.0) -> dict[str, np.ndarray]:
    return {name: (rng.standard_normal(shape) * scale).astype(np.float32) for name, shape in SHAPES.items()}


def to_torch(state: dict[str, np.ndarray]) -> State:
    return {name: torch.from_numpy(array.copy()) for name, array in state.items()}


def update(delta: dict[str, np.ndarray], examples: int = 10, steps: int = 5) -> ClientUpdate:
    return ClientUpdate(delta=to_torch(delta), num_examples=examples, local_steps=steps, norm_factor=float(steps))


def assert_state_close(actual: State, expected: dict[str, np.ndarray], atol: float = 1e-5) -> None:
    assert actual.keys() == expected.keys()
    for name, array in expected.items():
        np.testing.assert_allclose(actual[name].numpy(), array, atol=atol, rtol=1e-5)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_fedavg_is_the_data_size_weighted_mean(rng: np.random.Generator) -> None:
    # Prepare
    global_state = random_state(rng)
    deltas = [random_state(rng) for _ in range(5)]
    sizes = [3, 10, 1, 40, 7]
    expected = {
        name: global_state[name] + sum(s * d[name] for s, d in zip(sizes, deltas, strict=True)) / sum(sizes)
        for name in SHAPES
    }
    # Execute
    result = FedAvg().aggregate(1, to_torch(global_state), [update(d, s) for d, s in zip(deltas, sizes, strict=True)])
    # Assert
    assert_state_close(result.state, expected)
    assert result.num_updates == 5
    assert result.total_examples == sum(sizes)


@pytest.mark.parametrize(
    "strategy",
    [FedAvg(), FedProx(mu=0.1), FedNova(), FedAdam(), DpFedAvg(noise_multiplier=1e-9, l2_norm_clip=100.0)],
    ids=lambda s: s.name,
)
def test_streaming_strategies_hold_few_updates_at_once(rng: np.random.Generator, strategy: Strategy) -> None:
    # Prepare: a one-shot generator that creates updates lazily and tracks how many are alive at once.
    global_state = random_state(rng)
    deltas = [random_state(rng) for _ in range(64)]
    alive = 0
    peak_alive = 0

    def released() -> None:
        nonlocal alive
        alive -= 1

    def lazy_updates() -> Iterator[ClientUpdate]:
        nonlocal alive, peak_alive
        for delta in deltas:
            made = update(delta, examples=2)
            alive += 1
            peak_alive = max(peak_alive, alive)
            weakref.finalize(made, released)
            yield made
            # No gc.collect(): updates hold no reference cycles, so refcounting frees them at once.
            del made

    # Equal sizes and steps: every streaming rule reduces to the plain mean (FedAdam: a step along it).
    mean = {name: np.mean([d[name] for d in deltas], axis=0) for name in SHAPES}
    # Execute
    result = strategy.aggregate(1, to_torch(global_state), lazy_updates())
    # Assert: never more than the current update (plus the one being built) alive, and the right result.
    assert peak_alive <= 2
    assert result.num_updates == 64
    if not isinstance(strategy, FedAdam):
        assert_state_close(result.state, {name: global_state[name] + mean[name] for name in SHAPES})


def test_fednova_matches_a_hand_computed_case() -> None:
    # Prepare: x = 1. Runner A: n=1, tau=1, Delta=-1. Runner B: n=3, tau=4, Delta=-2.
    # p = (1/4, 3/4); tau_eff = 1/4*1 + 3/4*4 = 3.25; sum p Delta/tau = 1/4*(-1) + 3/4*(-0.5) = -0.625;
    # x_next = 1 + 3.25 * (-0.625) = -1.03125   (FedAvg would give 1 - 1.75 = -0.75).
    global_state = {"w": torch.tensor([1.0])}
    updates = [
        ClientUpdate(delta={"w": torch.tensor([-1.0])}, num_examples=1, local_steps=1, norm_factor=1.0),
        ClientUpdate(delta={"w": torch.tensor([-2.0])}, num_examples=3, local_steps=4, norm_factor=4.0),
    ]
    # Execute
    result = FedNova().aggregate(1, global_state, iter(updates))
    # Assert
    assert float(result.state["w"]) == pytest.approx(-1.03125)
    assert result.metrics["tau_eff"] == pytest.approx(3.25)
    assert float(FedAvg().aggregate(1, global_state, updates).state["w"]) == pytest.approx(-0.75)


def test_fednova_equals_fedavg_when_every_runner_takes_the_same_steps(rng: np.random.Generator) -> None:
    # Prepare
    global_state = to_torch(random_state(rng))
    updates = [update(random_state(rng), examples=e, steps=7) for e in (5, 9, 2)]
    # Execute
    nova = FedNova().aggregate(1, global_state, updates)
    avg = FedAvg().aggregate(1, global_state, updates)
    # Assert
    assert_state_close(nova.state, {k: v.numpy() for k, v in avg.state.items()})


def test_fednova_against_numpy_reference(rng: np.random.Generator) -> None:
    # Prepare
    global_state = random_state(rng)
    deltas = [random_state(rng) for _ in range(4)]
    sizes = np.array([5.0, 20.0, 8.0, 1.0])
    norms = np.array([3.0, 12.0, 4.5, 1.0])
    p = sizes / sizes.sum()
    tau_eff = float(np.sum(p * norms))
    expected = {
        name: global_state[name] + tau_eff * sum(p[i] * deltas[i][name] / norms[i] for i in range(4)) for name in SHAPES
    }
    updates = [
        ClientUpdate(delta=to_torch(d), num_examples=int(n), local_steps=int(a), norm_factor=float(a))
        for d, n, a in zip(deltas, sizes, norms, strict=True)
    ]
    # Execute
    result = FedNova().aggregate(1, to_torch(global_state), updates)
    # Assert
    assert_state_close(result.state, expected)


@pytest.mark.parametrize("count", [4, 5])
def test_median_matches_numpy(rng: np.random.Generator, count: int) -> None:
    global_state = random_state(rng)
    deltas = [random_state(rng) for _ in range(count)]
    expected = {name: global_state[name] + np.median([d[name] for d in deltas], axis=0) for name in SHAPES}
    result = Median().aggregate(1, to_torch(global_state), (update(d) for d in deltas))
    assert_state_close(result.state, expected)


@pytest.mark.parametrize(("count", "fraction"), [(10, 0.1), (10, 0.25), (7, 0.2), (5, 0.0)])
def test_trimmed_mean_matches_scipy(rng: np.random.Generator, count: int, fraction: float) -> None:
    global_state = random_state(rng)
    deltas = [random_state(rng) for _ in range(count)]
    expected = {
        name: global_state[name] + stats.trim_mean(np.stack([d[name] for d in deltas]), fraction, axis=0)
        for name in SHAPES
    }
    result = TrimmedMean(fraction).aggregate(1, to_torch(global_state), [update(d) for d in deltas])
    assert_state_close(result.state, expected)


def numpy_krum_order(flat: np.ndarray, byzantine: int) -> list[int]:
    n = len(flat)
    distances = ((flat[:, None, :] - flat[None, :, :]) ** 2).sum(-1)
    scores = [np.sort(np.delete(distances[i], i))[: n - byzantine - 2].sum() for i in range(n)]
    return list(np.argsort(scores, kind="stable"))


def test_krum_picks_the_numpy_reference_choice_and_drops_outliers(rng: np.random.Generator) -> None:
    # Prepare: 7 honest updates near zero, 2 Byzantine ones far away.
    global_state = random_state(rng)
    deltas = [random_state(rng, 0.1) for _ in range(7)] + [random_state(rng, 50.0) for _ in range(2)]
    flat = np.stack([np.concatenate([d[k].ravel() for k in sorted(d)]) for d in deltas]).astype(np.float64)
    order = numpy_krum_order(flat, byzantine=2)
    # Execute
    krum = Krum(byzantine=2).aggregate(1, to_torch(global_state), [update(d) for d in deltas])
    multi = MultiKrum(byzantine=2, selected=4).aggregate(1, to_torch(global_state), [update(d) for d in deltas])
    # Assert
    assert krum.included == (order[0],)
    assert_state_close(krum.state, {k: global_state[k] + deltas[order[0]][k] for k in SHAPES})
    chosen = sorted(order[:4])
    assert multi.included == tuple(chosen)
    assert_state_close(multi.state, {k: global_state[k] + np.mean([deltas[i][k] for i in chosen], 0) for k in SHAPES})
    assert not {7, 8} & set(multi.included)


def test_median_and_trimmed_mean_resist_one_huge_update(rng: np.random.Generator) -> None:
    global_state = to_torch(random_state(rng))
    honest = [random_state(rng, 0.01) for _ in range(6)]
    attacker = {name: np.full(shape, 1e6, dtype=np.float32) for name, shape in SHAPES.items()}
    updates = [update(d) for d in [*honest, attacker]]
    for strategy in (Median(), TrimmedMean(0.2)):
        moved = strategy.aggregate(1, global_state, updates).state
        assert max(float((moved[k] - global_state[k]).abs().max()) for k in SHAPES) < 0.1
    fedavg_moved = FedAvg().aggregate(1, global_state, updates).state
    assert float((fedavg_moved["layer.bias"] - global_state["layer.bias"]).abs().max()) > 1e4


def numpy_adaptive(global_state, deltas_per_round, yogi, lr=0.03, b1=0.9, b2=0.99, tau=1e-3):  # type: ignore[no-untyped-def]
    x = {k: v.astype(np.float64) for k, v in global_state.items()}
    m = {k: np.zeros_like(v) for k, v in x.items()}
    v = {k: np.full_like(val, tau**2) for k, val in x.items()}
    for deltas in deltas_per_round:
        for k in x:
            d = np.mean([delta[k] for delta in deltas], axis=0)
            m[k] = b1 * m[k] + (1 - b1) * d
            if yogi:
                v[k] = v[k] - (1 - b2) * d * d * np.sign(v[k] - d * d)
            else:
                v[k] = b2 * v[k] + (1 - b2) * d * d
            x[k] = x[k] + lr * m[k] / (np.sqrt(v[k]) + tau)
    return x


@pytest.mark.parametrize("yogi", [False, True])
def test_fedadam_and_fedyogi_follow_reddi_et_al_over_three_rounds(rng: np.random.Generator, yogi: bool) -> None:
    # Prepare
    global_state = random_state(rng)
    rounds = [[random_state(rng, 0.1) for _ in range(3)] for _ in range(3)]
    expected = numpy_adaptive(global_state, rounds, yogi)
    strategy: Strategy = FedYogi() if yogi else FedAdam()
    # Execute
    state = to_torch(global_state)
    for number, deltas in enumerate(rounds, start=1):
        state = strategy.aggregate(number, state, [update(d) for d in deltas]).state
    # Assert
    assert_state_close(state, expected, atol=1e-4)


@pytest.mark.parametrize("yogi", [False, True])
def test_adaptive_servers_continue_in_a_fresh_instance_from_the_state_kept_in_the_model_file(
    rng: np.random.Generator, yogi: bool
) -> None:
    """What nodes do: every round another runner aggregates with a fresh strategy, continuing from the server state
    the previous round's model file carried. The moments must survive the hand-over (Reddi et al. as above)."""
    global_state = random_state(rng)
    rounds = [[random_state(rng, 0.1) for _ in range(3)] for _ in range(3)]
    expected = numpy_adaptive(global_state, rounds, yogi)
    state, kept = to_torch(global_state), State()
    for number, deltas in enumerate(rounds, start=1):
        strategy: Strategy = FedYogi() if yogi else FedAdam()
        if kept:
            strategy.restore(kept)
        result = strategy.aggregate(number, state, [update(d) for d in deltas])
        file = encode_model(pack(result.state, strategy.server_state(result.state)), ModelMeta(1, number))
        specs = model_file_specs(state, FedYogi() if yogi else FedAdam())
        state, kept = unpack(decode_model(file, expected=specs, limits=DecodeLimits())[0])
        assert sorted(kept) == sorted(f"{m}/{name}" for m in "mv" for name in SHAPES)
    assert_state_close(state, expected, atol=1e-4)


def test_a_server_state_that_cannot_be_continued_is_a_typed_error() -> None:
    shapes = {name: torch.zeros(shape) for name, shape in SHAPES.items()}
    good = FedAdam().server_state(shapes)
    assert all(t.dtype == torch.float32 for t in good.values())
    with pytest.raises(StrategyError, match="keeps no state"):
        FedAvg().restore(good)
    FedAvg().restore({})  # nothing to continue from: fine
    broken = [
        {k: t for k, t in good.items() if not k.startswith("v/")},
        {**good, "v/layer.bias": torch.full((3,), -1.0)},
        {**good, "m/layer.bias": torch.full((3,), float("nan"))},
    ]
    for state in broken:
        with pytest.raises(StrategyError, match="server state"):
            FedAdam().restore(state)
    wrong_shape = FedAdam()
    wrong_shape.restore({**good, "m/layer.bias": torch.zeros(4), "v/layer.bias": torch.ones(4)})
    with pytest.raises(StrategyError, match="shaped"):
        wrong_shape.aggregate(1, shapes, [update({n: np.zeros(s, np.float32) for n, s in SHAPES.items()})])
    with pytest.raises(StrategyError, match="may not start with"):
        pack({PREFIX + "x": torch.zeros(1)}, {})


def test_fedprox_only_adds_mu_to_the_training_config() -> None:
    config = FedProx(mu=0.3).configure_train(2, TrainConfig(lr=0.1))
    assert config.prox_mu == 0.3
    assert config.lr == 0.1
    assert FedAvg().configure_train(2, TrainConfig()).prox_mu == 0.0


@pytest.mark.parametrize("strategy", [FedAvg(), FedNova(), Median(), Krum(byzantine=0), FedAdam()])
def test_no_updates_is_a_typed_error(strategy: Strategy) -> None:
    with pytest.raises(StrategyError, match="no updates"):
        strategy.aggregate(1, {"w": torch.zeros(2)}, iter([]))


def test_mismatched_update_is_a_typed_error() -> None:
    good = ClientUpdate(delta={"w": torch.zeros(2)}, num_examples=1, local_steps=1, norm_factor=1.0)
    bad = ClientUpdate(delta={"w": torch.zeros(3)}, num_examples=1, local_steps=1, norm_factor=1.0)
    with pytest.raises(StrategyError, match="shape"):
        FedAvg().aggregate(1, {"w": torch.zeros(2)}, [good, bad])


def test_krum_with_too_few_updates_for_f_is_a_typed_error(rng: np.random.Generator) -> None:
    with pytest.raises(StrategyError, match=r"n > 2f \+ 2"):
        Krum(byzantine=2).aggregate(1, to_torch(random_state(rng)), [update(random_state(rng)) for _ in range(5)])


def test_registry_builds_builtins_with_parameters_and_rejects_unknown_names() -> None:
    strategy = build_strategy("fedprox", mu=0.2)
    assert isinstance(strategy, FedProx)
    assert strategy.mu == 0.2
    with pytest.raises(StrategyError, match="unknown strategy"):
        build_strategy("fedmagic")
    with pytest.raises(StrategyError, match="bad parameters"):
        build_strategy("fedavg", mu=1)
    with pytest.raises(StrategyError, match="trim_fraction"):
        build_strategy("trimmed_mean", trim_fraction=0.6)


def test_custom_strategy_plugs_in_by_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: an installed distribution (a dist-info on sys.path) declaring a strategy in our group.
    (tmp_path / "my_strategies.py").write_text(
        textwrap.dedent(
            """
            from parity_p2p.learning.strategies import AggregateResult, Strategy

            class KeepGlobal(Strategy):
                name = "keep_global"

                def aggregate(self, round_number, global_state, updates):
                    count = sum(1 for _ in updates)
                    return AggregateResult(global_state, count, 0, ())
            """
        )
    )
    dist_info = tmp_path / "my_strategies-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-strategies\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nkeep_global = my_strategies:KeepGlobal\nbroken = my_strategies:Missing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # Execute
    strategy = build_strategy("keep_global")
    result = strategy.aggregate(1, {"w": torch.ones(2)}, [update({"w": np.zeros(2, np.float32)})])
    # Assert
    assert "keep_global" in available_strategies()
    assert torch.equal(result.state["w"], torch.ones(2))
    with pytest.raises(StrategyError, match="does not load"):
        build_strategy("broken")
