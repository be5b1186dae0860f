"""FedProx (Li et al. 2020): FedAvg aggregation, local objective plus (mu / 2) * ||w - w_global||^2."""

from __future__ import annotations

import dataclasses

from parity_p2p.learning.strategies.base import StrategyError
from parity_p2p.learning.strategies.fedavg import FedAvg
from parity_p2p.learning.trainer import TrainConfig


class FedProx(FedAvg):
    """Only the round's training config differs from FedAvg: it carries the proximal coefficient mu."""

    name = "fedprox"

    def __init__(self, mu: float = 0.01) -> None:
        if mu < 0:
            raise StrategyError(self.name, f"proximal mu must be >= 0, got {mu}")
        self.mu = mu

    def configure_train(self, round_number: int, config: TrainConfig) -> TrainConfig:
        return dataclasses.replace(config, prox_mu=self.mu)
