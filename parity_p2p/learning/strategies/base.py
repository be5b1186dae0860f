"""The strategy abstraction: configure a round's local training, aggregate its updates."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from parity_p2p.learning.errors import LearningError
from parity_p2p.learning.strategies.aggregate import EmptyAggregation, State
from parity_p2p.learning.trainer import TrainConfig


class StrategyError(LearningError):
    """A strategy cannot aggregate these updates or was configured wrongly."""

    def __init__(self, strategy: str, reason: str) -> None:
        super().__init__(strategy, reason)
        self.strategy = strategy
        self.reason = reason

    def __str__(self) -> str:
        return f"strategy {self.strategy!r}: {self.reason}"


@dataclass(frozen=True)
class ClientUpdate:
    """One runner's contribution to a round, already decompressed.

    `delta` is local weights minus the round's global weights. `norm_factor` is FedNova's ||a_i||_1: the local
    step count for plain SGD, smaller when a proximal term damps the later steps.
    """

    delta: State
    num_examples: int
    local_steps: int
    norm_factor: float
    runner: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AggregateResult:
    """The next global state and what went into it."""

    state: State
    num_updates: int
    total_examples: int
    # Indices (in arrival order) of the updates that shaped the model; robust strategies drop some.
    included: tuple[int, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    # Updates a screen (NormScreen) set aside before the strategy saw them, with why; they are not in `included`.
    screened_out: tuple[ScreenedOut, ...] = ()
    # What the strategy carries into the next round (Strategy.server_state), filled in by whoever keeps it.
    server_state: State = field(default_factory=dict)


@dataclass(frozen=True)
class ScreenedOut:
    """One update a screen refused: its position (arrival order), runner and the reason in words."""

    index: int
    runner: str
    reason: str


def apply_delta(global_state: State, delta: State, scale: float = 1.0) -> State:
    """global + scale * delta, keeping each tensor's dtype; neither input is modified."""
    _check_keys(global_state, delta)
    result: State = {}
    for name, tensor in global_state.items():
        # One fresh float32 copy updated in place: no temporaries of the model's size.
        updated = tensor.to(torch.float32, copy=True).add_(delta[name].to(torch.float32), alpha=scale)
        result[name] = updated.to(tensor.dtype)
    return result


def add_global_into(delta: State, global_state: State) -> State:
    """global + delta written into `delta`'s float32 buffers, which the caller owns and gives up.

    Aggregators own their accumulator, so reusing it for the result saves allocating (and page-faulting)
    another model-sized state every round.
    """
    _check_keys(global_state, delta)
    result: State = {}
    for name, tensor in global_state.items():
        buffer = delta[name]
        if buffer.dtype == torch.float32 and tensor.dtype == torch.float32:
            result[name] = buffer.add_(tensor)
        else:
            result[name] = (buffer.to(torch.float32) + tensor.to(torch.float32)).to(tensor.dtype)
    return result


def _check_keys(global_state: State, delta: State) -> None:
    if global_state.keys() != delta.keys():
        raise StrategyError("apply", f"delta tensors {sorted(delta)} do not match the model {sorted(global_state)}")


class Strategy(ABC):
    """Configures local training for a round and turns the round's updates into the next global state.

    Implementations override `aggregate`; variants that only change the local objective (FedProx)
    override `configure_train`. `aggregate` may get a one-shot iterator: streaming strategies read each
    update once.
    """

    name: ClassVar[str]

    def configure_train(self, round_number: int, config: TrainConfig) -> TrainConfig:
        """The training config runners use in `round_number` (default: unchanged)."""
        return config

    @abstractmethod
    def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
        """The next global state from this round's updates."""

    def server_state(self, global_state: State) -> State:
        """The tensors this strategy carries from one round to the next (FedAdam's moments; none by default):
        their values now, or their starting values, shaped after `global_state`, before any round. Nodes keep
        them in the round's model file, so whoever aggregates the next round (any runner) continues from them."""
        return {}

    def restore(self, server_state: State) -> None:
        """Continue from `server_state` (what `server_state` returned after the previous round)."""
        if server_state:
            raise StrategyError(self.name, f"keeps no state between rounds, got {sorted(server_state)[:3]}")

    def _fail(self, error: ValueError | str) -> StrategyError:
        """The typed error for a math-level failure (EmptyAggregation, mismatched layouts, bad weights)."""
        return StrategyError(self.name, str(error))


class Wrapping(Strategy):
    """A strategy around another (a screen, an attack): training and server state are the inner strategy's."""

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner

    def configure_train(self, round_number: int, config: TrainConfig) -> TrainConfig:
        return self.inner.configure_train(round_number, config)

    def server_state(self, global_state: State) -> State:
        return self.inner.server_state(global_state)

    def restore(self, server_state: State) -> None:
        self.inner.restore(server_state)


class Counted:
    """Passes updates through while counting examples, so streaming strategies can report totals."""

    def __init__(self, updates: Iterable[ClientUpdate]) -> None:
        self._updates = updates
        self.total_examples = 0
        self.count = 0

    def __iter__(self) -> Iterator[ClientUpdate]:
        for update in self._updates:
            self.total_examples += update.num_examples
            self.count += 1
            yield update


__all__ = [
    "AggregateResult",
    "ClientUpdate",
    "EmptyAggregation",
    "ScreenedOut",
    "State",
    "Strategy",
    "StrategyError",
    "Wrapping",
    "add_global_into",
    "apply_delta",
]
