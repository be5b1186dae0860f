"""Local training on one runner's shard: plain SGD/Adam, FedProx's proximal term, optional DP-SGD (Opacus).

Deterministic for a given seed: dropout, shuffling and DP noise each draw from generators seeded from
`TrainConfig.seed`, and the process-wide torch RNG is restored afterwards.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, TensorDataset

from parity_p2p.learning.errors import LearningError
from parity_p2p.learning.seeding import TORCH_RNG_LOCK

State = dict[str, torch.Tensor]


class TrainingError(LearningError):
    """Local training cannot run: bad config value (`field`) or data that does not fit the model."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"training: {self.field}: {self.reason}"


class SupportsTabular(Protocol):
    """What training needs of a dataset: features [n, d] float32 and labels [n] (int64 classes or float32
    regression targets), as numpy arrays or tensors."""

    @property
    def features(self) -> np.ndarray | torch.Tensor: ...

    @property
    def labels(self) -> np.ndarray | torch.Tensor: ...


@dataclass(frozen=True)
class DpSgdConfig:
    """DP-SGD inside local training: per-sample gradients clipped to `l2_norm_clip`, Gaussian noise of std
    `noise_multiplier * l2_norm_clip` on every (Poisson-sampled) batch sum."""

    noise_multiplier: float
    l2_norm_clip: float

    def __post_init__(self) -> None:
        if not self.noise_multiplier > 0:
            raise TrainingError("dp.noise_multiplier", f"must be > 0, got {self.noise_multiplier}")
        if not self.l2_norm_clip > 0:
            raise TrainingError("dp.l2_norm_clip", f"must be > 0, got {self.l2_norm_clip}")


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 0.05
    batch_size: int = 32
    local_epochs: int = 1
    optimizer: Literal["sgd", "adam"] = "sgd"
    # FedProx: adds (prox_mu / 2) * ||w - w_global||^2 to the local objective.
    prox_mu: float = 0.0
    seed: int = 0
    dp_sgd: DpSgdConfig | None = None

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError("lr", f"must be a finite number > 0, got {self.lr}")
        if self.batch_size < 1:
            raise TrainingError("batch_size", f"must be >= 1, got {self.batch_size}")
        if self.local_epochs < 1:
            raise TrainingError("local_epochs", f"must be >= 1, got {self.local_epochs}")
        if self.optimizer not in ("sgd", "adam"):
            raise TrainingError("optimizer", f"must be 'sgd' or 'adam', got {self.optimizer!r}")
        if not (self.prox_mu >= 0 and math.isfinite(self.prox_mu)):
            raise TrainingError("prox_mu", f"must be a finite number >= 0, got {self.prox_mu}")


@dataclass(frozen=True)
class Metrics:
    """Loss plus accuracy (classification) or MSE/MAE (regression) over `count` rows."""

    loss: float
    count: int
    accuracy: float | None = None
    mse: float | None = None
    mae: float | None = None


@dataclass(frozen=True)
class TrainMetrics:
    loss: float  # mean training loss over the last local epoch
    data_size: int
    local_steps: int  # optimiser steps taken: FedNova's tau
    seconds: float
    accuracy: float | None = None  # on the local shard after training
    mse: float | None = None
    mae: float | None = None


@dataclass(frozen=True)
class LocalResult:
    state: State  # the trained weights
    delta: State  # state - global_state
    metrics: TrainMetrics
    # FedNova's ||a||_1: local steps for plain SGD, less when the proximal term damps earlier steps.
    norm_factor: float
    # For the privacy accountant when DP-SGD ran: batch sampling rate and sampled steps.
    dp_sample_rate: float | None = None
    dp_steps: int = 0


def _tensor(values: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values
    # A copy: datasets hand out read-only arrays, which torch.from_numpy would warn about sharing.
    return torch.from_numpy(np.array(values, copy=True))


def _as_tensors(dataset: SupportsTabular) -> tuple[torch.Tensor, torch.Tensor, bool]:
    features = _tensor(dataset.features).to(torch.float32)
    raw_labels = _tensor(dataset.labels)
    classification = not raw_labels.is_floating_point()
    labels = raw_labels.to(torch.int64 if classification else torch.float32)
    if features.ndim != 2 or labels.ndim != 1 or features.shape[0] != labels.shape[0]:
        raise TrainingError(
            "dataset",
            f"need features [n, d] and labels [n], got {tuple(features.shape)} and {tuple(labels.shape)}",
        )
    return features, labels, classification


def _loss(outputs: torch.Tensor, labels: torch.Tensor, classification: bool) -> torch.Tensor:
    if classification:
        return functional.cross_entropy(outputs, labels)
    return functional.mse_loss(outputs.reshape(labels.shape), labels)


def _check_model_fits(model: nn.Module, features: torch.Tensor, labels: torch.Tensor, classification: bool) -> None:
    was_training = model.training
    model.eval()  # no dropout: a dry run must not draw from the global RNG
    try:
        with torch.no_grad():
            outputs = model(features[:1])
    except RuntimeError as error:
        raise TrainingError("dataset", f"features of width {features.shape[1]} do not fit the model: {error}") from None
    finally:
        model.train(was_training)
    if classification:
        classes = outputs.shape[-1]
        if labels.numel() and int(labels.max()) >= classes:
            raise TrainingError("dataset", f"label {int(labels.max())} >= the model's {classes} outputs")
    elif outputs.numel() != 1:
        raise TrainingError("dataset", f"regression targets need one output, the model has {outputs.shape[-1]}")


def evaluate(model: nn.Module, dataset: SupportsTabular, batch_size: int = 4096) -> Metrics:
    """Loss and accuracy (or MSE/MAE) of `model` on `dataset`, in eval mode (no dropout)."""
    features, labels, classification = _as_tensors(dataset)
    count = int(labels.shape[0])
    if count == 0:
        raise TrainingError("dataset", "cannot evaluate on an empty dataset")
    was_training = model.training
    model.eval()
    loss_sum = correct = abs_sum = 0.0
    try:
        with torch.no_grad():
            for start in range(0, count, batch_size):
                x, y = features[start : start + batch_size], labels[start : start + batch_size]
                outputs = model(x)
                loss_sum += float(_loss(outputs, y, classification)) * len(y)
                if classification:
                    correct += float((outputs.argmax(dim=-1) == y).sum())
                else:
                    abs_sum += float((outputs.reshape(y.shape) - y).abs().sum())
    finally:
        model.train(was_training)
    loss = loss_sum / count
    if classification:
        return Metrics(loss=loss, count=count, accuracy=correct / count)
    return Metrics(loss=loss, count=count, mse=loss, mae=abs_sum / count)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def _proximal_norm_factor(steps: int, lr: float, mu: float) -> float:
    """||a||_1 of Wang et al. 2020 for SGD with a proximal term: sum_k (1 - lr*mu)^k over the steps."""
    alpha = lr * mu
    if alpha == 0 or steps == 0:
        return float(steps)
    return (1 - (1 - alpha) ** steps) / alpha


def train_local(model: nn.Module, global_state: State, dataset: SupportsTabular, config: TrainConfig) -> LocalResult:
    """Load `global_state` into `model`, train on `dataset`; return the new weights, the delta and metrics."""
    features, labels, classification = _as_tensors(dataset)
    n = int(labels.shape[0])
    if n == 0:
        raise TrainingError("dataset", "the shard is empty")
    try:
        model.load_state_dict(global_state)
    except RuntimeError as error:
        raise TrainingError("global_state", f"does not fit the model: {error}") from None
    _check_model_fits(model, features, labels, classification)
    anchor = {name: p.detach().clone() for name, p in model.named_parameters()}
    started = time.perf_counter()
    with TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):
        # Dropout draws from the global generator: seed it here, fork_rng restores it afterwards.
        torch.manual_seed(config.seed)
        if config.dp_sgd is None:
            steps, last_loss = _train_plain(model, features, labels, classification, anchor, config)
            sample_rate, dp_steps = None, 0
        else:
            steps, last_loss, sample_rate = _train_dp(model, features, labels, classification, anchor, config)
            dp_steps = steps
    seconds = time.perf_counter() - started
    local = evaluate(model, dataset)
    state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    delta = {name: state[name].to(torch.float32) - global_state[name].to(torch.float32) for name in state}
    norm_factor = _proximal_norm_factor(steps, config.lr, config.prox_mu) if config.optimizer == "sgd" else float(steps)
    metrics = TrainMetrics(
        loss=last_loss,
        data_size=n,
        local_steps=steps,
        seconds=seconds,
        accuracy=local.accuracy,
        mse=local.mse,
        mae=local.mae,
    )
    return LocalResult(
        state=state,
        delta=delta,
        metrics=metrics,
        norm_factor=max(norm_factor, 1e-12) if steps else 0.0,
        dp_sample_rate=sample_rate,
        dp_steps=dp_steps,
    )


SMALL_MODEL_PARAMETERS = 1_000_000


def training_threads(configured: int, parameters: int) -> int | None:
    """torch intra-op threads for a model of `parameters`: `configured` if set (> 0); else 1 for a model under
    SMALL_MODEL_PARAMETERS (its thread pool spins and costs more than it saves: 8 runners on 2 cores spent ~25% more
    CPU per round with torch's default, docs/performance.md), else None (keep torch's default, all cores)."""
    if configured > 0:
        return configured
    return 1 if parameters < SMALL_MODEL_PARAMETERS else None


def warm_up_training() -> None:
    """Run torch's lazy imports that the first optimizer triggers (torch._dynamo: ~0.9 s of CPU here), so that a
    node pays them while idle rather than inside its first round."""
    torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    return torch.optim.SGD(model.parameters(), lr=config.lr)


def _add_proximal_gradient(model: nn.Module, anchor: State, mu: float) -> None:
    # d/dw (mu/2)||w - w_g||^2 = mu (w - w_g), added to the gradient: the same as the term in the loss.
    for name, param in model.named_parameters():
        if param.grad is not None:
            param.grad.add_(param.detach() - anchor[name], alpha=mu)


def _train_plain(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    classification: bool,
    anchor: State,
    config: TrainConfig,
) -> tuple[int, float]:
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = _optimizer(model, config)
    model.train()
    steps = 0
    epoch_loss = 0.0
    for _ in range(config.local_epochs):
        loss_sum = 0.0
        for batch in _batches(len(labels), config.batch_size, generator):
            optimizer.zero_grad(set_to_none=True)
            loss = _loss(model(features[batch]), labels[batch], classification)
            loss.backward()  # type: ignore[no-untyped-call]
            if config.prox_mu > 0:
                _add_proximal_gradient(model, anchor, config.prox_mu)
            optimizer.step()
            steps += 1
            loss_sum += float(loss.detach()) * len(batch)
        epoch_loss = loss_sum / len(labels)
    return steps, epoch_loss


def _train_dp(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    classification: bool,
    anchor: State,
    config: TrainConfig,
) -> tuple[int, float, float]:
    # Imported here: Opacus costs ~1 s to import and only DP sessions need it.
    from opacus import PrivacyEngine
    from opacus.validators.errors import UnsupportedModuleError

    assert config.dp_sgd is not None
    dp = config.dp_sgd
    loader_generator = torch.Generator().manual_seed(config.seed)
    noise_generator = torch.Generator().manual_seed(config.seed + 1)
    loader = DataLoader(
        TensorDataset(features, labels),
        batch_size=config.batch_size,
        shuffle=True,
        generator=loader_generator,
    )
    with warnings.catch_warnings():
        # Opacus warns that it uses torch's (non-cryptographic) RNG unless secure_mode; we want reproducible
        # noise here, so that is intended. Narrow: this message only.
        warnings.filterwarnings("ignore", message="Secure RNG turned off", category=UserWarning)
        engine = PrivacyEngine(accountant="rdp")
    optimizer = _optimizer(model, config)
    try:
        dp_model, dp_optimizer, dp_loader = engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=dp.noise_multiplier,
            max_grad_norm=dp.l2_norm_clip,
            noise_generator=noise_generator,
        )
    except UnsupportedModuleError as error:
        raise TrainingError("model", f"DP-SGD does not support this model: {error}") from None
    sample_rate = float(dp_loader.sample_rate)
    model.train()
    steps = 0
    epoch_loss = 0.0
    try:
        for _ in range(config.local_epochs):
            loss_sum = 0.0
            seen = 0
            for x, y in dp_loader:
                steps += 1
                # Poisson sampling can draw an empty batch; it still counts as a sampled step for the
                # accountant, but there is nothing to back-propagate.
                if len(y) == 0:
                    continue
                dp_optimizer.zero_grad(set_to_none=True)
                with warnings.catch_warnings():
                    # torch warns when a full backward hook fires for inputs without grad (Opacus' per-sample
                    # hooks on the first layer): expected, the input data never needs a gradient.
                    warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
                    loss = _loss(dp_model(x), y, classification)
                    loss.backward()  # type: ignore[no-untyped-call]
                dp_optimizer.step()
                if config.prox_mu > 0:
                    # Opacus rebuilds .grad from clipped per-sample gradients, dropping any term added to it;
                    # the proximal pull depends on no data, so apply it as its own step (no privacy cost).
                    with torch.no_grad():
                        for name, param in model.named_parameters():
                            param.sub_(param - anchor[name], alpha=config.lr * config.prox_mu)
                loss_sum += float(loss.detach()) * len(y)
                seen += len(y)
            epoch_loss = loss_sum / max(seen, 1)
    finally:
        dp_model._close()
    return steps, epoch_loss, sample_rate
