"""Local training: real torch training on small synthetic data and a small nn.Sequential."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from parity_p2p.learning.trainer import (
    DpSgdConfig,
    TrainConfig,
    TrainingError,
    evaluate,
    train_local,
    training_threads,
)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    # Tiny models: the intra-op thread pool only adds overhead on a busy two-core machine.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@dataclass(frozen=True)
class Data:
    features: np.ndarray
    labels: np.ndarray


def blobs(rows: int = 96, seed: int = 0) -> Data:
    """Three well separated Gaussian blobs in 4 dimensions: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    centres = np.array([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    features = centres[labels] + rng.normal(0, 0.5, (rows, 4))
    return Data(features.astype(np.float32), labels.astype(np.int64))


def linear_targets(rows: int = 96, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 1, (rows, 4)).astype(np.float32)
    targets = features @ np.array([1.0, -2.0, 0.5, 0.0], dtype=np.float32) + 0.3
    return Data(features, targets.astype(np.float32))


def mlp(outputs: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, outputs))


def state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def test_training_learns_and_reports_its_metrics() -> None:
    # Prepare
    data = blobs()
    model = mlp()
    start = state_of(model)
    before = evaluate(model, data)
    # Execute
    result = train_local(model, start, data, TrainConfig(lr=0.1, batch_size=16, local_epochs=5, seed=1))
    # Assert
    assert result.metrics.accuracy is not None and before.accuracy is not None
    assert result.metrics.accuracy > 0.9 > before.accuracy
    assert result.metrics.loss < before.loss
    assert result.metrics.data_size == 96
    assert result.metrics.local_steps == 5 * math.ceil(96 / 16)
    assert result.norm_factor == result.metrics.local_steps
    assert result.metrics.mse is None
    for name in start:
        torch.testing.assert_close(result.delta[name], result.state[name] - start[name])


def test_same_seed_same_weights_and_the_global_rng_is_left_alone() -> None:
    data = blobs()
    model = mlp()
    start = state_of(model)
    config = TrainConfig(lr=0.1, batch_size=8, local_epochs=2, seed=42)
    rng_before = torch.random.get_rng_state()
    first = train_local(model, start, data, config)
    second = train_local(model, start, data, config)
    other = train_local(model, start, data, TrainConfig(lr=0.1, batch_size=8, local_epochs=2, seed=43))
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert all(torch.equal(first.state[k], second.state[k]) for k in start)
    assert any(not torch.equal(first.state[k], other.state[k]) for k in start)


def test_regression_reports_mse_and_mae() -> None:
    data = linear_targets()
    model = nn.Sequential(nn.Linear(4, 1))
    start = state_of(model)
    before = evaluate(model, data)
    result = train_local(model, start, data, TrainConfig(lr=0.05, batch_size=16, local_epochs=10))
    after = evaluate(model, data)
    assert result.metrics.accuracy is None
    assert after.mse is not None and before.mse is not None and after.mae is not None
    assert after.mse < 0.1 * before.mse
    assert result.metrics.mse == pytest.approx(after.mse)
    assert after.mae <= math.sqrt(after.mse) + 1e-9


def test_adam_trains_too() -> None:
    result = train_local(mlp(), state_of(mlp()), blobs(), TrainConfig(lr=0.01, optimizer="adam", local_epochs=5))
    assert result.metrics.accuracy is not None and result.metrics.accuracy > 0.9


def test_proximal_term_keeps_the_model_near_the_global_one() -> None:
    # Prepare
    data = blobs()
    start = state_of(mlp())
    base = TrainConfig(lr=0.05, batch_size=16, local_epochs=4)

    def distance(mu: float) -> float:
        delta = train_local(mlp(), start, data, TrainConfig(**{**base.__dict__, "prox_mu": mu})).delta
        return math.sqrt(sum(float((t**2).sum()) for t in delta.values()))

    # Execute / Assert: a stronger pull gives a smaller move.
    assert distance(5.0) < distance(0.5) < distance(0.0)


def test_fednova_norm_factor_follows_the_proximal_decay() -> None:
    # Wang et al. 2020: with a proximal term, ||a||_1 = sum_k (1 - lr*mu)^k = (1 - (1 - lr*mu)^tau) / (lr*mu).
    config = TrainConfig(lr=0.1, batch_size=32, local_epochs=3, prox_mu=2.0)
    result = train_local(mlp(), state_of(mlp()), blobs(), config)
    tau = result.metrics.local_steps
    assert tau == 9
    assert result.norm_factor == pytest.approx(sum(0.8**k for k in range(tau)))


def test_dp_sgd_runs_deterministically_and_bounds_each_step() -> None:
    # Prepare: a tiny clip and tiny noise, so the per-sample clipping is what limits the move.
    data = blobs()
    start = state_of(mlp())
    clip, lr = 0.01, 0.5
    config = TrainConfig(lr=lr, batch_size=16, local_epochs=2, seed=5, dp_sgd=DpSgdConfig(1e-3, clip))
    # Execute
    first = train_local(mlp(), start, data, config)
    second = train_local(mlp(), start, data, config)
    plain = train_local(mlp(), start, data, TrainConfig(lr=lr, batch_size=16, local_epochs=2, seed=5))
    # Assert
    assert all(torch.equal(first.state[k], second.state[k]) for k in start)
    assert first.dp_sample_rate == pytest.approx(1 / math.ceil(96 / 16))
    assert first.dp_steps == 2 * math.ceil(96 / 16)

    def norm(delta: dict[str, torch.Tensor]) -> float:
        return math.sqrt(sum(float((t**2).sum()) for t in delta.values()))

    # Each step moves at most lr * clip * (sampled batch / expected batch); Poisson batches stay within 3x.
    assert norm(first.delta) <= first.dp_steps * lr * clip * 3
    assert norm(plain.delta) > 10 * norm(first.delta)


def test_dp_sgd_leaves_a_plain_module_behind() -> None:
    model = mlp()
    config = TrainConfig(lr=0.1, batch_size=16, dp_sgd=DpSgdConfig(1.0, 1.0))
    train_local(model, state_of(model), blobs(), config)
    assert all(not hasattr(p, "grad_sample") for p in model.parameters())
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())
    # And plain training still works on it afterwards.
    train_local(model, state_of(model), blobs(), TrainConfig(lr=0.1))


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("lr", {"lr": 0.0}),
        ("lr", {"lr": float("nan")}),
        ("batch_size", {"batch_size": 0}),
        ("local_epochs", {"local_epochs": 0}),
        ("optimizer", {"optimizer": "rmsprop"}),
        ("prox_mu", {"prox_mu": -1.0}),
    ],
)
def test_bad_config_names_the_field(field: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(TrainingError) as caught:
        TrainConfig(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_bad_dp_settings_name_the_field() -> None:
    with pytest.raises(TrainingError, match=r"dp\.noise_multiplier"):
        DpSgdConfig(noise_multiplier=0.0, l2_norm_clip=1.0)
    with pytest.raises(TrainingError, match=r"dp\.l2_norm_clip"):
        DpSgdConfig(noise_multiplier=1.0, l2_norm_clip=-1.0)


def test_data_that_does_not_fit_the_model_is_a_typed_error() -> None:
    model = mlp(outputs=2)
    with pytest.raises(TrainingError, match="label 2 >= the model's 2 outputs"):
        train_local(model, state_of(model), blobs(), TrainConfig())
    wide = Data(np.zeros((4, 7), np.float32), np.zeros(4, np.int64))
    with pytest.raises(TrainingError, match="width 7"):
        train_local(model, state_of(model), wide, TrainConfig())
    empty = Data(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    with pytest.raises(TrainingError, match="empty"):
        train_local(model, state_of(model), empty, TrainConfig())
    with pytest.raises(TrainingError, match="global_state"):
        train_local(model, {"0.weight": torch.zeros(1)}, blobs(), TrainConfig())


def test_warm_up_runs_the_lazy_imports_of_the_first_optimizer() -> None:
    # A fresh interpreter: in this one an earlier test has long imported everything.
    code = (
        "import sys\n"
        "from parity_p2p.learning.trainer import warm_up_training\n"
        "before = 'torch._dynamo' in sys.modules\n"
        "warm_up_training()\n"
        "print(before, 'torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "True"], out.stdout + out.stderr


@pytest.mark.parametrize(
    ("configured", "parameters", "expected"),
    [(0, 10_000, 1), (0, 999_999, 1), (0, 1_000_000, None), (4, 10_000, 4), (2, 5_000_000, 2)],
)
def test_training_threads_follow_the_setting_else_the_model_size(
    configured: int, parameters: int, expected: int | None
) -> None:
    assert training_threads(configured, parameters) == expected
