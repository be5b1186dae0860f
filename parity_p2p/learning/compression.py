"""Update compression: float16, 8-bit quantisation, top-k sparsification with error feedback, and deltas.

A runner compresses what it sends; the encoding (a small JSON object) travels in the update's metadata
(`UpdateMeta.encoding`); the aggregator calls `decompress` to get a plain float32 delta back before any
strategy sees it. `expected_specs` gives the codec the tensor names, shapes and dtypes to demand for an
encoding, so compressed bytes are checked as strictly as plain ones.

Wire layout per model tensor `name`:
  none     name: the tensor as is (float32)
  float16  name: float16, same shape
  int8     name: int8, same shape; `name::scale`: float32 scalar (symmetric, per tensor: x ~ q * scale)
  topk     `name::values`: float32 [k]; `name::indices`: int32 [k] into the flattened tensor,
           k = max(1, ceil(topk_fraction * numel))

Error feedback (Seide et al. 2014; Stich et al. 2018): what compression dropped this round (the residual) is
added to the next round's payload, so over rounds nothing is lost, only delayed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from parity_p2p.learning.errors import LearningError

State = dict[str, torch.Tensor]
TensorSpec = tuple[tuple[int, ...], torch.dtype]
Scheme = Literal["none", "float16", "int8", "topk"]
SCHEMES: tuple[Scheme, ...] = ("none", "float16", "int8", "topk")
_FLOAT16_MAX = float(torch.finfo(torch.float16).max)
_INT8_LEVELS = 127  # symmetric: -127..127, so 0 is exact and the range is balanced


class CompressionError(LearningError):
    """A compression setting or an encoded update is invalid; `reason` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"compression: {self.reason}"


@dataclass(frozen=True)
class CompressionConfig:
    scheme: Scheme = "none"
    topk_fraction: float = 0.01
    # Carry what lossy compression dropped into the next round (lossy schemes only).
    error_feedback: bool = True
    # Send local - global (small, compresses well) rather than the full local weights.
    send_delta: bool = True

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise CompressionError(f"unknown scheme {self.scheme!r}; expected one of {', '.join(SCHEMES)}")
        if not 0 < self.topk_fraction <= 1:
            raise CompressionError(f"topk_fraction must be in (0, 1], got {self.topk_fraction}")

    def encoding(self) -> dict[str, Any]:
        """The JSON object recorded in the update's metadata."""
        encoding: dict[str, Any] = {"scheme": self.scheme, "delta": self.send_delta}
        if self.scheme == "topk":
            encoding["topk_fraction"] = self.topk_fraction
        return encoding


@dataclass(frozen=True)
class Compressed:
    tensors: State  # what goes on the wire
    encoding: dict[str, Any]  # into UpdateMeta.encoding
    residual: State | None  # error feedback to pass to the next round's `compress` (None if not lossy)

    @property
    def payload_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())


def _topk_count(numel: int, fraction: float) -> int:
    return max(1, math.ceil(fraction * numel)) if numel else 0


def _encode_tensor(name: str, tensor: torch.Tensor, config: CompressionConfig) -> State:
    if config.scheme == "none":
        return {name: tensor}
    if config.scheme == "float16":
        peak = float(tensor.abs().max()) if tensor.numel() else 0.0
        if peak > _FLOAT16_MAX:
            raise CompressionError(f"tensor {name!r} holds {peak:.3g}, beyond float16's range")
        return {name: tensor.to(torch.float16)}
    if config.scheme == "int8":
        peak = float(tensor.abs().max()) if tensor.numel() else 0.0
        scale = peak / _INT8_LEVELS if peak > 0 else 1.0
        quantised = torch.clamp(torch.round(tensor / scale), -_INT8_LEVELS, _INT8_LEVELS).to(torch.int8)
        return {name: quantised, f"{name}::scale": torch.tensor(scale, dtype=torch.float32)}
    flat = tensor.reshape(-1)
    k = _topk_count(flat.numel(), config.topk_fraction)
    # Sorted indices: the wire bytes do not depend on topk's internal order.
    indices = torch.sort(torch.topk(flat.abs(), k, sorted=False).indices).values
    return {f"{name}::values": flat[indices].clone(), f"{name}::indices": indices.to(torch.int32)}


def _check_encoding(encoding: Mapping[str, Any]) -> tuple[str, bool, float]:
    scheme = encoding.get("scheme", "none")
    if scheme not in SCHEMES:
        raise CompressionError(f"unknown scheme {scheme!r} in the update's encoding")
    delta = encoding.get("delta", False)
    if not isinstance(delta, bool):
        raise CompressionError(f"encoding 'delta' must be true or false, got {delta!r}")
    fraction = encoding.get("topk_fraction", 1.0)
    if scheme == "topk" and not (isinstance(fraction, int | float) and 0 < fraction <= 1):
        raise CompressionError(f"encoding 'topk_fraction' must be in (0, 1], got {fraction!r}")
    return str(scheme), delta, float(fraction)


def expected_specs(global_state: Mapping[str, torch.Tensor], encoding: Mapping[str, Any]) -> dict[str, TensorSpec]:
    """Names, shapes and dtypes an update with this encoding must carry (for `codec.decode_update`)."""
    scheme, _, fraction = _check_encoding(encoding)
    specs: dict[str, TensorSpec] = {}
    for name, tensor in global_state.items():
        shape = tuple(tensor.shape)
        if scheme == "none":
            specs[name] = (shape, torch.float32)
        elif scheme == "float16":
            specs[name] = (shape, torch.float16)
        elif scheme == "int8":
            specs[name] = (shape, torch.int8)
            specs[f"{name}::scale"] = ((), torch.float32)
        else:
            k = _topk_count(tensor.numel(), fraction)
            specs[f"{name}::values"] = ((k,), torch.float32)
            specs[f"{name}::indices"] = ((k,), torch.int32)
    return specs


def compress(
    local_state: Mapping[str, torch.Tensor],
    global_state: Mapping[str, torch.Tensor],
    config: CompressionConfig,
    residual: State | None = None,
) -> Compressed:
    """Encode a runner's trained weights for the wire, folding in last round's residual."""
    lossy = config.scheme != "none"
    payload: State = {}
    for name, tensor in global_state.items():
        if name not in local_state:
            raise CompressionError(f"local state lacks tensor {name!r}")
        value = local_state[name].to(torch.float32)
        payload[name] = value - tensor.to(torch.float32) if config.send_delta else value.clone()
        if lossy and config.error_feedback and residual is not None:
            payload[name] += residual[name]
    tensors: State = {}
    for name, value in payload.items():
        tensors.update(_encode_tensor(name, value, config))
    encoding = config.encoding()
    new_residual: State | None = None
    if lossy and config.error_feedback:
        sent = _decode_payload(tensors, global_state, encoding)
        new_residual = {name: payload[name] - sent[name] for name in payload}
    return Compressed(tensors=tensors, encoding=encoding, residual=new_residual)


def _decode_payload(
    tensors: Mapping[str, torch.Tensor], global_state: Mapping[str, torch.Tensor], encoding: Mapping[str, Any]
) -> State:
    scheme, _, _ = _check_encoding(encoding)
    specs = expected_specs(global_state, encoding)
    if set(tensors) != set(specs):
        raise CompressionError(f"tensor names {sorted(tensors)} do not match encoding {scheme!r}")
    decoded: State = {}
    for name, reference in global_state.items():
        if scheme in ("none", "float16"):
            decoded[name] = tensors[name].to(torch.float32)
        elif scheme == "int8":
            decoded[name] = tensors[name].to(torch.float32) * tensors[f"{name}::scale"].to(torch.float32)
        else:
            indices = tensors[f"{name}::indices"].to(torch.int64)
            if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= reference.numel()):
                raise CompressionError(f"top-k indices of {name!r} fall outside its {reference.numel()} values")
            flat = torch.zeros(reference.numel(), dtype=torch.float32)
            flat[indices] = tensors[f"{name}::values"].to(torch.float32)
            decoded[name] = flat.reshape(reference.shape)
    return decoded


def decompress(
    tensors: Mapping[str, torch.Tensor], encoding: Mapping[str, Any], global_state: Mapping[str, torch.Tensor]
) -> State:
    """The float32 delta (local - global) an update stands for, whatever its encoding."""
    _, is_delta, _ = _check_encoding(encoding)
    decoded = _decode_payload(tensors, global_state, encoding)
    if is_delta:
        return decoded
    return {name: decoded[name] - global_state[name].to(torch.float32) for name in decoded}
