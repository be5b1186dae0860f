"""Build torch modules from a :class:`ModelConfig`, and copy their state out.

Softmax: a classifier's module returns **logits**. A config whose last layer says ``"softmax"`` gets no
softmax module, because ``CrossEntropyLoss`` applies log-softmax itself and a second softmax would flatten
the gradients. Use :func:`predict_output` (or ``torch.softmax(logits, dim=-1)``) for probabilities.

Parameter names are stable and follow the config: the layer at ``architecture.layers[i]`` is the module
``layer{i}`` (so ``layer0.weight``, ``layer0.bias``, ``layer2.weight`` …); a linear regression is ``layer0``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable

import torch
from torch import nn

from parity_p2p.learning.errors import ModelConfigError
from parity_p2p.learning.model_config import (
    ENTRY_POINT_GROUP,
    CustomModelRef,
    DenseLayer,
    DropoutLayer,
    ModelConfig,
)
from parity_p2p.learning.seeding import TORCH_RNG_LOCK

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def build_model(config: ModelConfig, *, seed: int | None = None) -> nn.Module:
    """A fresh module for ``config`` in training mode, parameters in float32 on the CPU.

    With ``seed`` the initial weights are a pure function of (config, seed, torch version): the global
    torch RNG is forked, so other code's randomness is left untouched.
    """
    if seed is None:
        with TORCH_RNG_LOCK:  # its draws would otherwise shift a seeded sequence running in another thread
            return _build(config)
    with TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(config)


def _build(config: ModelConfig) -> nn.Module:
    if config.model_type == "neural_network":
        return _mlp(config)
    if config.model_type == "linear_regression":
        model = nn.Sequential()
        model.add_module("layer0", nn.Linear(config.input_size, config.output_size))
        return model
    assert config.custom is not None
    return _custom(config, config.custom)


def _mlp(config: ModelConfig) -> nn.Module:
    model = nn.Sequential()
    width = config.input_size
    last = len(config.layers) - 1
    for i, layer in enumerate(config.layers):
        if isinstance(layer, DropoutLayer):
            model.add_module(f"layer{i}", nn.Dropout(layer.rate))
            continue
        assert isinstance(layer, DenseLayer)
        model.add_module(f"layer{i}", nn.Linear(width, layer.units))
        width = layer.units
        # The output softmax lives in the loss (see the module docstring); "linear" means no activation.
        if layer.activation in _ACTIVATIONS and not (i == last and config.task == "classification"):
            model.add_module(f"layer{i}_{layer.activation}", _ACTIVATIONS[layer.activation]())
    return model


def _load_factory(ref: CustomModelRef) -> Callable[..., object]:
    if ref.factory is not None:
        module_name, _, attr_path = ref.factory.partition(":")
        try:
            target: object = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelConfigError("architecture.factory", f"cannot import {module_name!r}: {exc}") from None
        for attr in attr_path.split("."):
            try:
                target = getattr(target, attr)
            except AttributeError:
                raise ModelConfigError(
                    "architecture.factory", f"{module_name!r} has no attribute {attr_path!r}"
                ) from None
    else:
        found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=str(ref.entry_point))
        if not found:
            raise ModelConfigError(
                "architecture.entry_point",
                f"no entry point {ref.entry_point!r} in group {ENTRY_POINT_GROUP!r} (installed?)",
            )
        try:
            target = next(iter(found)).load()
        except (ImportError, AttributeError) as exc:
            raise ModelConfigError(
                "architecture.entry_point", f"cannot load {ref.entry_point!r}: {exc}"
            ) from None
    if not callable(target):
        raise ModelConfigError("architecture", f"the custom model factory {target!r} is not callable")
    return target


def _custom(config: ModelConfig, ref: CustomModelRef) -> nn.Module:
    factory = _load_factory(ref)
    try:
        model = factory(input_size=config.input_size, output_size=config.output_size, **dict(ref.kwargs))
    except TypeError as exc:
        raise ModelConfigError("architecture.kwargs", f"the factory refused its arguments: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ModelConfigError(
            "architecture", f"the factory returned {type(model).__name__}, not a torch nn.Module"
        )
    # One dry run proves the module fits the declared sizes before any training or aggregation.
    was_training = model.training
    model.eval()
    with torch.no_grad():
        try:
            out = model(torch.zeros(2, config.input_size))
        except RuntimeError as exc:
            raise ModelConfigError(
                "input_size", f"the custom model rejects input [2, {config.input_size}]: {exc}"
            ) from None
    model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, config.output_size):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelConfigError(
            "output_size", f"the custom model outputs {shape} for 2 rows, expected (2, {config.output_size})"
        )
    return model


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies of every parameter and buffer, keyed by name in sorted order."""
    state = model.state_dict()
    return {name: state[name].detach().to("cpu", copy=True).contiguous() for name in sorted(state)}


def load_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` into ``model``; names and shapes must match exactly."""
    current = model.state_dict()
    missing = sorted(set(current) - set(state))
    unknown = sorted(set(state) - set(current))
    if missing or unknown:
        raise ModelConfigError(
            "<state>", f"state does not fit the model: missing {missing}, unknown {unknown}"
        )
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(current[name].shape):
            raise ModelConfigError(
                "<state>",
                f"{name}: shape {tuple(tensor.shape)} but the model has {tuple(current[name].shape)}",
            )
    model.load_state_dict(state, strict=True)


def predict_output(config: ModelConfig, raw: torch.Tensor) -> torch.Tensor:
    """Turn the module's raw output into predictions: class probabilities or regression values."""
    if config.task == "classification":
        return torch.softmax(raw, dim=-1)
    return raw
