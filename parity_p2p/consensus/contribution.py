"""Contribution points: what each included update earns in a round, and how followers check them.

points = data_size x quality x on_time, with quality and on_time each 0 or 1:
- on_time: the update reached the leader before the collection deadline (late updates are not included at all);
- quality: the session's strategy used the update (FedAvg uses every valid update; Krum, median and trimmed mean
  may leave some out, and those earn nothing for the round).
A graded quality (e.g. cosine similarity to the aggregate) was rejected: under non-IID splits honest runners with
unusual shards point away from the mean and would be underpaid, and float rounding across machines would make
points disagree at the boundaries. 0/1 quality is exact, so followers can recompute points bit for bit.

For sessions over a public dataset CID every node computes every shard, so a claimed data size is checked against
the partition. For sessions with private local data the size is self-reported and capped (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class IncludedUpdate:
    """One update the leader aggregated, as it appears in a proposal and in the updates Merkle tree."""

    runner: str
    update_cid: str
    data_size: int
    used_by_strategy: bool = True

    @property
    def points(self) -> int:
        return contribution_points(self.data_size, used_by_strategy=self.used_by_strategy)


def contribution_points(data_size: int, *, used_by_strategy: bool, on_time: bool = True) -> int:
    """Points for one update in one round (see the module docstring for the formula)."""
    if data_size < 0:
        raise ValueError(f"data size must be >= 0, got {data_size}")
    return data_size * int(used_by_strategy) * int(on_time)


def data_size_problems(
    included: list[IncludedUpdate] | tuple[IncludedUpdate, ...],
    expected_sizes: Mapping[str, int] | None,
    max_private_size: int | None = None,
) -> list[str]:
    """Why the claimed data sizes cannot be accepted (empty when they can).

    `expected_sizes` maps runner address (any case) to its shard size when the partition is public; with private data
    pass None and a `max_private_size` cap instead.
    """
    problems: list[str] = []
    expected = {k.lower(): v for k, v in (expected_sizes or {}).items()}
    for update in included:
        if update.data_size <= 0:
            problems.append(f"{update.runner} claims {update.data_size} samples")
        elif expected_sizes is not None:
            want = expected.get(update.runner.lower())
            if want is None:
                problems.append(f"{update.runner} has no shard in this session")
            elif want != update.data_size:
                problems.append(f"{update.runner} claims {update.data_size} samples, its shard has {want}")
        elif max_private_size is not None and update.data_size > max_private_size:
            problems.append(f"{update.runner} claims {update.data_size} samples, above the cap {max_private_size}")
    return problems
