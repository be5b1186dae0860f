"""The session's model config (the seed's JSON), parsed into typed, validated, immutable objects.

Example (the seed's shape)::

    {"architecture": {"type": "neural_network", "layers": [
        {"type": "dense", "units": 64, "activation": "relu"},
        {"type": "dropout", "rate": 0.2},
        {"type": "dense", "units": 32, "activation": "relu"},
        {"type": "dense", "units": 3, "activation": "softmax"}]},
     "input_size": 5, "output_size": 3, "hidden_size": 64}

Model types: ``neural_network`` (a multi-layer perceptron), ``linear_regression`` (one linear map, regression
loss and metrics) and ``custom`` (a user's torch module found by import path ``"pkg.module:factory"`` or by
an entry point in the group ``parity_p2p.models``). Every error is a :class:`ModelConfigError` naming the
field by a dotted path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from parity_p2p.learning.errors import ModelConfigError
from parity_p2p.learning.json_guard import MAX_JSON_DEPTH, too_deep

ModelType = Literal["neural_network", "linear_regression", "custom"]
Task = Literal["classification", "regression"]

MODEL_TYPES: tuple[ModelType, ...] = ("neural_network", "linear_regression", "custom")
TASKS: tuple[Task, ...] = ("classification", "regression")
# "linear" (no activation) is also spelled "none" or null in configs seen in the wild.
HIDDEN_ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu", "linear")
# The last layer of a classifier emits logits: softmax is applied by the loss and at prediction time.
CLASSIFIER_OUTPUT_ACTIVATIONS: tuple[str, ...] = ("softmax", "linear")
ENTRY_POINT_GROUP = "parity_p2p.models"
MAX_CONFIG_BYTES = 1 << 20
MAX_UNITS = 1 << 20
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_ENTRY_POINT_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


@dataclass(frozen=True)
class DenseLayer:
    """A fully connected layer followed by its activation."""

    units: int
    activation: str = "linear"


@dataclass(frozen=True)
class DropoutLayer:
    """Dropout with probability ``rate`` in [0, 1)."""

    rate: float


Layer = DenseLayer | DropoutLayer


@dataclass(frozen=True)
class CustomModelRef:
    """Where to find a user's model factory: exactly one of ``factory`` and ``entry_point`` is set.

    The factory is called as ``factory(input_size=..., output_size=..., **kwargs)`` and returns an
    ``nn.Module`` that maps ``[batch, input_size]`` float32 to ``[batch, output_size]``.
    """

    factory: str | None
    entry_point: str | None
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)


@dataclass(frozen=True)
class ModelConfig:
    """A validated model config. Build the module with ``parity_p2p.learning.models.build_model``."""

    model_type: ModelType
    input_size: int
    output_size: int
    layers: tuple[Layer, ...] = ()
    hidden_size: int | None = None
    custom: CustomModelRef | None = None
    declared_task: Task | None = None

    @property
    def task(self) -> Task:
        """``classification`` or ``regression``.

        An explicit ``"task"`` wins; ``linear_regression`` is regression; a ``neural_network`` whose last
        layer is ``linear`` is regression and one ending in ``softmax`` is classification (other output
        activations need an explicit ``"task": "regression"``); ``custom`` defaults to classification.
        """
        if self.declared_task is not None:
            return self.declared_task
        if self.model_type == "linear_regression":
            return "regression"
        if self.model_type == "neural_network":
            last = self.layers[-1]
            assert isinstance(last, DenseLayer)
            return "classification" if last.activation == "softmax" else "regression"
        return "classification"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON object of this config; ``parse_model_config(c.to_dict()) == c``."""
        architecture: dict[str, Any] = {"type": self.model_type}
        if self.model_type == "neural_network":
            architecture["layers"] = [_layer_to_dict(layer) for layer in self.layers]
        elif self.model_type == "custom":
            assert self.custom is not None
            if self.custom.factory is not None:
                architecture["factory"] = self.custom.factory
            else:
                architecture["entry_point"] = self.custom.entry_point
            if self.custom.kwargs:
                architecture["kwargs"] = dict(self.custom.kwargs)
        out: dict[str, Any] = {
            "architecture": architecture,
            "input_size": self.input_size,
            "output_size": self.output_size,
        }
        if self.hidden_size is not None:
            out["hidden_size"] = self.hidden_size
        if self.declared_task is not None:
            out["task"] = self.declared_task
        return out

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys, no spaces): equal configs give equal bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _layer_to_dict(layer: Layer) -> dict[str, Any]:
    if isinstance(layer, DenseLayer):
        return {"type": "dense", "units": layer.units, "activation": layer.activation}
    return {"type": "dropout", "rate": layer.rate}


def parse_model_config(obj: Mapping[str, Any] | str | bytes) -> ModelConfig:
    """Parse and validate a model config from a JSON object, JSON text or UTF-8 JSON bytes."""
    data = _load_json(obj)
    _reject_unknown_keys(data, "", {"architecture", "input_size", "output_size", "hidden_size", "task", "name"})
    input_size = _positive_int(data, "input_size", "input_size", required=True)
    assert input_size is not None
    hidden_size = _positive_int(data, "hidden_size", "hidden_size", required=False)
    declared_task = _task(data)
    architecture = data.get("architecture")
    if architecture is None:
        raise ModelConfigError("architecture", "missing (an object with a 'type')")
    if not isinstance(architecture, Mapping):
        raise ModelConfigError("architecture", f"must be an object, got {_kind(architecture)}")
    model_type = architecture.get("type")
    if model_type not in MODEL_TYPES:
        raise ModelConfigError(
            "architecture.type",
            f"unknown model type {model_type!r}; expected one of {', '.join(MODEL_TYPES)}",
        )

    if model_type == "neural_network":
        _reject_unknown_keys(architecture, "architecture", {"type", "layers"})
        output_size = _positive_int(data, "output_size", "output_size", required=True)
        assert output_size is not None
        layers = _layers(architecture, hidden_size, output_size, declared_task)
        return ModelConfig("neural_network", input_size, output_size, layers, hidden_size, None, declared_task)

    if model_type == "linear_regression":
        _reject_unknown_keys(architecture, "architecture", {"type"})
        output_size = _positive_int(data, "output_size", "output_size", required=False) or 1
        if declared_task == "classification":
            raise ModelConfigError("task", "linear_regression is a regression model; use neural_network")
        return ModelConfig("linear_regression", input_size, output_size, (), hidden_size, None, declared_task)

    _reject_unknown_keys(architecture, "architecture", {"type", "factory", "entry_point", "kwargs"})
    output_size = _positive_int(data, "output_size", "output_size", required=True)
    assert output_size is not None
    return ModelConfig("custom", input_size, output_size, (), hidden_size, _custom_ref(architecture), declared_task)


def _load_json(obj: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(obj, bytes | str):
        if len(obj) > MAX_CONFIG_BYTES:
            raise ModelConfigError("<document>", f"{len(obj)} bytes is over the {MAX_CONFIG_BYTES}-byte cap")
        if too_deep(obj):
            raise ModelConfigError("<document>", f"JSON nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            loaded = json.loads(obj)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ModelConfigError("<document>", f"not valid JSON: {exc}") from None
        obj = loaded
    if not isinstance(obj, Mapping):
        raise ModelConfigError("<document>", f"must be a JSON object, got {_kind(obj)}")
    return obj


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _reject_unknown_keys(obj: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    for key in obj:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise ModelConfigError(where, f"unknown field; allowed here: {', '.join(sorted(allowed))}")


def _positive_int(obj: Mapping[str, Any], key: str, path: str, *, required: bool) -> int | None:
    if key not in obj or obj[key] is None:
        if required:
            raise ModelConfigError(path, "missing (a positive integer)")
        return None
    value = obj[key]
    # JSON has no integer type of its own: 4.0 is accepted, 4.5 and true are not.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelConfigError(path, f"must be a positive integer, got {_kind(value)}")
    if value <= 0:
        raise ModelConfigError(path, f"must be a positive integer, got {value}")
    if value > MAX_UNITS:
        raise ModelConfigError(path, f"{value} is over the limit of {MAX_UNITS}")
    return value


def _task(data: Mapping[str, Any]) -> Task | None:
    task = data.get("task")
    if task is None:
        return None
    if task not in TASKS:
        raise ModelConfigError("task", f"unknown task {task!r}; expected classification or regression")
    return task  # type: ignore[no-any-return]


def _activation(layer: Mapping[str, Any], path: str) -> str:
    activation = layer.get("activation", "linear")
    if activation is None or activation == "none":
        return "linear"
    if activation not in (*HIDDEN_ACTIVATIONS, "softmax"):
        raise ModelConfigError(
            path,
            f"unknown activation {activation!r}; expected one of {', '.join((*HIDDEN_ACTIVATIONS, 'softmax'))}",
        )
    return str(activation)


def _layers(
    architecture: Mapping[str, Any], hidden_size: int | None, output_size: int, declared_task: Task | None
) -> tuple[Layer, ...]:
    raw = architecture.get("layers")
    if raw is None:
        # No layer list: the classic one-hidden-layer perceptron of hidden_size units.
        if hidden_size is None:
            raise ModelConfigError("architecture.layers", "missing (and no hidden_size to build a default from)")
        last = "linear" if declared_task == "regression" else "softmax"
        return (DenseLayer(hidden_size, "relu"), DenseLayer(output_size, last))
    if not isinstance(raw, list | tuple):
        raise ModelConfigError("architecture.layers", f"must be an array, got {_kind(raw)}")
    if not raw:
        raise ModelConfigError("architecture.layers", "must hold at least one dense layer")
    layers: list[Layer] = []
    for i, item in enumerate(raw):
        path = f"architecture.layers[{i}]"
        if not isinstance(item, Mapping):
            raise ModelConfigError(path, f"must be an object, got {_kind(item)}")
        kind = item.get("type")
        if kind == "dense":
            _reject_unknown_keys(item, path, {"type", "units", "activation"})
            units = _positive_int(item, "units", f"{path}.units", required=True)
            assert units is not None
            layers.append(DenseLayer(units, _activation(item, f"{path}.activation")))
        elif kind == "dropout":
            _reject_unknown_keys(item, path, {"type", "rate"})
            layers.append(DropoutLayer(_dropout_rate(item, f"{path}.rate")))
        else:
            raise ModelConfigError(f"{path}.type", f"unknown layer type {kind!r}; expected dense or dropout")
    _check_output_layer(layers, output_size, declared_task)
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, DenseLayer) and layer.activation == "softmax":
            raise ModelConfigError(f"architecture.layers[{i}].activation", "softmax is only allowed on the last layer")
    return tuple(layers)


def _dropout_rate(item: Mapping[str, Any], path: str) -> float:
    rate = item.get("rate")
    if rate is None:
        raise ModelConfigError(path, "missing (a number in [0, 1))")
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise ModelConfigError(path, f"must be a number in [0, 1), got {_kind(rate)}")
    if not math.isfinite(rate) or rate < 0:
        raise ModelConfigError(path, f"must be a number in [0, 1), got {rate} (negative or not finite)")
    if rate >= 1:
        raise ModelConfigError(path, f"must be below 1, got {rate} (it would drop every unit)")
    return float(rate)


def _check_output_layer(layers: list[Layer], output_size: int, declared_task: Task | None) -> None:
    index = len(layers) - 1
    last = layers[index]
    if not isinstance(last, DenseLayer):
        raise ModelConfigError(f"architecture.layers[{index}]", "the last layer must be dense (the output layer)")
    if last.units != output_size:
        raise ModelConfigError(
            f"architecture.layers[{index}].units",
            f"the output layer has {last.units} units but output_size is {output_size}",
        )
    classifier = declared_task == "classification" or (declared_task is None and last.activation == "softmax")
    if classifier and last.activation not in CLASSIFIER_OUTPUT_ACTIVATIONS:
        raise ModelConfigError(
            f"architecture.layers[{index}].activation",
            f"a classifier's output layer must be softmax or linear, got {last.activation!r}",
        )
    if declared_task is None and last.activation not in CLASSIFIER_OUTPUT_ACTIVATIONS:
        raise ModelConfigError(
            f"architecture.layers[{index}].activation",
            f'a {last.activation!r} output layer needs "task": "regression" '
            "(a classifier's output layer is softmax or linear)",
        )
    if declared_task == "regression" and last.activation == "softmax":
        raise ModelConfigError(f"architecture.layers[{index}].activation", "softmax output with task 'regression'")


def _custom_ref(architecture: Mapping[str, Any]) -> CustomModelRef:
    factory = architecture.get("factory")
    entry_point = architecture.get("entry_point")
    if (factory is None) == (entry_point is None):
        raise ModelConfigError("architecture", "a custom model needs exactly one of 'factory' and 'entry_point'")
    if factory is not None and (not isinstance(factory, str) or not _IMPORT_PATH.match(factory)):
        raise ModelConfigError("architecture.factory", f"must look like 'package.module:function', got {factory!r}")
    if entry_point is not None and (not isinstance(entry_point, str) or not _ENTRY_POINT_NAME.match(entry_point)):
        raise ModelConfigError("architecture.entry_point", f"not a valid entry point name: {entry_point!r}")
    kwargs = architecture.get("kwargs", {})
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise ModelConfigError("architecture.kwargs", f"must be an object, got {_kind(kwargs)}")
    for reserved in ("input_size", "output_size"):
        if reserved in kwargs:
            raise ModelConfigError(f"architecture.kwargs.{reserved}", "set it at the top level, not in kwargs")
    return CustomModelRef(factory, entry_point, MappingProxyType(dict(kwargs)))
