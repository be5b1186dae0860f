"""Differential privacy: client-level DP-FedAvg (McMahan et al. 2018) and the RDP accountant.

DP-SGD inside local training (per-sample clipping with Opacus) lives in the trainer (`TrainConfig.dp_sgd`),
the DP-FedAvg strategy in `strategies/dp_fedavg.py`; this module holds the settings, clipping and the
accounting they share.

Client-level DP-FedAvg, with every runner participating each round (sampling rate q = 1):
  1. each update's L2 norm (over all tensors) is clipped to `l2_norm_clip`;
  2. the clipped updates are averaged with equal weights (a runner's data size would otherwise scale its
     sensitivity);
  3. Gaussian noise of std `noise_multiplier * l2_norm_clip / n` is added to the average: one runner changes
     the sum by at most `clip`, so this is the Gaussian mechanism with multiplier `noise_multiplier`.
The accountant composes rounds with Rényi DP of the (subsampled) Gaussian mechanism (Mironov et al.
2017, 2019) and converts to (epsilon, delta) with Balle et al. 2020, via Opacus' analysis functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch

from parity_p2p.learning.errors import LearningError
from parity_p2p.learning.trainer import DpSgdConfig

State = dict[str, torch.Tensor]


class PrivacyConfigError(LearningError):
    """A differential-privacy setting is invalid; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"privacy: {self.field}: {self.reason}"


@dataclass(frozen=True)
class DpConfig:
    """The session's DP settings. mode "client": DP-FedAvg at aggregation (protects a runner's whole shard);
    mode "sgd": DP-SGD in local training (protects one row of a runner's shard)."""

    noise_multiplier: float
    l2_norm_clip: float
    mode: Literal["client", "sgd"] = "client"
    delta: float = 1e-5

    def __post_init__(self) -> None:
        if not (self.noise_multiplier > 0 and math.isfinite(self.noise_multiplier)):
            raise PrivacyConfigError("noise_multiplier", f"must be a finite number > 0, got {self.noise_multiplier}")
        if not (self.l2_norm_clip > 0 and math.isfinite(self.l2_norm_clip)):
            raise PrivacyConfigError("l2_norm_clip", f"must be a finite number > 0, got {self.l2_norm_clip}")
        if self.mode not in ("client", "sgd"):
            raise PrivacyConfigError("mode", f"must be 'client' or 'sgd', got {self.mode!r}")
        if not 0 < self.delta < 1:
            raise PrivacyConfigError("delta", f"must be in (0, 1), got {self.delta}")

    def dp_sgd(self) -> DpSgdConfig:
        return DpSgdConfig(noise_multiplier=self.noise_multiplier, l2_norm_clip=self.l2_norm_clip)


def l2_norm(state: State) -> float:
    """The L2 norm of all tensors of a state taken together."""
    return math.sqrt(sum(float(torch.sum(t.to(torch.float64) ** 2)) for t in state.values()))


def clip_update(delta: State, l2_norm_clip: float) -> tuple[State, float]:
    """delta * min(1, clip / ||delta||): returns the clipped delta and the norm before clipping."""
    norm = l2_norm(delta)
    scale = min(1.0, l2_norm_clip / norm) if norm > 0 else 1.0
    return {name: tensor.to(torch.float32) * scale for name, tensor in delta.items()}, norm


@dataclass
class RdpAccountant:
    """Composes Gaussian mechanisms with Poisson sampling rate q over steps; epsilon(delta) at any time.

    Client-level DP-FedAvg with all runners each round is one step per round with q = 1. DP-SGD is one
    step per local batch with q = batch size / shard size.
    """

    history: list[tuple[float, float, int]] = field(default_factory=list)

    def record(self, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        if not noise_multiplier > 0:
            raise PrivacyConfigError("noise_multiplier", f"must be > 0, got {noise_multiplier}")
        if not 0 < sample_rate <= 1:
            raise PrivacyConfigError("sample_rate", f"must be in (0, 1], got {sample_rate}")
        if steps < 0:
            raise PrivacyConfigError("steps", f"must be >= 0, got {steps}")
        if steps:
            self.history.append((noise_multiplier, sample_rate, steps))

    def epsilon(self, delta: float) -> float:
        """The smallest epsilon over the RDP orders for this delta; 0 before any step."""
        if not 0 < delta < 1:
            raise PrivacyConfigError("delta", f"must be in (0, 1), got {delta}")
        if not self.history:
            return 0.0
        # Imported here: importing opacus pulls in its whole package (~2 s).
        from opacus.accountants.analysis import rdp
        from opacus.accountants.rdp import RDPAccountant

        orders = RDPAccountant.DEFAULT_ALPHAS
        total = sum(
            rdp.compute_rdp(q=q, noise_multiplier=z, steps=steps, orders=orders) for z, q, steps in self.history
        )
        epsilon, _ = rdp.get_privacy_spent(orders=orders, rdp=total, delta=delta)
        return float(epsilon)
