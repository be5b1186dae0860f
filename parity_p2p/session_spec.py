"""The session's training spec: canonical JSON stored by CID, its keccak256 held on-chain.

The contract enforces only the numbers it needs (rounds, participants, timeout, stake, pool); everything a runner
needs to train lives here, and every runner checks the bytes it fetched against the on-chain `specHash` before use.
Canonical form: UTF-8 JSON with sorted keys and no whitespace, so the same spec always hashes the same.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from eth_utils.crypto import keccak

from parity_p2p.learning.json_guard import too_deep
from parity_p2p.learning.model_config import ModelConfig, parse_model_config
from parity_p2p.learning.partition import SplitSpec
from parity_p2p.learning.strategies.base import Strategy
from parity_p2p.learning.strategies.dp_fedavg import DpFedAvg
from parity_p2p.learning.strategies.registry import available_strategies, build_strategy
from parity_p2p.secagg.errors import SecAggConfigError
from parity_p2p.secagg.params import SecAggParams
from parity_p2p.secagg.strategies import incompatibility

SPEC_VERSION = 1
MAX_SPEC_BYTES = 64 * 1024


class SpecError(ValueError):
    """A session spec that cannot be used; `field` names the offending entry."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"session spec field {field_name!r}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class TrainingSpec:
    learning_rate: float = 0.05
    batch_size: int = 16
    local_epochs: int = 1
    optimizer: Literal["sgd", "adam"] = "sgd"


@dataclass(frozen=True)
class PrivacySpec:
    enabled: bool = False
    noise_multiplier: float = 1.0
    l2_norm_clip: float = 1.0
    delta: float = 1e-5


@dataclass(frozen=True)
class PrivateDataSpec:
    """Runners bring their own rows, which never leave them: each maps `name` to a local CSV in its config.toml
    ([datasets]) with exactly these feature columns and this label column. Only row counts enter the session, and
    each is capped by `max_rows` because no other node can check it."""

    name: str
    features: tuple[str, ...]
    label: str
    classes: tuple[str, ...] = ()  # the label -> index order every runner uses; empty for regression
    max_rows: int = 100_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "classes", tuple(self.classes))
        if not self.name.strip() or not self.label.strip() or not self.features:
            raise SpecError("private_data", "name, label and features must not be empty")
        if len(set(self.features)) != len(self.features) or self.label in self.features:
            raise SpecError("private_data.features", "feature names must be distinct and differ from the label")
        if self.max_rows < 1:
            raise SpecError("private_data.max_rows", f"must be >= 1, got {self.max_rows}")


@dataclass(frozen=True)
class SessionSpec:
    name: str
    model: dict[str, Any]
    dataset_cid: str
    description: str = ""
    label_column: str | None = None
    eval_fraction: float = 0.2
    split: SplitSpec = field(default_factory=SplitSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    aggregation: str = "fedavg"
    aggregation_params: dict[str, Any] = field(default_factory=dict)
    privacy: PrivacySpec = field(default_factory=PrivacySpec)
    private_data: PrivateDataSpec | None = None  # None: the dataset is public, by `dataset_cid`
    # Pairwise-masked secure aggregation (docs/secagg.md): the leader learns only the sum. None: plain updates.
    secure_aggregation: SecAggParams | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def model_config(self) -> ModelConfig:
        return parse_model_config(self.model)

    def build_strategy(self, noise_seed: int = 0) -> Strategy:
        """A fresh instance of the session's aggregation strategy: DP-FedAvg (its noise seeded by `noise_seed`)
        when privacy is on, else `aggregation` with `aggregation_params`."""
        if self.privacy.enabled:
            return DpFedAvg(self.privacy.noise_multiplier, self.privacy.l2_norm_clip, seed=noise_seed)
        return build_strategy(self.aggregation, **self.aggregation_params)

    def canonical_json(self) -> bytes:
        body = {"version": SPEC_VERSION, **asdict(self)}
        if self.secure_aggregation is None:
            del body["secure_aggregation"]  # specs without it keep the bytes (and hashes) they always had
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @property
    def spec_hash(self) -> bytes:
        """keccak256 of the canonical JSON: the value the contract stores as `specHash`."""
        return keccak(self.canonical_json())

    @classmethod
    def from_json(cls, data: bytes) -> SessionSpec:
        """Parse untrusted spec bytes (e.g. fetched by CID); every problem is a SpecError."""
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError("(document)", f"{len(data)} bytes, the limit is {MAX_SPEC_BYTES}")
        if too_deep(data):
            raise SpecError("(document)", "nested too deeply to be a session spec")
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SpecError("(document)", f"not UTF-8 JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise SpecError("(document)", "must be a JSON object")
        if raw.pop("version", None) != SPEC_VERSION:
            raise SpecError("version", f"must be {SPEC_VERSION}")
        unknown = sorted(set(raw) - _FIELDS)
        if unknown:
            raise SpecError(unknown[0], "is not a session spec field")
        try:
            return cls(
                name=raw.pop("name"),
                model=raw.pop("model"),
                dataset_cid=raw.pop("dataset_cid"),
                description=raw.pop("description", ""),
                label_column=raw.pop("label_column", None),
                eval_fraction=raw.pop("eval_fraction", 0.2),
                split=SplitSpec(**raw.pop("split", {})),
                training=TrainingSpec(**raw.pop("training", {})),
                aggregation=raw.pop("aggregation", "fedavg"),
                aggregation_params=raw.pop("aggregation_params", {}),
                privacy=PrivacySpec(**raw.pop("privacy", {})),
                private_data=PrivateDataSpec(**private) if (private := raw.pop("private_data", None)) else None,
                secure_aggregation=_secure_aggregation(raw.pop("secure_aggregation", None)),
            )
        except KeyError as exc:
            raise SpecError(str(exc.args[0]), "is required") from None
        except TypeError as exc:
            raise SpecError("(document)", f"unexpected or malformed entry: {exc}") from None


_FIELDS = {
    "name", "model", "dataset_cid", "description", "label_column", "eval_fraction",
    "split", "training", "aggregation", "aggregation_params", "privacy", "private_data", "secure_aggregation",
}  # fmt: skip


def _secure_aggregation(raw: Any) -> SecAggParams | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SpecError("secure_aggregation", 'must be an object such as {"enabled": true, "clip": 0.5}')
    try:
        return SecAggParams(**raw)
    except SecAggConfigError as exc:
        raise SpecError(f"secure_aggregation.{exc.field}", exc.reason) from None
    except TypeError as exc:
        raise SpecError("secure_aggregation", f"unexpected or missing entry: {exc}") from None


def _validate(spec: SessionSpec) -> None:
    if not spec.name.strip():
        raise SpecError("name", "must not be empty")
    if not spec.dataset_cid:
        raise SpecError("dataset_cid", "must not be empty")
    parse_model_config(spec.model)  # raises ModelConfigError naming the model field
    if not 0 < spec.eval_fraction < 1:
        raise SpecError("eval_fraction", f"must be in (0, 1), got {spec.eval_fraction}")
    t = spec.training
    if not (math.isfinite(t.learning_rate) and t.learning_rate > 0):
        raise SpecError("training.learning_rate", f"must be > 0, got {t.learning_rate}")
    if t.batch_size < 1 or t.local_epochs < 1:
        raise SpecError("training", f"batch_size and local_epochs must be >= 1, got {t.batch_size}, {t.local_epochs}")
    if t.optimizer not in ("sgd", "adam"):
        raise SpecError("training.optimizer", f"must be 'sgd' or 'adam', got {t.optimizer!r}")
    if spec.aggregation not in available_strategies():
        raise SpecError("aggregation", f"unknown {spec.aggregation!r}; available: {', '.join(available_strategies())}")
    data = spec.private_data
    if data is not None:
        config = spec.model_config
        if config.input_size != len(data.features):
            raise SpecError("private_data.features", f"{len(data.features)} given, the model takes {config.input_size}")
        if config.task == "classification" and len(data.classes) != config.output_size:
            raise SpecError("private_data.classes", f"{len(data.classes)} given, the model has {config.output_size}")
    secure = spec.secure_aggregation
    if secure is not None and secure.enabled:
        reason = incompatibility(spec.aggregation)
        if reason is not None:
            raise SpecError("secure_aggregation", f"cannot be used with {spec.aggregation!r}: {reason}")
        if spec.privacy.enabled:
            raise SpecError("secure_aggregation", "cannot be combined with privacy (central DP clips each update at "
                            "the leader, which never sees one)")  # fmt: skip
    p = spec.privacy
    if p.enabled and not (p.noise_multiplier > 0 and p.l2_norm_clip > 0 and 0 < p.delta < 1):
        raise SpecError("privacy", "noise_multiplier and l2_norm_clip must be > 0 and delta in (0, 1)")
