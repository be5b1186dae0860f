"""Model updates and global models as safetensors bytes with typed metadata, and a strict decoder.

Bytes from peers are untrusted. :func:`decode_update` and :func:`decode_model` check, in this order and
before any tensor is built: the total size cap, the header-length cap, the header framing and JSON, every
tensor entry (dtype, shape, offsets that tile the data exactly), the names, dtypes and shapes against the
expected ones, and the metadata schema; then every value is finite and, optionally, the global L2 norm is
within a bound. Every refusal is an :class:`UpdateRejected` subclass; nothing else escapes.

safetensors does not notice flipped bytes inside tensor data: integrity comes from the content id (CID).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import safetensors.torch
import torch
from safetensors import SafetensorError

from parity_p2p.learning.errors import (
    BadHeader,
    BadMetadata,
    DtypeMismatch,
    MissingTensor,
    NonFinite,
    NormTooLarge,
    ShapeMismatch,
    TooLarge,
    UnknownTensor,
)
from parity_p2p.learning.json_guard import MAX_JSON_DEPTH, too_deep

TensorSpec = tuple[tuple[int, ...], torch.dtype]
"""The (shape, dtype) a decoded tensor must have."""

METADATA_KEY: Final = "parity_p2p"
UPDATE_FORMAT: Final = "parity-p2p/update"
MODEL_FORMAT: Final = "parity-p2p/model"
FORMAT_VERSION: Final = 1
DEFAULT_MAX_HEADER_BYTES: Final = 1 << 20
_MAX_TEXT = 256
_MAX_METRICS = 64
_MAX_INT = 1 << 256

# safetensors dtype tags this codec accepts, with their torch dtypes.
_DTYPES: Final[dict[str, torch.dtype]] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_TAGS: Final[dict[torch.dtype, str]] = {dtype: tag for tag, dtype in _DTYPES.items()}


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class UpdateMeta:
    """What a runner says about its update.

    ``accuracy`` is None for regression; ``metrics`` holds further named figures (e.g. ``mse``,
    ``train_seconds``); ``encoding`` is a free JSON object describing compression applied to the
    tensors (filled and read by the compression layer; empty means plain weights).
    """

    session_id: int
    round: int
    runner: str
    base_model_cid: str
    data_size: int
    steps: int
    loss: float | None
    accuracy: float | None = None
    metrics: Mapping[str, float] = field(default_factory=lambda: _frozen({}), hash=False)
    encoding: Mapping[str, Any] = field(default_factory=lambda: _frozen({}), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", _frozen(self.metrics))
        object.__setattr__(self, "encoding", _frozen(self.encoding))


@dataclass(frozen=True)
class ModelMeta:
    """What the aggregator says about a global model: which round made it and how."""

    session_id: int
    round: int
    strategy: str = ""
    num_updates: int = 0
    data_size: int = 0
    metrics: Mapping[str, float] = field(default_factory=lambda: _frozen({}), hash=False)
    encoding: Mapping[str, Any] = field(default_factory=lambda: _frozen({}), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", _frozen(self.metrics))
        object.__setattr__(self, "encoding", _frozen(self.encoding))


@dataclass(frozen=True)
class DecodeLimits:
    """Caps for decoding untrusted bytes.

    ``max_total_bytes`` None means "exactly what the expected tensors need plus the header cap".
    ``max_l2_norm`` None skips the norm check (e.g. when tensors are quantised and the bound applies
    after decompression: see :func:`check_norm`).
    """

    max_total_bytes: int | None = None
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_l2_norm: float | None = None

    def __post_init__(self) -> None:
        if self.max_total_bytes is not None and self.max_total_bytes < 8:
            raise ValueError(f"max_total_bytes must be at least 8, got {self.max_total_bytes}")
        if self.max_header_bytes < 2:
            raise ValueError(f"max_header_bytes must be at least 2, got {self.max_header_bytes}")
        if self.max_l2_norm is not None and not (math.isfinite(self.max_l2_norm) and self.max_l2_norm > 0):
            raise ValueError(f"max_l2_norm must be a positive finite number or None, got {self.max_l2_norm}")


def tensor_specs(tensors: Mapping[str, torch.Tensor]) -> dict[str, TensorSpec]:
    """The ``expected`` argument of the decoders for tensors shaped like ``tensors``."""
    return {name: (tuple(t.shape), t.dtype) for name, t in tensors.items()}


def encode_update(tensors: Mapping[str, torch.Tensor], meta: UpdateMeta) -> bytes:
    """Serialise an update; the metadata is checked against the same schema the decoder enforces."""
    payload = {"format": UPDATE_FORMAT, "version": FORMAT_VERSION, **_update_fields(meta)}
    _validate_update_fields(payload)
    return _encode(tensors, payload)


def encode_model(tensors: Mapping[str, torch.Tensor], meta: ModelMeta) -> bytes:
    """Serialise a global model."""
    payload = {"format": MODEL_FORMAT, "version": FORMAT_VERSION, **_model_fields(meta)}
    _validate_model_fields(payload)
    return _encode(tensors, payload)


def decode_update(
    data: bytes, *, expected: Mapping[str, TensorSpec], limits: DecodeLimits
) -> tuple[dict[str, torch.Tensor], UpdateMeta]:
    """Strictly decode untrusted update bytes (see the module docstring for the checks and their order)."""
    tensors, payload = _decode(data, expected, limits, UPDATE_FORMAT)
    _validate_update_fields(payload)
    meta = UpdateMeta(
        session_id=payload["session_id"],
        round=payload["round"],
        runner=payload["runner"],
        base_model_cid=payload["base_model_cid"],
        data_size=payload["data_size"],
        steps=payload["steps"],
        loss=payload["loss"],
        accuracy=payload["accuracy"],
        metrics=payload["metrics"],
        encoding=payload["encoding"],
    )
    _check_values(tensors, limits.max_l2_norm)
    return tensors, meta


def decode_model(
    data: bytes, *, expected: Mapping[str, TensorSpec], limits: DecodeLimits
) -> tuple[dict[str, torch.Tensor], ModelMeta]:
    """Strictly decode untrusted global-model bytes."""
    tensors, payload = _decode(data, expected, limits, MODEL_FORMAT)
    _validate_model_fields(payload)
    meta = ModelMeta(
        session_id=payload["session_id"],
        round=payload["round"],
        strategy=payload["strategy"],
        num_updates=payload["num_updates"],
        data_size=payload["data_size"],
        metrics=payload["metrics"],
        encoding=payload["encoding"],
    )
    _check_values(tensors, limits.max_l2_norm)
    return tensors, meta


def peek_update_meta(data: bytes, *, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> UpdateMeta:
    """Read only the metadata of update bytes (no tensor is built and no shape is checked)."""
    header = _header(data, max_total=len(data), max_header=max_header_bytes)
    payload = _metadata(header, UPDATE_FORMAT)
    _validate_update_fields(payload)
    return UpdateMeta(**{k: v for k, v in payload.items() if k not in ("format", "version")})


def l2_norm(tensors: Mapping[str, torch.Tensor]) -> float:
    """The global L2 norm over every floating-point tensor, accumulated in float64."""
    total = 0.0
    for t in tensors.values():
        if t.is_floating_point():
            total += float(torch.linalg.vector_norm(t, dtype=torch.float64)) ** 2
    return math.sqrt(total)


def check_finite(tensors: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`NonFinite` naming the first (by name) floating tensor holding NaN or infinity."""
    for name in sorted(tensors):
        t = tensors[name]
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise NonFinite(f"tensor {name!r} holds NaN or infinity")


def check_norm(tensors: Mapping[str, torch.Tensor], bound: float) -> None:
    """Raise :class:`NormTooLarge` when the global L2 norm exceeds ``bound``."""
    norm = l2_norm(tensors)
    if not norm <= bound:
        raise NormTooLarge(f"global L2 norm {norm:.6g} exceeds the bound {bound:.6g}")


# --- encoding ---------------------------------------------------------------------------------------


def _encode(tensors: Mapping[str, torch.Tensor], payload: dict[str, Any]) -> bytes:
    prepared: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise BadHeader(f"invalid tensor name {name!r}")
        if not isinstance(tensor, torch.Tensor):
            raise BadHeader(f"{name!r} is a {type(tensor).__name__}, not a torch.Tensor")
        if tensor.dtype not in _TAGS:
            raise DtypeMismatch(f"{name!r} has dtype {tensor.dtype}, which the codec does not carry")
        prepared[name] = tensor.detach().to("cpu").contiguous()
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return safetensors.torch.save(prepared, metadata={METADATA_KEY: text})


def _update_fields(meta: UpdateMeta) -> dict[str, Any]:
    return {
        "session_id": meta.session_id,
        "round": meta.round,
        "runner": meta.runner,
        "base_model_cid": meta.base_model_cid,
        "data_size": meta.data_size,
        "steps": meta.steps,
        "loss": meta.loss,
        "accuracy": meta.accuracy,
        "metrics": dict(meta.metrics),
        "encoding": _plain(meta.encoding),
    }


def _model_fields(meta: ModelMeta) -> dict[str, Any]:
    return {
        "session_id": meta.session_id,
        "round": meta.round,
        "strategy": meta.strategy,
        "num_updates": meta.num_updates,
        "data_size": meta.data_size,
        "metrics": dict(meta.metrics),
        "encoding": _plain(meta.encoding),
    }


def _plain(value: Any) -> Any:
    """Mapping proxies and tuples back to JSON-friendly dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --- decoding ---------------------------------------------------------------------------------------


def _decode(
    data: bytes, expected: Mapping[str, TensorSpec], limits: DecodeLimits, kind: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BadHeader(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    payload_bytes = sum(_nbytes(shape, dtype) for shape, dtype in expected.values())
    max_total = limits.max_total_bytes
    if max_total is None:
        max_total = 8 + limits.max_header_bytes + payload_bytes
    header = _header(data, max_total=max_total, max_header=limits.max_header_bytes)
    entries = _entries(header, len(data) - 8 - int.from_bytes(data[:8], "little"))
    _match_expected(entries, expected)
    payload = _metadata(header, kind)
    try:
        tensors = safetensors.torch.load(data)
    except SafetensorError as exc:  # unreachable after the checks above, kept as a last guard
        raise BadHeader(f"safetensors refused the data: {exc}") from None
    return {name: tensors[name] for name in sorted(tensors)}, payload


def _nbytes(shape: tuple[int, ...], dtype: torch.dtype) -> int:
    return math.prod(shape) * torch.empty((), dtype=dtype).element_size()


def _header(data: bytes, *, max_total: int, max_header: int) -> dict[str, Any]:
    if len(data) > max_total:
        raise TooLarge(f"{len(data)} bytes exceeds the cap of {max_total}")
    if len(data) < 8:
        raise BadHeader(f"{len(data)} bytes is too short for the 8-byte header length")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > max_header:
        raise TooLarge(f"header length {header_len} exceeds the cap of {max_header}")
    if 8 + header_len > len(data):
        raise BadHeader(f"header length {header_len} runs past the end of {len(data)} bytes")
    try:
        text = data[8 : 8 + header_len].decode("utf-8")
    except UnicodeDecodeError:
        raise BadHeader("header is not UTF-8") from None
    parsed = _strict_json(text, BadHeader, "header")
    if not isinstance(parsed, dict):
        raise BadHeader("header is not a JSON object")
    return parsed


def _strict_json(text: str, error: type[BadHeader] | type[BadMetadata], what: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise error(f"{what} repeats the key {key!r}")
            out[key] = value
        return out

    def no_constants(name: str) -> Any:
        raise error(f"{what} holds {name}, which is not JSON")

    if too_deep(text):
        raise error(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:  # deep nesting or a giant integer literal
        raise error(f"{what} is not valid JSON: {str(exc)[:200]}") from None


@dataclass(frozen=True)
class _Entry:
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


def _entries(header: Mapping[str, Any], data_len: int) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    for name, raw in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(raw, dict) or set(raw) != {"dtype", "shape", "data_offsets"}:
            raise BadHeader(f"tensor {name[:100]!r}: entry must have exactly dtype, shape and data_offsets")
        tag, shape, offsets = raw["dtype"], raw["shape"], raw["data_offsets"]
        if not isinstance(tag, str) or tag not in _DTYPES:
            raise BadHeader(f"tensor {name[:100]!r}: unsupported dtype {str(tag)[:20]!r}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(_is_count(d) for d in shape):
            raise BadHeader(f"tensor {name[:100]!r}: shape must be a list of at most 8 non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
            raise BadHeader(f"tensor {name[:100]!r}: data_offsets must be two non-negative integers")
        dtype = _DTYPES[tag]
        begin, end = offsets
        if end < begin or end - begin != _nbytes(tuple(shape), dtype):
            raise BadHeader(f"tensor {name[:100]!r}: offsets {offsets} do not match shape {shape} of {tag}")
        entries[name] = _Entry(dtype, tuple(shape), begin, end)
    # The tensors must tile the data area exactly: no gaps, no overlaps, no trailing bytes.
    position = 0
    for entry in sorted(entries.values(), key=lambda e: (e.begin, e.end)):
        if entry.begin != position:
            raise BadHeader(f"tensor data is not contiguous at byte {position}")
        position = entry.end
    if position != data_len:
        raise BadHeader(f"tensor data covers {position} bytes but {data_len} follow the header")
    return entries


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < (1 << 53)


def _match_expected(entries: Mapping[str, _Entry], expected: Mapping[str, TensorSpec]) -> None:
    unknown = sorted(set(entries) - set(expected))
    if unknown:
        raise UnknownTensor(f"unexpected tensor(s) {[n[:100] for n in unknown[:5]]}")
    missing = sorted(set(expected) - set(entries))
    if missing:
        raise MissingTensor(f"missing tensor(s) {missing[:5]}")
    for name in sorted(expected):
        shape, dtype = expected[name]
        entry = entries[name]
        if entry.dtype != dtype:
            raise DtypeMismatch(f"tensor {name!r} has dtype {entry.dtype}, expected {dtype}")
        if entry.shape != tuple(shape):
            raise ShapeMismatch(f"tensor {name!r} has shape {entry.shape}, expected {tuple(shape)}")


def _metadata(header: Mapping[str, Any], kind: str) -> dict[str, Any]:
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise BadMetadata("the header has no __metadata__ object of strings")
    text = meta.get(METADATA_KEY)
    if text is None:
        raise BadMetadata(f"__metadata__ has no {METADATA_KEY!r} entry")
    payload = _strict_json(text, BadMetadata, "metadata")
    if not isinstance(payload, dict):
        raise BadMetadata("metadata is not a JSON object")
    if payload.get("format") != kind:
        raise BadMetadata(f"format is {str(payload.get('format'))[:40]!r}, expected {kind!r}")
    if payload.get("version") != FORMAT_VERSION:
        raise BadMetadata(f"unsupported version {str(payload.get('version'))[:20]!r}")
    return payload


def _check_values(tensors: Mapping[str, torch.Tensor], bound: float | None) -> None:
    check_finite(tensors)
    if bound is not None:
        check_norm(tensors, bound)


# --- metadata schema --------------------------------------------------------------------------------

_UPDATE_KEYS = frozenset(
    {
        "format",
        "version",
        "session_id",
        "round",
        "runner",
        "base_model_cid",
        "data_size",
        "steps",
        "loss",
        "accuracy",
        "metrics",
        "encoding",
    }
)
_MODEL_KEYS = frozenset(
    {
        "format",
        "version",
        "session_id",
        "round",
        "strategy",
        "num_updates",
        "data_size",
        "metrics",
        "encoding",
    }
)


def _validate_update_fields(payload: Mapping[str, Any]) -> None:
    _exact_keys(payload, _UPDATE_KEYS)
    _int(payload, "session_id", _MAX_INT)
    _int(payload, "round", 1 << 64)
    _text(payload, "runner", allow_empty=False)
    _text(payload, "base_model_cid", allow_empty=True)
    _int(payload, "data_size", 1 << 63)
    _int(payload, "steps", 1 << 63)
    _number(payload, "loss", optional=True)
    _number(payload, "accuracy", optional=True, low=0.0, high=1.0)
    _metrics(payload)
    _encoding(payload)


def _validate_model_fields(payload: Mapping[str, Any]) -> None:
    _exact_keys(payload, _MODEL_KEYS)
    _int(payload, "session_id", _MAX_INT)
    _int(payload, "round", 1 << 64)
    _text(payload, "strategy", allow_empty=True)
    _int(payload, "num_updates", 1 << 63)
    _int(payload, "data_size", 1 << 63)
    _metrics(payload)
    _encoding(payload)


def _exact_keys(payload: Mapping[str, Any], keys: frozenset[str]) -> None:
    if set(payload) != keys:
        extra = sorted(set(payload) - keys)
        missing = sorted(keys - set(payload))
        raise BadMetadata(f"metadata fields differ from the schema: unknown {extra[:5]}, missing {missing}")


def _int(payload: Mapping[str, Any], key: str, limit: int) -> None:
    value = payload[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise BadMetadata(f"{key} must be an integer in [0, {limit}), got {str(value)[:40]!r}")


def _text(payload: Mapping[str, Any], key: str, *, allow_empty: bool) -> None:
    value = payload[key]
    if not isinstance(value, str) or len(value) > _MAX_TEXT or (not value and not allow_empty):
        raise BadMetadata(f"{key} must be a {'' if allow_empty else 'non-empty '}string of at most {_MAX_TEXT} chars")


def _number(
    payload: Mapping[str, Any], key: str, *, optional: bool, low: float = -math.inf, high: float = math.inf
) -> None:
    value = payload[key]
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadMetadata(f"{key} must be a number, got {str(value)[:40]!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise BadMetadata(f"{key} must be finite and within [{low}, {high}], got {value}")


def _metrics(payload: Mapping[str, Any]) -> None:
    metrics = payload["metrics"]
    if not isinstance(metrics, dict) or len(metrics) > _MAX_METRICS:
        raise BadMetadata(f"metrics must be an object of at most {_MAX_METRICS} numbers")
    for name, value in metrics.items():
        if not name or len(name) > _MAX_TEXT:
            raise BadMetadata("metric names must be non-empty strings of at most 256 chars")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise BadMetadata(f"metric {name[:40]!r} must be a finite number, got {str(value)[:40]!r}")


def _encoding(payload: Mapping[str, Any]) -> None:
    encoding = payload["encoding"]
    if not isinstance(encoding, dict):
        raise BadMetadata("encoding must be a JSON object")
    try:
        json.dumps(encoding, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise BadMetadata("encoding must be plain JSON without NaN or infinity") from None
