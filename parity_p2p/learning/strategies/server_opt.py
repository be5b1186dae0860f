"""Adaptive server optimisers, Reddi et al. 2021 ("Adaptive Federated Optimization", Algorithm 2).

The FedAvg mean delta is treated as a pseudo-gradient step Delta_t:
    m_t = beta1 m_{t-1} + (1 - beta1) Delta_t
    v_t = beta2 v_{t-1} + (1 - beta2) Delta_t^2                         (FedAdam)
    v_t = v_{t-1} - (1 - beta2) Delta_t^2 sign(v_{t-1} - Delta_t^2)      (FedYogi)
    x_{t+1} = x_t + eta m_t / (sqrt(v_t) + tau)
m and v live in the strategy object between rounds of one process; across processes they travel as the
strategy's `server_state` ("m/<tensor>", "v/<tensor>", float32), which nodes keep in each round's model file, so
any runner that aggregates or verifies the next round continues from the same moments.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable

import torch

from parity_p2p.learning.strategies.aggregate import State, weighted_average
from parity_p2p.learning.strategies.base import (
    AggregateResult,
    ClientUpdate,
    Counted,
    Strategy,
    StrategyError,
)


class _AdaptiveServer(Strategy):
    def __init__(self, server_lr: float = 0.03, beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3) -> None:
        for label, value in (("server_lr", server_lr), ("tau", tau)):
            if value <= 0:
                raise StrategyError(self.name, f"{label} must be > 0, got {value}")
        for label, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= value < 1:
                raise StrategyError(self.name, f"{label} must be in [0, 1), got {value}")
        self.server_lr, self.beta1, self.beta2, self.tau = server_lr, beta1, beta2, tau
        self._m: State = {}
        self._v: State = {}

    def server_state(self, global_state: State) -> State:
        state: State = {}
        for name, tensor in global_state.items():
            state[f"m/{name}"] = self._m.get(name, torch.zeros(tensor.shape, dtype=torch.float32))
            state[f"v/{name}"] = self._v.get(name, torch.full(tensor.shape, self.tau**2, dtype=torch.float32))
        return state

    def restore(self, server_state: State) -> None:
        m = {k.removeprefix("m/"): t for k, t in server_state.items() if k.startswith("m/")}
        v = {k.removeprefix("v/"): t for k, t in server_state.items() if k.startswith("v/")}
        if m.keys() != v.keys() or len(m) + len(v) != len(server_state):
            got = sorted(server_state)[:4]
            raise StrategyError(self.name, f"server state must hold m/<tensor> and v/<tensor> pairs, got {got}")
        if any(not torch.isfinite(t).all() for t in server_state.values()) or any((t < 0).any() for t in v.values()):
            raise StrategyError(self.name, "server state has non-finite moments or a negative second moment")
        self._m = {k: t.to(torch.float32) for k, t in m.items()}
        self._v = {k: t.to(torch.float32) for k, t in v.items()}

    @abstractmethod
    def _second_moment(self, previous: torch.Tensor, squared: torch.Tensor) -> torch.Tensor:
        """The second-moment update that tells FedAdam and FedYogi apart."""

    def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
        counted = Counted(updates)
        try:
            mean, _, count = weighted_average((u.delta, float(u.num_examples)) for u in counted)
        except ValueError as error:
            raise self._fail(error) from None
        new_state: State = {}
        for name, tensor in global_state.items():
            if name not in mean:
                raise self._fail(f"updates lack tensor {name!r}")
            delta = mean[name]
            # Reddi et al. start v at tau^2 so the first step is not divided by ~0.
            m = self._m.get(name, torch.zeros(delta.shape, dtype=torch.float32))
            v = self._v.get(name, torch.full(delta.shape, self.tau**2, dtype=torch.float32))
            if m.shape != delta.shape or v.shape != delta.shape:
                raise self._fail(f"server state of {name!r} is shaped {tuple(m.shape)}, not {tuple(delta.shape)}")
            m = self.beta1 * m + (1 - self.beta1) * delta
            v = self._second_moment(v, delta * delta)
            self._m[name], self._v[name] = m, v
            step = self.server_lr * m / (v.sqrt() + self.tau)
            new_state[name] = (tensor.to(torch.float32) + step).to(tensor.dtype)
        return AggregateResult(
            state=new_state,
            num_updates=count,
            total_examples=counted.total_examples,
            included=tuple(range(count)),
        )


class FedAdam(_AdaptiveServer):
    name = "fedadam"

    def _second_moment(self, previous: torch.Tensor, squared: torch.Tensor) -> torch.Tensor:
        return self.beta2 * previous + (1 - self.beta2) * squared


class FedYogi(_AdaptiveServer):
    name = "fedyogi"

    def _second_moment(self, previous: torch.Tensor, squared: torch.Tensor) -> torch.Tensor:
        return previous - (1 - self.beta2) * squared * torch.sign(previous - squared)
