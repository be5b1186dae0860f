"""Creating a session: the flags turned into a validated SessionSpec, then the checks and transactions in order.

Order matters: everything that can be checked offline is checked first (flags, config, CSV), then what the chain
says (limits, balance, allowance), then content is stored through the node, and only then are transactions sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parity_p2p.chain import ChainClient, SessionParams
from parity_p2p.client import validation
from parity_p2p.client.errors import IntegrityError, InvalidInput
from parity_p2p.client.funds import check_funds
from parity_p2p.learning.datasets import TabularDataset, parse_csv
from parity_p2p.learning.errors import LearningError, ModelConfigError
from parity_p2p.learning.model_config import ModelConfig, parse_model_config
from parity_p2p.learning.partition import STRATEGIES, SplitSpec
from parity_p2p.learning.strategies.registry import available_strategies
from parity_p2p.node.api.client import NodeApiClient
from parity_p2p.session_spec import PrivacySpec, SessionSpec, SpecError, TrainingSpec
from parity_p2p.storage.importer import compute_cid

MODEL_TYPES = ("neural_network", "linear_regression", "custom")
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SessionFlags:
    """Every flag of `fl create-session`, as given (validated by `build_spec`)."""

    name: str
    description: str
    model_type: str | None
    config_file: Path | None
    total_rounds: int
    min_participants: int
    max_participants: int | None
    split_strategy: str
    alpha: float
    min_samples: int
    overlap_ratio: float
    learning_rate: float
    batch_size: int
    local_epochs: int
    aggregation_method: str
    enable_differential_privacy: bool
    noise_multiplier: float
    l2_norm_clip: float
    reward_pool: str
    round_timeout: int
    min_stake: str | None
    label_column: str | None = None


@dataclass(frozen=True)
class SessionPlan:
    """A validated session, ready for the chain: the spec (without its dataset CID yet) and the on-chain numbers."""

    flags: SessionFlags
    config: ModelConfig
    model: dict[str, Any]
    reward_pool: int
    min_stake: int | None  # None: the registry's minimum

    @property
    def max_participants(self) -> int:
        return self.flags.max_participants or max(self.flags.min_participants, 10)

    def spec(self, dataset_cid: str) -> SessionSpec:
        f = self.flags
        try:
            return SessionSpec(
                name=f.name,
                description=f.description,
                model=self.model,
                dataset_cid=dataset_cid,
                label_column=f.label_column,
                split=SplitSpec(f.split_strategy, f.alpha, f.min_samples, f.overlap_ratio),  # type: ignore[arg-type]
                training=TrainingSpec(f.learning_rate, f.batch_size, f.local_epochs),
                aggregation=f.aggregation_method,
                privacy=PrivacySpec(f.enable_differential_privacy, f.noise_multiplier, f.l2_norm_clip),
            )
        except (SpecError, LearningError) as exc:
            raise InvalidInput("session spec", str(exc)) from None


def read_model_config(path: Path | None, model_type: str | None) -> tuple[ModelConfig, dict[str, Any]]:
    if path is None:
        raise InvalidInput("--config-file", "required: the model config JSON (architecture, input_size, output_size)")
    raw = validation.read_file(path, "--config-file", max_bytes=MAX_CONFIG_BYTES)
    try:
        config = parse_model_config(raw)
    except ModelConfigError as exc:
        raise InvalidInput("--config-file", f"{path}: {exc}") from None
    if model_type is not None:
        validation.one_of(model_type, MODEL_TYPES, "--model-type")
        if model_type != config.model_type:
            raise InvalidInput("--model-type", f"{model_type!r} but {path} describes a {config.model_type!r} model")
    return config, config.to_dict()


def build_plan(f: SessionFlags) -> SessionPlan:
    """Every offline check of the flags; InvalidInput names the first flag at fault."""
    validation.text(f.name, "--name", max_chars=MAX_NAME_CHARS)
    validation.text(f.description, "--description", max_chars=MAX_DESCRIPTION_CHARS, allow_empty=True)
    validation.positive_int(f.total_rounds, "--total-rounds")
    validation.positive_int(f.min_participants, "--min-participants")
    if f.max_participants is not None and f.max_participants < f.min_participants:
        raise InvalidInput("--max-participants", f"{f.max_participants} is below --min-participants "
                           f"{f.min_participants}")  # fmt: skip
    validation.one_of(f.split_strategy, STRATEGIES, "--split-strategy")
    if not (math.isfinite(f.alpha) and f.alpha > 0):
        raise InvalidInput("--alpha", f"must be > 0 (the Dirichlet concentration), got {f.alpha}")
    validation.positive_int(f.min_samples, "--min-samples", minimum=0)
    validation.fraction(f.overlap_ratio, "--overlap-ratio", inclusive_high=False)
    validation.positive_float(f.learning_rate, "--learning-rate")
    validation.positive_int(f.batch_size, "--batch-size")
    validation.positive_int(f.local_epochs, "--local-epochs")
    validation.one_of(f.aggregation_method, available_strategies(), "--aggregation-method")
    if f.enable_differential_privacy:
        validation.positive_float(f.noise_multiplier, "--noise-multiplier")
        validation.positive_float(f.l2_norm_clip, "--l2-norm-clip")
    if f.label_column is not None:
        validation.text(f.label_column, "--label-column", max_chars=200)
    pool = validation.token_amount(f.reward_pool, "--reward-pool", allow_zero=True)
    min_stake = validation.token_amount(f.min_stake, "--min-stake", allow_zero=True) if f.min_stake else None
    validation.positive_int(f.round_timeout, "--round-timeout", maximum=2**64 - 1)
    config, model = read_model_config(f.config_file, f.model_type)
    plan = SessionPlan(f, config, model, pool, min_stake)
    plan.spec("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")  # the spec's own checks, early
    return plan


def check_dataset(table_bytes: bytes, plan: SessionPlan, source: str) -> TabularDataset:
    """Parse the CSV as every runner will, and check it fits the model config."""
    try:
        table = parse_csv(table_bytes, label_column=plan.flags.label_column, task=plan.config.task)
    except LearningError as exc:
        raise InvalidInput(source, str(exc)) from None
    if table.num_features != plan.config.input_size:
        raise InvalidInput(source, f"has {table.num_features} feature columns but the model config's input_size is "
                           f"{plan.config.input_size}")  # fmt: skip
    if plan.config.task == "classification" and table.num_classes != plan.config.output_size:
        raise InvalidInput(source, f"has {table.num_classes} classes ({', '.join(table.classes[:10])}) but the "
                           f"model config's output_size is {plan.config.output_size}")  # fmt: skip
    if len(table) < plan.flags.min_participants:
        raise InvalidInput(source, f"has {len(table)} rows, fewer than --min-participants")
    return table


async def store_verified(node: NodeApiClient, data: bytes, what: str) -> str:
    """Store bytes through the node and check the CID it answers is the one these bytes have."""
    expected = compute_cid(data)
    cid = await node.add_content(data)
    if cid != expected:
        raise IntegrityError(f"the node stored the {what} as {cid}, but its bytes have CID {expected}")
    return cid


async def check_chain_limits(chain: ChainClient, plan: SessionPlan) -> int:
    """The contract's limits checked before any transaction; returns the session's minimum stake."""
    f = plan.flags
    max_rounds = await chain.sessions.max_rounds()
    if f.total_rounds > max_rounds:
        raise InvalidInput("--total-rounds", f"the contract allows at most {max_rounds}, got {f.total_rounds}")
    max_participants = await chain.sessions.max_participants()
    if plan.max_participants > max_participants:
        option = "--max-participants" if f.max_participants else "--min-participants"
        raise InvalidInput(option, f"the contract allows at most {max_participants} participants")
    min_timeout = await chain.sessions.min_round_timeout()
    if f.round_timeout < min_timeout:
        raise InvalidInput("--round-timeout", f"the contract needs at least {min_timeout} s, got {f.round_timeout}")
    registry_min = await chain.registry.min_stake()
    if plan.min_stake is None:
        return registry_min
    if plan.min_stake < registry_min:
        raise InvalidInput("--min-stake", "below the registry's minimum stake: no runner could have less")
    return plan.min_stake


@dataclass(frozen=True)
class CreatedSession:
    session_id: int
    name: str
    dataset_cid: str
    spec_cid: str
    spec_hash: bytes
    reward_pool: int
    total_rounds: int
    min_participants: int
    max_participants: int


async def create_session(
    chain: ChainClient, node: NodeApiClient, plan: SessionPlan, dataset_cid: str | None, dataset: bytes | None,
    *, approve: bool,
) -> CreatedSession:  # fmt: skip
    """Chain checks, funds, content through the node, then approve (if needed) and create."""
    min_stake = await check_chain_limits(chain, plan)
    manager = chain.deployment.session_manager
    needs_approval = plan.reward_pool > 0 and await check_funds(
        chain, manager, plan.reward_pool, approve=approve, purpose="the reward pool"
    )
    if dataset is not None:
        dataset_cid = await store_verified(node, dataset, "dataset")
    assert dataset_cid is not None
    spec = plan.spec(dataset_cid)
    spec_cid = await store_verified(node, spec.canonical_json(), "session spec")
    if needs_approval:
        await chain.token.approve(manager, plan.reward_pool)
    f = plan.flags
    params = SessionParams(
        name=f.name, dataset_cid=dataset_cid, spec_cid=spec_cid, spec_hash=spec.spec_hash,
        total_rounds=f.total_rounds, min_participants=f.min_participants, max_participants=plan.max_participants,
        round_timeout=f.round_timeout, min_stake=min_stake, reward_pool=plan.reward_pool,
    )  # fmt: skip
    session_id = await chain.sessions.create_session(params)
    return CreatedSession(
        session_id, f.name, dataset_cid, spec_cid, spec.spec_hash, plan.reward_pool, f.total_rounds,
        f.min_participants, plan.max_participants,
    )
