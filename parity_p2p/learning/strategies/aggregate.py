"""Aggregation math as pure functions over state dicts (name -> tensor).

Every function takes model *deltas* (local weights minus global weights), so the strategies only add the
result to the global state. Coordinate-wise statistics (median, trimmed mean) and Krum's distances are
shift-invariant, so working on deltas gives the same model as working on full weights.

Memory: the streaming functions keep one float32 accumulator per tensor, O(P) for P parameters, whatever the
number of updates. Median and trimmed mean stack all n updates of one tensor at a time: O(n * P) for the held
updates plus O(n * largest tensor) scratch. Krum holds all n updates flattened (O(n * P)) plus an n x n
distance matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

State = dict[str, torch.Tensor]

# Accumulate in float32 at least: float16 deltas summed over many runners lose precision quickly.
_ACCUMULATOR_DTYPE = torch.float32


class EmptyAggregation(ValueError):
    """Raised by the pure functions when there is nothing to aggregate; strategies translate it."""


def _new_accumulator(first: State, weight: float) -> State:
    # Starting from weight * first update saves a zero-fill pass over the model.
    return {name: t.to(_ACCUMULATOR_DTYPE, copy=True).mul_(weight) for name, t in first.items()}


def _check_same_layout(reference: State, other: State) -> None:
    if reference.keys() != other.keys():
        missing = sorted(reference.keys() - other.keys())
        extra = sorted(other.keys() - reference.keys())
        raise ValueError(f"update tensors differ: missing {missing}, unexpected {extra}")
    for name, tensor in reference.items():
        if other[name].shape != tensor.shape:
            raise ValueError(f"tensor {name!r}: shape {tuple(other[name].shape)} != {tuple(tensor.shape)}")


def weighted_average(weighted_deltas: Iterable[tuple[State, float]]) -> tuple[State, float, int]:
    """Running weighted mean: sum_i w_i * delta_i / sum_i w_i, reading each delta once.

    Returns (mean, total weight, number of deltas). Memory is one accumulator, not one per delta.
    """
    accumulator: State | None = None
    total_weight = 0.0
    count = 0
    for delta, weight in weighted_deltas:
        if weight < 0:
            raise ValueError(f"negative aggregation weight {weight}")
        if accumulator is None:
            accumulator = _new_accumulator(delta, weight)
        else:
            _check_same_layout(accumulator, delta)
            for name, tensor in delta.items():
                # add_ with alpha is one fused pass: acc += w * delta, no temporary of the tensor's size.
                accumulator[name].add_(tensor.to(_ACCUMULATOR_DTYPE), alpha=weight)
        total_weight += weight
        count += 1
    if accumulator is None:
        raise EmptyAggregation("no updates to aggregate")
    if total_weight <= 0:
        raise ValueError("aggregation weights sum to zero")
    for tensor in accumulator.values():
        tensor.div_(total_weight)
    return accumulator, total_weight, count


def fednova(updates: Iterable[tuple[State, float, float]]) -> tuple[State, float, int]:
    """FedNova, Wang et al. 2020, Eq. 6, from (delta_i, n_i, ||a_i||_1) triples, streaming.

    With p_i = n_i / n, local change Delta_i = x_i - x, normalised gradient d_i = -Delta_i / (eta ||a_i||_1):
        x_next = x - tau_eff * eta * sum_i p_i d_i = x + tau_eff * sum_i p_i Delta_i / ||a_i||_1,
        tau_eff = sum_i p_i ||a_i||_1.
    For plain SGD ||a_i||_1 = tau_i (local steps). Both sums are running sums, so one pass suffices:
        S = sum_i n_i Delta_i / ||a_i||_1, T = sum_i n_i ||a_i||_1, N = sum_i n_i;  result = (T / N) * S / N.
    Returns (aggregated delta, tau_eff, number of updates).
    """
    accumulator: State | None = None
    total_examples = 0.0
    weighted_norm_sum = 0.0
    count = 0
    for delta, examples, a_norm in updates:
        if examples < 0:
            raise ValueError(f"negative data size {examples}")
        if a_norm <= 0:
            raise ValueError(f"FedNova needs a positive ||a||_1 (local steps), got {a_norm}")
        scale = examples / a_norm
        if accumulator is None:
            accumulator = _new_accumulator(delta, scale)
        else:
            _check_same_layout(accumulator, delta)
            for name, tensor in delta.items():
                accumulator[name].add_(tensor.to(_ACCUMULATOR_DTYPE), alpha=scale)
        total_examples += examples
        weighted_norm_sum += examples * a_norm
        count += 1
    if accumulator is None:
        raise EmptyAggregation("no updates to aggregate")
    if total_examples <= 0:
        raise ValueError("FedNova data sizes sum to zero")
    tau_eff = weighted_norm_sum / total_examples
    for tensor in accumulator.values():
        tensor.mul_(tau_eff / total_examples)
    return accumulator, tau_eff, count


def _stack(deltas: Sequence[State], name: str) -> torch.Tensor:
    return torch.stack([d[name].to(_ACCUMULATOR_DTYPE) for d in deltas])


def _require(deltas: Sequence[State]) -> State:
    if not deltas:
        raise EmptyAggregation("no updates to aggregate")
    first = deltas[0]
    for other in deltas[1:]:
        _check_same_layout(first, other)
    return first


def coordinate_median(deltas: Sequence[State]) -> State:
    """Coordinate-wise median (Yin et al. 2018). With an even count, the mean of the two middle values
    (as numpy.median), not torch.median's lower middle, so the result does not depend on ordering."""
    first = _require(deltas)
    result: State = {}
    for name in first:
        # sort, not torch.quantile: quantile refuses inputs above 2**24 elements.
        ordered, _ = torch.sort(_stack(deltas, name), dim=0)
        n = ordered.shape[0]
        result[name] = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    return result


def trimmed_mean(deltas: Sequence[State], trim_fraction: float) -> State:
    """Coordinate-wise trimmed mean: drop the floor(trim_fraction * n) largest and smallest values of every
    coordinate, average the rest (Yin et al. 2018)."""
    if not 0 <= trim_fraction < 0.5:
        raise ValueError(f"trim_fraction must be in [0, 0.5), got {trim_fraction}")
    first = _require(deltas)
    n = len(deltas)
    cut = int(trim_fraction * n)
    result: State = {}
    for name in first:
        ordered, _ = torch.sort(_stack(deltas, name), dim=0)
        result[name] = ordered[cut : n - cut].mean(dim=0)
    return result


def flatten(state: State) -> torch.Tensor:
    """All tensors of a state in name order as one float32 vector."""
    return torch.cat([state[name].reshape(-1).to(_ACCUMULATOR_DTYPE) for name in sorted(state)])


def krum_scores(deltas: Sequence[State], byzantine: int) -> torch.Tensor:
    """Krum score of each update (Blanchard et al. 2017): the sum of squared L2 distances to its
    n - f - 2 nearest other updates. Needs n > 2f + 2."""
    _require(deltas)
    n = len(deltas)
    if byzantine < 0 or n <= 2 * byzantine + 2:
        raise ValueError(f"Krum needs n > 2f + 2, got n={n}, f={byzantine}")
    flat = [flatten(d).to(torch.float64) for d in deltas]
    # Explicit differences, not cdist: its matmul shortcut cancels digits, and every node must rank alike.
    squared = torch.zeros((n, n), dtype=torch.float64)
    for i in range(n):
        for j in range(i + 1, n):
            squared[i, j] = squared[j, i] = torch.sum((flat[i] - flat[j]) ** 2)
    neighbours = n - byzantine - 2
    # Sorting each row puts the zero self-distance first: skip it, sum the next n - f - 2.
    nearest, _ = torch.sort(squared, dim=1)
    return nearest[:, 1 : 1 + neighbours].sum(dim=1)


def multi_krum(deltas: Sequence[State], byzantine: int, selected: int) -> tuple[State, list[int]]:
    """Average of the `selected` updates with the lowest Krum scores (El Mhamdi et al. 2018); Krum is
    selected=1. Ties break towards the lower index so every node picks the same set."""
    scores = krum_scores(deltas, byzantine)
    if not 1 <= selected <= len(deltas):
        raise ValueError(f"multi-Krum must select between 1 and {len(deltas)} updates, got {selected}")
    order = sorted(range(len(deltas)), key=lambda i: (float(scores[i]), i))
    chosen = sorted(order[:selected])
    mean, _, _ = weighted_average((deltas[i], 1.0) for i in chosen)
    return mean, chosen
