"""A strategy's server state (FedAdam's and FedYogi's moments) kept in a round's model file, beside the model.

The chain records one model CID per round. With the state in that file, it is committed with the model: whoever
aggregates the next round (any runner, a failover leader, a node restarted from its data directory) continues
from the same state, and every verifier recomputes and checks it with the model. Its tensors are named with a
prefix no model tensor has (the model builder names them "layers.<i>.<param>"); stateless strategies add nothing,
so their model files are what they always were.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from parity_p2p.learning.codec import TensorSpec, tensor_specs
from parity_p2p.learning.strategies.aggregate import State
from parity_p2p.learning.strategies.base import Strategy, StrategyError

PREFIX = "__server__/"


def pack(model: State, server_state: State) -> dict[str, torch.Tensor]:
    """The tensors of a model file: the model's, then the server state's under PREFIX."""
    clashing = [name for name in model if name.startswith(PREFIX)]
    if clashing:
        raise StrategyError("server_state", f"model tensor names may not start with {PREFIX!r}: {clashing[:3]}")
    return {**model, **{PREFIX + name: tensor for name, tensor in server_state.items()}}


def unpack(tensors: Mapping[str, torch.Tensor]) -> tuple[State, State]:
    """(model, server state) from a model file's tensors."""
    model = {name: t for name, t in tensors.items() if not name.startswith(PREFIX)}
    server = {name.removeprefix(PREFIX): t for name, t in tensors.items() if name.startswith(PREFIX)}
    return model, server


def model_file_specs(template: State, strategy: Strategy) -> dict[str, TensorSpec]:
    """What a model file of a session with `strategy` must hold, exactly: the decoders' `expected`."""
    return tensor_specs(pack(template, strategy.server_state(template)))


def model_file_bytes(template: State, strategy: Strategy) -> int:
    """The tensor bytes of such a file (its header aside)."""
    return sum(t.numel() * t.element_size() for t in pack(template, strategy.server_state(template)).values())
