"""Between a model's tensors and the flat vectors secure aggregation masks, and back into strategy updates."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import torch

from parity_p2p.learning.strategies import ClientUpdate, State


def vector_length(template: State) -> int:
    return sum(t.numel() for t in template.values())


def flatten(state: State) -> npt.NDArray[np.float64]:
    """Tensors in sorted name order, the order every node uses."""
    return np.concatenate([state[name].detach().to(torch.float64).reshape(-1).numpy() for name in sorted(state)])


def unflatten(vector: npt.NDArray[np.float64], template: State) -> State:
    out: State = {}
    offset = 0
    for name in sorted(template):
        size = template[name].numel()
        chunk = vector[offset : offset + size].astype(np.float32).reshape(tuple(template[name].shape))
        out[name] = torch.from_numpy(chunk.copy())
        offset += size
    return out


def mean_updates(mean: State, weights: Mapping[str, int]) -> list[ClientUpdate]:
    """One update per survivor, each carrying the secure weighted mean as its delta and its own sample count.

    Any strategy that needs only the data-size-weighted mean (docs/secagg.md) turns these into exactly the model it
    would make from the individual deltas (the weighted mean of equal deltas is that delta), and the proposal lists
    each survivor with its own data size, so contribution points stay per runner."""
    return [
        ClientUpdate(delta=mean, num_examples=weight, local_steps=1, norm_factor=1.0, runner=runner)
        for runner, weight in sorted(weights.items())
    ]
