"""Client-level DP-FedAvg (McMahan et al. 2018) as a strategy; see `parity_p2p.learning.privacy`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import torch

from parity_p2p.learning.privacy import DpConfig, clip_update
from parity_p2p.learning.strategies.aggregate import State, weighted_average
from parity_p2p.learning.strategies.base import AggregateResult, ClientUpdate, Counted, Strategy, add_global_into


def _round_generator(seed: int, round_number: int) -> torch.Generator:
    # Noise must be reproducible by every node that re-checks the aggregate, so it is seeded from the
    # session seed and round. (Verifiers learn the noise, which is fine against outside observers of the
    # model; it is not protection against the participants themselves.)
    digest = hashlib.sha256(f"dp-fedavg:{seed}:{round_number}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "big"))


class DpFedAvg(Strategy):
    """Client-level DP-FedAvg: clip, equal-weight average (streaming), Gaussian noise std z * clip / n."""

    name = "dp_fedavg"

    def __init__(self, noise_multiplier: float, l2_norm_clip: float, seed: int = 0) -> None:
        config = DpConfig(noise_multiplier=noise_multiplier, l2_norm_clip=l2_norm_clip)
        self.noise_multiplier = config.noise_multiplier
        self.l2_norm_clip = config.l2_norm_clip
        self.seed = seed

    def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
        counted = Counted(updates)
        norms: list[float] = []

        def clipped() -> Iterable[tuple[State, float]]:
            for update in counted:
                delta, norm = clip_update(update.delta, self.l2_norm_clip)
                norms.append(norm)
                yield delta, 1.0

        try:
            mean, _, count = weighted_average(clipped())
        except ValueError as error:
            raise self._fail(error) from None
        std = self.noise_multiplier * self.l2_norm_clip / count
        generator = _round_generator(self.seed, round_number)
        for name in sorted(mean):
            mean[name].add_(torch.randn(mean[name].shape, generator=generator) * std)
        return AggregateResult(
            state=add_global_into(mean, global_state),
            num_updates=count,
            total_examples=counted.total_examples,
            included=tuple(range(count)),
            metrics={
                "noise_std": std,
                "clipped_fraction": sum(n > self.l2_norm_clip for n in norms) / count,
                "median_update_norm": sorted(norms)[count // 2],
            },
        )
