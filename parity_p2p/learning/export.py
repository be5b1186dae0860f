"""Export a trained model for ``get-model``: the seed's JSON, or safetensors; both load back exactly.

JSON layout (``format`` ``parity-p2p/model-json``, version 1)::

    {"format": ..., "version": 1,
     "config":  <the model config, canonical form>,
     "weights": {"layer0.weight": {"shape": [64, 5], "dtype": "float32", "values": [[...], ...]}, ...},
     "metrics": {"accuracy": 0.97, ...}}

Weight names follow :mod:`parity_p2p.learning.models` (``layer{i}`` is ``architecture.layers[i]``).
Float values are written with Python's shortest round-trip repr, so float32 weights come back bit for bit.
The safetensors file holds the same tensors with the config and metrics as JSON strings in its metadata.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn

from parity_p2p.learning.errors import ExportError, ModelConfigError
from parity_p2p.learning.json_guard import MAX_JSON_DEPTH, too_deep
from parity_p2p.learning.model_config import ModelConfig, parse_model_config
from parity_p2p.learning.models import build_model, load_state, model_state

JSON_FORMAT: Final = "parity-p2p/model-json"
SAFETENSORS_FORMAT: Final = "parity-p2p/model-safetensors"
EXPORT_VERSION: Final = 1
_DTYPES: Final[dict[str, torch.dtype]] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "int64": torch.int64,
}
_NAMES: Final[dict[torch.dtype, str]] = {dtype: name for name, dtype in _DTYPES.items()}

Metrics = Mapping[str, float]


def _state_of(model_or_state: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(model_or_state, nn.Module):
        return model_state(model_or_state)
    return {name: model_or_state[name].detach().to("cpu").contiguous() for name in sorted(model_or_state)}


def _checked_metrics(metrics: Metrics) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, int | float):
            raise ExportError(f"metric {name!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ExportError(f"metric {name!r} is not finite: {value}")
        out[name] = float(value)
    return out


def _check_fits(state: Mapping[str, torch.Tensor], config: ModelConfig) -> None:
    try:
        load_state(build_model(config, seed=0), dict(state))
    except ModelConfigError as exc:
        raise ExportError(f"the weights do not fit the config: {exc.reason}") from None


def export_model_json(
    model_or_state: nn.Module | Mapping[str, torch.Tensor], config: ModelConfig, metrics: Metrics
) -> bytes:
    """The model as the seed's JSON document (UTF-8 bytes)."""
    state = _state_of(model_or_state)
    _check_fits(state, config)
    weights: dict[str, Any] = {}
    for name, tensor in state.items():
        if tensor.dtype not in _NAMES:
            raise ExportError(f"weight {name!r} has dtype {tensor.dtype}; JSON export carries {sorted(_DTYPES)}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ExportError(f"weight {name!r} holds NaN or infinity")
        weights[name] = {
            "shape": list(tensor.shape),
            "dtype": _NAMES[tensor.dtype],
            "values": tensor.tolist(),
        }
    document = {
        "format": JSON_FORMAT,
        "version": EXPORT_VERSION,
        "config": config.to_dict(),
        "weights": weights,
        "metrics": _checked_metrics(metrics),
    }
    return json.dumps(document, allow_nan=False, separators=(",", ":")).encode()


def load_model_json(data: bytes | str) -> tuple[nn.Module, ModelConfig, dict[str, float]]:
    """Rebuild (module in eval mode, config, metrics) from :func:`export_model_json` output."""
    if too_deep(data):
        raise ExportError(f"JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ExportError(f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(document, dict) or document.get("format") != JSON_FORMAT:
        raise ExportError(f"not a {JSON_FORMAT} document")
    if document.get("version") != EXPORT_VERSION:
        raise ExportError(f"unsupported version {document.get('version')!r}")
    config = parse_model_config(document.get("config"))  # type: ignore[arg-type]  # checked inside
    raw_weights = document.get("weights")
    if not isinstance(raw_weights, dict):
        raise ExportError("'weights' must be an object")
    state: dict[str, torch.Tensor] = {}
    for name, entry in raw_weights.items():
        if not isinstance(entry, dict) or entry.get("dtype") not in _DTYPES:
            raise ExportError(f"weight {name!r}: entry needs a dtype among {sorted(_DTYPES)}")
        shape = entry.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ExportError(f"weight {name!r}: shape must be a list of non-negative integers")
        try:
            array = np.array(entry.get("values"), dtype=np.float64 if entry["dtype"] != "int64" else np.int64)
        except (ValueError, TypeError) as exc:
            raise ExportError(f"weight {name!r}: values are not a numeric array: {exc}") from None
        if list(array.shape) != shape and not (array.size == 0 and math.prod(shape) == 0):
            raise ExportError(f"weight {name!r}: values have shape {list(array.shape)}, declared {shape}")
        state[name] = torch.from_numpy(array.reshape(shape)).to(_DTYPES[entry["dtype"]])
    return _assemble(state, config), config, _checked_metrics(_metrics_object(document.get("metrics", {})))


def export_model_safetensors(
    model_or_state: nn.Module | Mapping[str, torch.Tensor], config: ModelConfig, metrics: Metrics
) -> bytes:
    """The model as safetensors bytes with the config and metrics in the metadata."""
    state = _state_of(model_or_state)
    _check_fits(state, config)
    metadata = {
        "format": SAFETENSORS_FORMAT,
        "version": str(EXPORT_VERSION),
        "config": config.to_json(),
        "metrics": json.dumps(_checked_metrics(metrics), allow_nan=False, sort_keys=True),
    }
    return safetensors.torch.save(state, metadata=metadata)


def load_model_safetensors(data: bytes) -> tuple[nn.Module, ModelConfig, dict[str, float]]:
    """Rebuild (module in eval mode, config, metrics) from :func:`export_model_safetensors` output."""
    try:
        state = safetensors.torch.load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except (SafetensorError, ValueError) as exc:
        raise ExportError(f"not a readable safetensors file: {str(exc)[:200]}") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != SAFETENSORS_FORMAT:
        raise ExportError(f"not a {SAFETENSORS_FORMAT} file (metadata missing)")
    if meta.get("version") != str(EXPORT_VERSION):
        raise ExportError(f"unsupported version {meta.get('version')!r}")
    config = parse_model_config(str(meta.get("config", "")))
    try:
        metrics = json.loads(str(meta.get("metrics", "{}")))
    except ValueError:
        raise ExportError("metrics metadata is not JSON") from None
    return _assemble(state, config), config, _checked_metrics(_metrics_object(metrics))


def _metrics_object(value: object) -> Mapping[str, float]:
    if not isinstance(value, dict):
        raise ExportError("'metrics' must be an object")
    return value


def _assemble(state: dict[str, torch.Tensor], config: ModelConfig) -> nn.Module:
    model = build_model(config, seed=0)
    try:
        load_state(model, state)
    except ModelConfigError as exc:
        raise ExportError(f"the weights do not fit the config: {exc.reason}") from None
    return model.eval()
