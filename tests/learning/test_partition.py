"""Partitioners: coverage, disjointness, declared overlap, min_samples, reproducibility, heterogeneity."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from parity_p2p.learning.errors import PartitionError
from parity_p2p.learning.partition import (
    STRATEGIES,
    SplitSpec,
    dirichlet_shares,
    label_entropy,
    partition,
)
from parity_p2p.learning.seeding import generator

SEED = b"\x01" * 32


def runners(k: int) -> list[str]:
    return [f"runner-{i:02d}" for i in range(k)]


def balanced_labels(classes: int, per_class: int) -> npt.NDArray[np.int64]:
    return np.repeat(np.arange(classes, dtype=np.int64), per_class)


@st.composite
def cases(draw: st.DrawFn) -> tuple[npt.NDArray[np.int64], list[str], SplitSpec, bytes]:
    classes = draw(st.integers(1, 6))
    labels = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=1, max_size=300)), dtype=np.int64)
    k = draw(st.integers(1, 8))
    strategy = draw(st.sampled_from(STRATEGIES))
    present = len(np.unique(labels))
    per_runner = draw(st.integers(1, present))
    if strategy == "label_skew":
        assume(k * per_runner >= present)
    spec = SplitSpec(
        strategy=strategy,
        alpha=draw(st.sampled_from([0.01, 0.1, 0.5, 1.0, 10.0])),
        min_samples=draw(st.integers(0, max(0, len(labels) // k))),
        overlap_ratio=draw(st.sampled_from([0.0, 0.1, 0.3, 0.6])),
        classes_per_runner=per_runner,
    )
    ids = [draw(st.text("abcdefgh0123", min_size=1, max_size=6)) for _ in range(k)]
    assume(len(set(ids)) == k)
    return labels, ids, spec, draw(st.binary(min_size=0, max_size=32))


def try_partition(
    labels: npt.NDArray[np.int64], ids: list[str], spec: SplitSpec, seed: bytes
) -> dict[str, npt.NDArray[np.int64]]:
    try:
        return partition(labels, ids, spec, seed)
    except PartitionError as exc:
        # Only a min_samples that the strategy cannot meet may refuse a well-formed case.
        assert "min_samples" in exc.reason
        assume(False)
        raise


@settings(max_examples=300, deadline=None)
@given(cases())
def test_shards_cover_every_row_respect_min_samples_and_share_only_the_declared_overlap(
    case: tuple[npt.NDArray[np.int64], list[str], SplitSpec, bytes],
) -> None:
    labels, ids, spec, seed = case
    shards = try_partition(labels, ids, spec, seed)
    assert list(shards) == sorted(ids)
    everything = np.concatenate(list(shards.values()))
    assert set(everything.tolist()) == set(range(len(labels)))
    for shard in shards.values():
        assert shard.dtype == np.int64
        assert len(np.unique(shard)) == len(shard)  # no row twice within a shard
        assert np.all(np.diff(shard) > 0)  # sorted
    surplus = len(everything) - len(labels)  # rows held by more than one runner, counted per extra holder
    if spec.overlap_ratio == 0 or len(ids) == 1:
        assert surplus == 0  # exactly disjoint
        for shard in shards.values():
            assert len(shard) >= spec.min_samples
    else:
        # Each runner borrows min(round(r / (1 - r) * own), rows it does not own): the surplus is r / (1 - r)
        # of all rows, so about a fraction r of every shard is shared; capping can only lower it.
        r, n, k = spec.overlap_ratio, len(labels), len(ids)
        assert surplus <= r / (1 - r) * n + k / 2
        largest_core = -(-n // k)
        if spec.strategy in ("random", "stratified") and r / (1 - r) * largest_core <= n - largest_core:
            assert abs(surplus - r / (1 - r) * n) <= k / 2
        for shard in shards.values():
            assert len(shard) >= spec.min_samples


@settings(max_examples=100, deadline=None)
@given(cases(), st.randoms(use_true_random=False))
def test_result_is_reproducible_and_independent_of_runner_order(
    case: tuple[npt.NDArray[np.int64], list[str], SplitSpec, bytes], shuffler: random.Random
) -> None:
    labels, ids, spec, seed = case
    first = try_partition(labels, ids, spec, seed)
    shuffled = list(ids)
    shuffler.shuffle(shuffled)
    again = partition(labels.copy(), shuffled, spec, bytes(seed))
    assert first.keys() == again.keys()
    for runner in first:
        np.testing.assert_array_equal(first[runner], again[runner])


def digest(shards: dict[str, npt.NDArray[np.int64]]) -> str:
    h = hashlib.sha256()
    for runner, rows in shards.items():
        h.update(runner.encode() + b":" + rows.astype("<i8").tobytes())
    return h.hexdigest()


def test_different_seeds_or_parameters_give_different_partitions() -> None:
    labels = balanced_labels(5, 40)
    base = digest(partition(labels, runners(4), SplitSpec("non_iid", alpha=0.5), SEED))
    assert base != digest(partition(labels, runners(4), SplitSpec("non_iid", alpha=0.5), b"other"))
    assert base != digest(partition(labels, runners(4), SplitSpec("non_iid", alpha=0.6), SEED))
    assert base != digest(partition(labels, runners(5), SplitSpec("non_iid", alpha=0.5), SEED))


def test_stratified_keeps_class_balance() -> None:
    labels = np.array([0] * 50 + [1] * 30 + [2] * 17, dtype=np.int64)
    shards = partition(labels, runners(4), SplitSpec("stratified"), SEED)
    counts = np.array([np.bincount(labels[s], minlength=3) for s in shards.values()])
    assert np.all(counts.max(axis=0) - counts.min(axis=0) <= 1)
    sizes = [len(s) for s in shards.values()]
    assert max(sizes) - min(sizes) <= 1


def test_random_gives_near_equal_shards() -> None:
    shards = partition(np.zeros(103), runners(10), SplitSpec("random"), SEED)
    assert sorted(len(s) for s in shards.values()) == [10] * 7 + [11] * 3


def test_label_skew_gives_each_runner_its_classes() -> None:
    labels = balanced_labels(10, 30)
    shards = partition(labels, runners(5), SplitSpec("label_skew", classes_per_runner=2), SEED)
    seen = [set(np.unique(labels[s]).tolist()) for s in shards.values()]
    assert all(len(classes) == 2 for classes in seen)
    assert set().union(*seen) == set(range(10))


def test_label_skew_cannot_leave_classes_without_a_runner() -> None:
    with pytest.raises(PartitionError, match="cover only 4 of 10 classes"):
        partition(balanced_labels(10, 5), runners(2), SplitSpec("label_skew", classes_per_runner=2), SEED)
    with pytest.raises(PartitionError, match="only 3 classes"):
        partition(balanced_labels(3, 5), runners(2), SplitSpec("label_skew", classes_per_runner=4), SEED)


def test_min_samples_is_met_even_at_tiny_alpha() -> None:
    labels = balanced_labels(10, 30)
    shards = partition(labels, runners(10), SplitSpec("non_iid", alpha=0.01, min_samples=25), SEED)
    assert min(len(s) for s in shards.values()) >= 25


def test_impossible_min_samples_says_why() -> None:
    with pytest.raises(PartitionError, match="needs 110 rows; there are 100"):
        partition(np.zeros(100, dtype=np.int64), runners(10), SplitSpec("random", min_samples=11), SEED)
    labels = np.array([0] * 90 + [1] * 10, dtype=np.int64)
    with pytest.raises(PartitionError, match="below min_samples=20"):
        partition(labels, runners(4), SplitSpec("label_skew", classes_per_runner=1, min_samples=20), SEED)


def test_heterogeneity_rises_as_alpha_falls() -> None:
    """Mean per-shard label entropy, averaged over seeds, falls strictly as alpha falls."""
    labels = balanced_labels(10, 100)
    alphas = [100.0, 1.0, 0.1, 0.01]
    entropy = []
    for alpha in alphas:
        per_seed = []
        for s in range(8):
            shards = partition(labels, runners(10), SplitSpec("non_iid", alpha=alpha, min_samples=0), bytes([s]))
            per_seed.append(np.mean([label_entropy(labels[rows], 10) for rows in shards.values()]))
        entropy.append(float(np.mean(per_seed)))
    assert entropy == sorted(entropy, reverse=True)
    assert entropy[0] > 0.95 * np.log(10)  # near-uniform shards at alpha=100
    assert entropy[-1] < 0.4 * np.log(10)  # mostly one or two classes per shard at alpha=0.01


@pytest.mark.parametrize("alpha", [0.1, 1.0, 10.0])
def test_dirichlet_shares_have_the_dirichlet_moments(alpha: float) -> None:
    """Shares drawn from normalised Gamma(alpha): mean 1/k, variance (1/k)(1 - 1/k)/(k alpha + 1)."""
    k, n = 5, 20000
    rng = generator(SEED, "test", alpha=alpha)
    draws = np.array([dirichlet_shares(alpha, k, rng) for _ in range(n)])
    assert np.allclose(draws.sum(axis=1), 1.0)
    expected_var = (1 / k) * (1 - 1 / k) / (k * alpha + 1)
    np.testing.assert_allclose(draws.mean(axis=0), 1 / k, atol=0.01)
    np.testing.assert_allclose(draws.var(axis=0), expected_var, rtol=0.08)


def test_overlap_ratio_is_the_borrowed_fraction_of_each_shard() -> None:
    labels = balanced_labels(4, 250)
    shards = partition(labels, runners(5), SplitSpec("random", overlap_ratio=0.2), SEED)
    holders = np.zeros(len(labels), dtype=np.int64)
    for rows in shards.values():
        holders[rows] += 1
    for rows in shards.values():
        assert len(rows) == 250  # 200 own rows + round(0.2 / 0.8 * 200) borrowed
        shared = np.count_nonzero(holders[rows] > 1)
        assert shared >= 50  # at least the borrowed rows are shared with another runner


def test_golden_partition_pins_the_algorithm_across_machines() -> None:
    """Every node must compute the same shards: this digest changes only if the algorithm (or numpy's PCG64
    or Gamma sampler) changes, which would split a network of mixed versions."""
    labels = balanced_labels(3, 20)
    shards = partition(labels, ["b", "a", "c"], SplitSpec("non_iid", alpha=0.5, min_samples=2), b"golden")
    assert digest(shards) == GOLDEN


GOLDEN = "4ef51044ac3a1335e49bfeee24af4edcab537d16db5d9a494bd6900310cb8e84"


def cross_process_digest() -> str:
    labels = balanced_labels(6, 50)
    h = hashlib.sha256()
    for strategy in STRATEGIES:
        spec = SplitSpec(strategy, alpha=0.3, min_samples=5, overlap_ratio=0.25, classes_per_runner=2)
        h.update(digest(partition(labels, ["z", "m", "a", "q"], spec, b"cross-process")).encode())
    return h.hexdigest()


def test_other_processes_with_other_hash_seeds_compute_the_same_shards() -> None:
    """String hashing is randomised per process; nothing in the partition may depend on it."""
    child = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_partition as t; "
    child += "print(t.cross_process_digest())"
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert digests == {cross_process_digest()}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"strategy": "dirichlet"}, "unknown strategy"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": float("inf")}, "alpha"),
        ({"min_samples": -1}, "min_samples"),
        ({"overlap_ratio": 1.0}, "overlap_ratio"),
        ({"overlap_ratio": -0.1}, "overlap_ratio"),
        ({"classes_per_runner": 0}, "classes_per_runner"),
    ],
)
def test_bad_specs(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(PartitionError, match=words):
        SplitSpec(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("labels", "ids", "spec", "words"),
    [
        (np.zeros(5, np.int64), [], SplitSpec(), "no runners"),
        (np.zeros(5, np.int64), ["a", "a"], SplitSpec(), "distinct"),
        (np.zeros(5, np.int64), ["a", ""], SplitSpec(), "non-empty"),
        (np.zeros(0, np.int64), ["a"], SplitSpec(), "non-empty vector"),
        (np.zeros(5, np.float32), ["a"], SplitSpec("stratified"), "integer class labels"),
        (np.array([0, -1]), ["a"], SplitSpec("non_iid"), "non-negative"),
    ],
)
def test_bad_inputs(labels: npt.NDArray[np.generic], ids: list[str], spec: SplitSpec, words: str) -> None:
    with pytest.raises(PartitionError, match=words):
        partition(labels, ids, spec, SEED)


def test_random_split_accepts_regression_targets() -> None:
    shards = partition(np.linspace(0, 1, 20, dtype=np.float32), runners(3), SplitSpec("random"), SEED)
    assert sum(len(s) for s in shards.values()) == 20
