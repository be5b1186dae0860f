"""The compute of one round, independent of transport: what a runner, a leader and a verifier do with bytes.

Every node derives the same `SessionWork` from (spec, dataset bytes, on-chain seed, participant list), so shards,
the initial model, training seeds and the aggregate are reproducible anywhere: this is what lets followers recompute
a leader's aggregate. Runner ids are lower-case hex addresses (one spelling, so every node sorts them alike).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from parity_p2p.learning.codec import (
    DecodeLimits,
    ModelMeta,
    UpdateMeta,
    decode_model,
    decode_update,
    encode_model,
    encode_update,
    tensor_specs,
)
from parity_p2p.learning.datasets import TabularDataset, parse_csv, subset, train_eval_split
from parity_p2p.learning.model_config import ModelConfig
from parity_p2p.learning.models import build_model, model_state
from parity_p2p.learning.partition import partition
from parity_p2p.learning.seeding import derive_seed
from parity_p2p.learning.server_state import model_file_bytes, model_file_specs, pack, unpack
from parity_p2p.learning.strategies import AggregateResult, ClientUpdate, State, Strategy
from parity_p2p.learning.strategies.norm_screen import DEFAULT_NORM_FACTOR, NormScreen
from parity_p2p.learning.trainer import Metrics, TrainConfig, TrainMetrics, evaluate, train_local
from parity_p2p.session_spec import SessionSpec

# An update may exceed its tensors' raw size only by its safetensors header (metadata is small JSON).
UPDATE_HEADER_ALLOWANCE = 64 * 1024
# Updates over this multiple of the round's median delta norm are screened out (learning/strategies/norm_screen.py).
NORM_FACTOR = DEFAULT_NORM_FACTOR


def runner_id(address: str) -> str:
    return address.lower()


def _int_seed(seed: bytes, purpose: str, **params: object) -> int:
    return int.from_bytes(derive_seed(seed, purpose, **params)[:4], "big")


@dataclass(frozen=True)
class SessionWork:
    session_id: int
    spec: SessionSpec
    config: ModelConfig
    seed: bytes
    participants: tuple[str, ...]
    train: TabularDataset
    eval: TabularDataset
    shards: Mapping[str, npt.NDArray[np.int64]]

    @classmethod
    def prepare(
        cls, session_id: int, spec: SessionSpec, dataset: bytes, seed: bytes, participants: Sequence[str]
    ) -> SessionWork:
        config = spec.model_config
        table = parse_csv(dataset, label_column=spec.label_column, task=config.task)
        train, held_out = train_eval_split(table, spec.eval_fraction, seed)
        ids = [runner_id(p) for p in participants]
        shards = partition(train.labels, ids, spec.split, seed)
        return cls(session_id, spec, config, seed, tuple(ids), train, held_out, shards)

    @classmethod
    def prepare_private(
        cls, session_id: int, spec: SessionSpec, local_csv: bytes, seed: bytes, participants: Sequence[str], me: str
    ) -> SessionWork:
        """A private-data session: this runner's own CSV is its whole shard (split into train and held-out locally);
        other runners' shards are unknown here, so their sizes are only capped, not checked."""
        data = spec.private_data
        if data is None:
            raise PrivateDataMismatch("the session's spec declares no private data")
        config = spec.model_config
        table = parse_csv(local_csv, label_column=data.label, task=config.task, classes=data.classes or None)
        if table.feature_names != data.features:
            raise PrivateDataMismatch(f"local columns {list(table.feature_names)} != declared {list(data.features)}")
        if len(table) > data.max_rows:
            raise PrivateDataMismatch(f"{len(table)} local rows exceed the session's max_rows {data.max_rows}")
        split_seed = derive_seed(seed, "private", runner=runner_id(me))
        train, held_out = train_eval_split(table, spec.eval_fraction, split_seed)
        shards = {runner_id(me): np.arange(len(train), dtype=np.int64)}
        return cls(session_id, spec, config, seed, tuple(runner_id(p) for p in participants), train, held_out, shards)

    @property
    def expected_sizes(self) -> dict[str, int] | None:
        """Every runner's shard size when the partition is public; None when runners bring private data."""
        return None if self.spec.private_data else self.shard_sizes

    @property
    def max_private_size(self) -> int | None:
        return self.spec.private_data.max_rows if self.spec.private_data else None

    def shard(self, runner: str) -> TabularDataset:
        return subset(self.train, self.shards[runner_id(runner)])

    @property
    def shard_sizes(self) -> dict[str, int]:
        return {runner: len(rows) for runner, rows in self.shards.items()}

    def initial_state(self) -> State:
        return model_state(build_model(self.config, seed=_int_seed(self.seed, "init")))

    def strategy(self) -> Strategy:
        """A fresh instance: a strategy with server state continues from the round's model file (aggregate)."""
        return self.spec.build_strategy(_int_seed(self.seed, "dp-noise"))

    def train_config(self, round_number: int, runner: str) -> TrainConfig:
        t = self.spec.training
        base = TrainConfig(
            lr=t.learning_rate,
            batch_size=t.batch_size,
            local_epochs=t.local_epochs,
            optimizer=t.optimizer,
            seed=_int_seed(self.seed, "train", round=round_number, runner=runner_id(runner)),
        )
        return self.strategy().configure_train(round_number, base)

    def decode_limits(self, global_state: State) -> DecodeLimits:
        raw = sum(t.numel() * t.element_size() for t in global_state.values())
        return DecodeLimits(max_total_bytes=raw + UPDATE_HEADER_ALLOWANCE)


@dataclass(frozen=True)
class MadeUpdate:
    data: bytes
    metrics: TrainMetrics


def make_update(
    work: SessionWork, runner: str, round_number: int, global_state: State, base_model_cid: str
) -> MadeUpdate:
    """Train on this runner's shard from `global_state` and encode the delta as safetensors."""
    model = build_model(work.config)
    result = train_local(model, global_state, work.shard(runner), work.train_config(round_number, runner))
    m = result.metrics
    meta = UpdateMeta(
        session_id=work.session_id,
        round=round_number,
        runner=runner_id(runner),
        base_model_cid=base_model_cid,
        data_size=m.data_size,
        steps=m.local_steps,
        loss=m.loss,
        accuracy=m.accuracy,
        # Only what training determines: a runner restarted within a round retrains the very same bytes (CID).
        # Its training time travels in the signed UpdateAnnouncement instead.
        metrics={"norm_factor": result.norm_factor},
    )
    return MadeUpdate(encode_update(result.delta, meta), m)


class UpdateMismatch(ValueError):
    """A well-formed update that belongs to another session, round, runner or base model."""


class PrivateDataMismatch(ValueError):
    """This runner's local CSV does not fit the session's declared private-data schema."""


def read_update(
    work: SessionWork, data: bytes, *, round_number: int, sender: str, global_state: State, base_model_cid: str
) -> tuple[ClientUpdate, UpdateMeta]:
    """Strictly decode an untrusted update (codec checks) and check it is the one this round expects."""
    tensors, meta = decode_update(data, expected=tensor_specs(global_state), limits=work.decode_limits(global_state))
    expected = (work.session_id, round_number, runner_id(sender), base_model_cid)
    actual = (meta.session_id, meta.round, meta.runner, meta.base_model_cid)
    if actual != expected:
        raise UpdateMismatch(f"update is for (session, round, runner, base) {actual}, expected {expected}")
    sizes = work.expected_sizes
    size = sizes.get(runner_id(sender)) if sizes is not None else None
    if size is not None and meta.data_size != size:
        raise UpdateMismatch(f"update claims {meta.data_size} samples, the sender's shard has {size}")
    cap = work.max_private_size
    if cap is not None and not 0 < meta.data_size <= cap:
        raise UpdateMismatch(f"update claims {meta.data_size} samples, the session allows 1..{cap} per runner")
    update = ClientUpdate(
        delta=tensors,
        num_examples=meta.data_size,
        local_steps=meta.steps,
        norm_factor=float(meta.metrics.get("norm_factor", meta.steps)),
        runner=meta.runner,
        metrics={"loss": meta.loss or 0.0},
    )
    return update, meta


def aggregate(
    work: SessionWork, round_number: int, global_state: State, updates: Sequence[ClientUpdate],
    server_state: State | None = None,
) -> AggregateResult:  # fmt: skip
    """The session's strategy over updates in ascending runner order (the order every verifier uses), behind the
    norm screen: an update whose delta is over NORM_FACTOR x the round's median norm is set aside (it is listed
    in `screened_out`, left out of `included`, and so earns no points). Followers recompute the same set.

    `server_state` is what the previous round's model file carried (FedAdam's moments; empty in round 1 and for
    stateless strategies); the result carries the state after this round, for this round's model file."""
    ordered = sorted(updates, key=lambda u: int(u.runner, 16))
    strategy = work.strategy()
    if server_state:
        strategy.restore(server_state)
    result = NormScreen(strategy, NORM_FACTOR).aggregate(round_number, global_state, ordered)
    return dataclasses.replace(result, server_state=strategy.server_state(result.state))


def encode_global(work: SessionWork, round_number: int, result: AggregateResult, metrics: Metrics) -> bytes:
    meta = ModelMeta(
        session_id=work.session_id,
        round=round_number,
        strategy=work.strategy().name,
        num_updates=result.num_updates,
        data_size=result.total_examples,
        metrics={k: v for k, v in dataclasses.asdict(metrics).items() if isinstance(v, float)},
    )
    return encode_model(pack(result.state, result.server_state), meta)


def read_global(work: SessionWork, data: bytes, template: State) -> tuple[State, State]:
    """(model, server state) from a round's model file, decoded strictly against the session's model and
    strategy (see learning/server_state.py)."""
    strategy = work.strategy()
    limits = DecodeLimits(max_total_bytes=model_file_bytes(template, strategy) + UPDATE_HEADER_ALLOWANCE)
    tensors, _ = decode_model(data, expected=model_file_specs(template, strategy), limits=limits)
    return unpack(tensors)


def evaluate_state(work: SessionWork, state: State) -> Metrics:
    model = build_model(work.config)
    model.load_state_dict(state)
    with torch.no_grad():
        return evaluate(model, work.eval)
