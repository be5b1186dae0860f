"""Split a dataset's rows among runners, identically on every machine.

The result depends only on (labels, sorted runner ids, spec, seed): runner ids are sorted inside, and
every random draw comes from a PCG64 generator seeded by a hash of all of them. No coordinator needed.

Strategies
- ``random``: a shuffled split into near-equal shards.
- ``stratified``: every shard keeps the class balance (per-class counts differ by at most one).
- ``non_iid``: for each class, the shares of the runners are a Dirichlet(alpha) draw, built from
  Gamma(alpha, 1) draws normalised to sum 1. Lower alpha gives more heterogeneous shards.
- ``label_skew``: each runner sees ``classes_per_runner`` classes; a class's rows are split evenly among
  the runners that hold it.

``min_samples``: every runner's own (disjoint) rows number at least this. ``non_iid`` moves rows from the
largest shards to shards below the minimum (only as many as needed); other strategies raise
:class:`PartitionError` when a shard would be too small. ``overlap_ratio`` r: after the disjoint split,
each runner borrows ``round(r / (1 - r) * own)`` distinct rows from other runners' shards, so that about
a fraction r of its final shard is shared.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from parity_p2p.learning.errors import PartitionError
from parity_p2p.learning.seeding import generator

Strategy = Literal["random", "non_iid", "stratified", "label_skew"]
STRATEGIES: tuple[Strategy, ...] = ("random", "non_iid", "stratified", "label_skew")
Shards = dict[str, npt.NDArray[np.int64]]


@dataclass(frozen=True)
class SplitSpec:
    """How to split: the strategy and its parameters (validated on construction)."""

    strategy: Strategy = "random"
    alpha: float = 0.5
    min_samples: int = 1
    overlap_ratio: float = 0.0
    classes_per_runner: int = 2

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise PartitionError(
                f"unknown strategy {self.strategy!r}; expected one of {', '.join(STRATEGIES)}"
            )
        if isinstance(self.alpha, bool) or not (math.isfinite(self.alpha) and self.alpha > 0):
            raise PartitionError(f"alpha must be a positive finite number, got {self.alpha}")
        if (
            isinstance(self.min_samples, bool)
            or not isinstance(self.min_samples, int)
            or self.min_samples < 0
        ):
            raise PartitionError(f"min_samples must be a non-negative integer, got {self.min_samples!r}")
        if not (0 <= self.overlap_ratio < 1):
            raise PartitionError(f"overlap_ratio must be in [0, 1), got {self.overlap_ratio}")
        if (
            isinstance(self.classes_per_runner, bool)
            or not isinstance(self.classes_per_runner, int)
            or self.classes_per_runner < 1
        ):
            raise PartitionError(
                f"classes_per_runner must be a positive integer, got {self.classes_per_runner!r}"
            )


def partition(
    labels: npt.ArrayLike, runner_ids: Sequence[str], spec: SplitSpec, seed: bytes
) -> dict[str, npt.NDArray[np.int64]]:
    """Row indices (sorted int64 arrays) of each runner's shard, keyed by runner id in sorted order."""
    y = np.asarray(labels)
    runners = _check_runners(runner_ids)
    if y.ndim != 1 or len(y) == 0:
        raise PartitionError(f"labels must be a non-empty vector, got shape {y.shape}")
    needs_classes = spec.strategy != "random"
    if needs_classes and not np.issubdtype(y.dtype, np.integer):
        raise PartitionError(f"strategy {spec.strategy!r} needs integer class labels, got dtype {y.dtype}")
    if needs_classes and y.min() < 0:
        raise PartitionError("class labels must be non-negative indices")
    rng = generator(
        seed,
        "partition",
        spec=asdict(spec),
        runners=list(runners),
        rows=len(y),
        labels=hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest() + str(y.dtype),
    )
    need = spec.min_samples * len(runners)
    if need > len(y):
        raise PartitionError(
            f"min_samples={spec.min_samples} for {len(runners)} runners needs {need} rows; there are {len(y)}"
        )
    if spec.strategy == "random":
        cores = _random(len(y), len(runners), rng)
    elif spec.strategy == "stratified":
        cores = _stratified(y.astype(np.int64), len(runners), rng)
    elif spec.strategy == "non_iid":
        cores = _dirichlet(y.astype(np.int64), len(runners), spec.alpha, rng)
        cores = _top_up(cores, spec.min_samples)
    else:
        cores = _label_skew(y.astype(np.int64), len(runners), spec.classes_per_runner, rng)
    for runner, core in zip(runners, cores, strict=True):
        if len(core) < spec.min_samples:
            raise PartitionError(
                f"runner {runner!r} would get {len(core)} rows under {spec.strategy!r}, below "
                f"min_samples={spec.min_samples} (fewer runners or more classes_per_runner may help)"
            )
    shards = _add_overlap(cores, len(y), spec.overlap_ratio, rng)
    return {runner: np.sort(shard) for runner, shard in zip(runners, shards, strict=True)}


def _check_runners(runner_ids: Sequence[str]) -> list[str]:
    if isinstance(runner_ids, str):
        raise PartitionError("runner_ids must be a sequence of ids, not one string")
    runners = sorted(runner_ids)
    if not runners:
        raise PartitionError("no runners to partition among")
    if any(not isinstance(r, str) or not r for r in runners):
        raise PartitionError("every runner id must be a non-empty string")
    if len(set(runners)) != len(runners):
        raise PartitionError("runner ids must be distinct")
    return runners


def _random(rows: int, k: int, rng: np.random.Generator) -> list[npt.NDArray[np.int64]]:
    return [part.astype(np.int64) for part in np.array_split(rng.permutation(rows), k)]


def _class_rows(y: npt.NDArray[np.int64], rng: np.random.Generator) -> list[npt.NDArray[np.int64]]:
    """For each class index 0..max, its rows in a random order."""
    return [rng.permutation(np.flatnonzero(y == c)).astype(np.int64) for c in range(int(y.max()) + 1)]


def _stratified(y: npt.NDArray[np.int64], k: int, rng: np.random.Generator) -> list[npt.NDArray[np.int64]]:
    # Deal the class-sorted rows round robin: each class spreads over all runners within one row, and
    # the shard sizes differ by at most one because the dealing continues across classes.
    dealt = np.concatenate(_class_rows(y, rng))
    return [dealt[i::k] for i in range(k)]


def dirichlet_shares(alpha: float, k: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """One Dirichlet(alpha, ..., alpha) draw over k runners, built from independent Gamma(alpha, 1) draws."""
    gammas = rng.gamma(shape=alpha, scale=1.0, size=k)
    total = gammas.sum()
    if total <= 0 or not math.isfinite(total):
        # At tiny alpha every draw can underflow to 0; the Dirichlet's limit is all mass on one runner.
        shares = np.zeros(k)
        shares[rng.integers(k)] = 1.0
        return shares
    return np.asarray(gammas / total, dtype=np.float64)


def _dirichlet(
    y: npt.NDArray[np.int64], k: int, alpha: float, rng: np.random.Generator
) -> list[npt.NDArray[np.int64]]:
    parts: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(k)]
    for rows in _class_rows(y, rng):
        shares = dirichlet_shares(alpha, k, rng)
        cuts = np.round(np.cumsum(shares)[:-1] * len(rows)).astype(np.int64)
        for i, piece in enumerate(np.split(rows, cuts)):
            parts[i].append(piece)
    return [np.concatenate(p) if p else np.empty(0, dtype=np.int64) for p in parts]


def _top_up(cores: list[npt.NDArray[np.int64]], minimum: int) -> list[npt.NDArray[np.int64]]:
    """Move rows from the largest shards into shards below ``minimum`` (needs k * minimum <= rows)."""
    lists = [list(core) for core in cores]
    for i in range(len(lists)):
        while len(lists[i]) < minimum:
            donor = max(range(len(lists)), key=lambda j: (len(lists[j]), -j))
            # Taking the donor's last row is random: rows within each class piece are shuffled.
            take = min(minimum - len(lists[i]), len(lists[donor]) - minimum)
            lists[i].extend(lists[donor][-take:])
            del lists[donor][-take:]
    return [np.asarray(rows, dtype=np.int64) for rows in lists]


def _label_skew(
    y: npt.NDArray[np.int64], k: int, per_runner: int, rng: np.random.Generator
) -> list[npt.NDArray[np.int64]]:
    present = np.unique(y)
    if per_runner > len(present):
        raise PartitionError(
            f"classes_per_runner={per_runner} but the labels hold only {len(present)} classes"
        )
    if k * per_runner < len(present):
        raise PartitionError(
            f"{k} runners x classes_per_runner={per_runner} cover only {k * per_runner} of {len(present)} "
            "classes; some rows would belong to no runner"
        )
    order = rng.permutation(present)
    # Consecutive windows over the shuffled classes, wrapping around, so every class has a holder.
    holders: dict[int, list[int]] = {int(c): [] for c in present}
    for i in range(k):
        for j in range(per_runner):
            holders[int(order[(i * per_runner + j) % len(order)])].append(i)
    parts: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(k)]
    for c in present:
        rows = rng.permutation(np.flatnonzero(y == c)).astype(np.int64)
        owners = holders[int(c)]
        # Rotate which holder gets the larger pieces so remainders do not always land on the same runner.
        start = int(rng.integers(len(owners)))
        for n, piece in enumerate(np.array_split(rows, len(owners))):
            parts[owners[(start + n) % len(owners)]].append(piece)
    return [np.concatenate(p) if p else np.empty(0, dtype=np.int64) for p in parts]


def _add_overlap(
    cores: list[npt.NDArray[np.int64]], rows: int, ratio: float, rng: np.random.Generator
) -> list[npt.NDArray[np.int64]]:
    if ratio == 0 or len(cores) == 1:
        return cores
    owner = np.empty(rows, dtype=np.int64)
    for i, core in enumerate(cores):
        owner[core] = i
    shards = []
    for i, core in enumerate(cores):
        others = np.flatnonzero(owner != i)
        borrow = min(round(ratio / (1 - ratio) * len(core)), len(others))
        extra = rng.choice(others, size=borrow, replace=False) if borrow else np.empty(0, dtype=np.int64)
        shards.append(np.concatenate([core, extra.astype(np.int64)]))
    return shards


def label_entropy(labels: npt.ArrayLike, num_classes: int) -> float:
    """Shannon entropy (nats) of a shard's label distribution; 0 for an empty shard."""
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0:
        return 0.0
    p = np.bincount(y, minlength=num_classes) / y.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())
