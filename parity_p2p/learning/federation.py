"""An in-process federation (no network): partition, local training, compression, aggregation, evaluation.

It plays every runner in turn in one process, with exactly the pieces the real node uses, so the demo and the
benchmark can measure what a strategy, a split, DP or compression does to accuracy and bytes on the wire.
Runners train lazily inside the iterator the strategy consumes, so streaming strategies hold one update at a
time, as a round leader would.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from parity_p2p.learning.compression import CompressionConfig, compress, decompress
from parity_p2p.learning.datasets import TabularDataset, subset, train_eval_split
from parity_p2p.learning.errors import LearningError
from parity_p2p.learning.model_config import ModelConfig
from parity_p2p.learning.models import build_model, model_state
from parity_p2p.learning.partition import SplitSpec, partition
from parity_p2p.learning.privacy import DpConfig, RdpAccountant
from parity_p2p.learning.seeding import derive_seed
from parity_p2p.learning.strategies import ClientUpdate, State, Strategy, build_strategy
from parity_p2p.learning.strategies.dp_fedavg import DpFedAvg
from parity_p2p.learning.trainer import Metrics, TrainConfig, evaluate, train_local


class FederationError(LearningError):
    """The federation's settings do not go together; `reason` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"federation: {self.reason}"


@dataclass(frozen=True)
class RoundRecord:
    round: int
    eval: Metrics  # the new global model on the held-out eval split
    train_loss: float  # data-size-weighted mean of the runners' last-epoch training loss
    bytes_per_update: float  # mean tensor payload per update, after compression
    epsilon: float | None  # cumulative, at DpConfig.delta; None without DP
    num_updates: int
    seconds: float


@dataclass(frozen=True)
class FederationHistory:
    strategy: str
    runner_count: int
    shard_sizes: dict[str, int]
    rounds: tuple[RoundRecord, ...]
    initial_eval: Metrics
    final_state: State

    @property
    def final(self) -> RoundRecord:
        return self.rounds[-1]


@dataclass
class _RoundStats:
    loss_sum: float = 0.0
    examples: int = 0
    payload_bytes: int = 0
    updates: int = 0


def _train_runners(
    model: torch.nn.Module,
    shards: dict[str, TabularDataset],
    start: State,
    config: TrainConfig,
    round_number: int,
    seed: int,
    compression: CompressionConfig,
    residuals: dict[str, State | None],
    accountants: dict[str, RdpAccountant],
    stats: _RoundStats,
) -> Iterator[ClientUpdate]:
    """Each runner trains when the strategy asks for its update: what a leader receiving a stream sees."""
    for runner, shard in shards.items():
        seeded = dataclasses.replace(config, seed=_int_seed(seed, "train", round=round_number, runner=runner))
        result = train_local(model, start, shard, seeded)
        if result.dp_sample_rate is not None and config.dp_sgd is not None:
            accountants[runner].record(config.dp_sgd.noise_multiplier, result.dp_sample_rate, result.dp_steps)
        packed = compress(result.state, start, compression, residuals[runner])
        residuals[runner] = packed.residual
        stats.loss_sum += result.metrics.loss * result.metrics.data_size
        stats.examples += result.metrics.data_size
        stats.payload_bytes += packed.payload_bytes
        stats.updates += 1
        yield ClientUpdate(
            delta=decompress(packed.tensors, packed.encoding, start),
            num_examples=result.metrics.data_size,
            local_steps=result.metrics.local_steps,
            norm_factor=result.norm_factor,
            runner=runner,
        )


def standardized(dataset: TabularDataset) -> TabularDataset:
    """Features scaled to zero mean and unit variance per column (constant columns left at zero).

    Plain SGD on raw features (iris in cm, digits in 0..16) trains slowly and unevenly; a session would
    publish these statistics with its dataset so every runner applies the same scaling.
    """
    features = dataset.features.astype(np.float64)
    spread = features.std(axis=0)
    scaled = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return TabularDataset(scaled.astype(np.float32), dataset.labels, dataset.classes, dataset.feature_names)


def _int_seed(seed: int, purpose: str, **params: object) -> int:
    return int.from_bytes(derive_seed(seed, purpose, **params)[:4], "big")


def _resolve_strategy(strategy: Strategy | str, dp: DpConfig | None, seed: int) -> Strategy:
    chosen = build_strategy(strategy) if isinstance(strategy, str) else strategy
    if dp is None or dp.mode == "sgd":
        return chosen
    # Client-level DP needs equal weights and a known sensitivity: only plain averaging qualifies.
    if chosen.name not in ("fedavg", "dp_fedavg"):
        raise FederationError(f"client-level DP runs DP-FedAvg; strategy {chosen.name!r} cannot be combined")
    return DpFedAvg(dp.noise_multiplier, dp.l2_norm_clip, seed=_int_seed(seed, "dp-noise"))


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    # The models here are tiny: torch's intra-op thread pool costs more than it saves (10x slower on two
    # busy cores). Restored afterwards, since the setting is process-wide.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_federation(
    dataset: TabularDataset,
    model_config: ModelConfig,
    runner_count: int,
    split_spec: SplitSpec,
    strategy: Strategy | str,
    rounds: int,
    train_config: TrainConfig,
    seed: int,
    dp: DpConfig | None = None,
    compression: CompressionConfig | None = None,
    eval_fraction: float = 0.2,
) -> FederationHistory:
    """Train `rounds` rounds over `runner_count` in-process runners; deterministic for a given seed."""
    with _one_torch_thread():
        return _run(
            dataset,
            model_config,
            runner_count,
            split_spec,
            strategy,
            rounds,
            train_config,
            seed,
            dp,
            compression,
            eval_fraction,
        )


def _run(
    dataset: TabularDataset,
    model_config: ModelConfig,
    runner_count: int,
    split_spec: SplitSpec,
    strategy: Strategy | str,
    rounds: int,
    train_config: TrainConfig,
    seed: int,
    dp: DpConfig | None,
    compression: CompressionConfig | None,
    eval_fraction: float,
) -> FederationHistory:
    if runner_count < 1:
        raise FederationError(f"runner_count must be >= 1, got {runner_count}")
    if rounds < 1:
        raise FederationError(f"rounds must be >= 1, got {rounds}")
    aggregator = _resolve_strategy(strategy, dp, seed)
    compression = compression or CompressionConfig()
    train, held_out = train_eval_split(dataset, eval_fraction, seed)
    if len(held_out) == 0:
        raise FederationError("the eval split is empty; raise eval_fraction")
    runner_ids = [f"runner-{i:03d}" for i in range(runner_count)]
    shards = {
        runner: subset(train, rows)
        for runner, rows in partition(train.labels, runner_ids, split_spec, derive_seed(seed, "federation")).items()
    }
    model = build_model(model_config, seed=_int_seed(seed, "init"))
    global_state = model_state(model)
    initial_eval = evaluate(model, held_out)
    residuals: dict[str, State | None] = dict.fromkeys(shards)
    accountants = {runner: RdpAccountant() for runner in shards}  # DP-SGD: each runner's own rows
    session_accountant = RdpAccountant()  # DP-FedAvg: the whole session
    records: list[RoundRecord] = []
    for number in range(1, rounds + 1):
        started = time.perf_counter()
        base = dataclasses.replace(
            train_config, dp_sgd=dp.dp_sgd() if dp is not None and dp.mode == "sgd" else train_config.dp_sgd
        )
        round_config = aggregator.configure_train(number, base)
        stats = _RoundStats()
        updates = _train_runners(
            model, shards, global_state, round_config, number, seed, compression, residuals, accountants, stats
        )
        outcome = aggregator.aggregate(number, global_state, updates)
        global_state = outcome.state
        model.load_state_dict(global_state)
        epsilon: float | None = None
        if dp is not None and dp.mode == "client":
            # Every runner takes part in every round: one Gaussian mechanism per round at q = 1.
            session_accountant.record(dp.noise_multiplier, 1.0, 1)
            epsilon = session_accountant.epsilon(dp.delta)
        elif dp is not None:
            # Each runner protects its own rows; report the worst (largest) epsilon among them.
            epsilon = max(accountant.epsilon(dp.delta) for accountant in accountants.values())
        records.append(
            RoundRecord(
                round=number,
                eval=evaluate(model, held_out),
                train_loss=stats.loss_sum / max(1, stats.examples),
                bytes_per_update=stats.payload_bytes / max(1, stats.updates),
                epsilon=epsilon,
                num_updates=outcome.num_updates,
                seconds=time.perf_counter() - started,
            )
        )
    return FederationHistory(
        strategy=aggregator.name,
        runner_count=runner_count,
        shard_sizes={runner: len(shard) for runner, shard in shards.items()},
        rounds=tuple(records),
        initial_eval=initial_eval,
        final_state={name: tensor.clone() for name, tensor in global_state.items()},
    )


def centralized_baseline(
    dataset: TabularDataset,
    model_config: ModelConfig,
    epochs: int,
    train_config: TrainConfig,
    seed: int,
    eval_fraction: float = 0.2,
) -> Metrics:
    """The same model trained on the whole train split in one place, evaluated on the same eval split."""
    train, held_out = train_eval_split(dataset, eval_fraction, seed)
    model = build_model(model_config, seed=_int_seed(seed, "init"))
    config = dataclasses.replace(train_config, local_epochs=epochs, seed=_int_seed(seed, "central"))
    with _one_torch_thread():
        train_local(model, model_state(model), train, config)
        return evaluate(model, held_out)


__all__ = [
    "FederationError",
    "FederationHistory",
    "RoundRecord",
    "centralized_baseline",
    "run_federation",
    "standardized",
]
