from __future__ import annotations

import math

import pytest

from parity_p2p.secagg import SecAggConfigError, SecAggParams, build_graph


def ids(n: int) -> list[str]:
    return [f"r{i:03d}" for i in range(n)]


def test_small_sessions_use_the_complete_graph() -> None:
    graph = build_graph(ids(6), b"s", SecAggParams())
    assert graph.complete
    assert graph.holders("r000") == frozenset(ids(6))


@pytest.mark.parametrize("n", [33, 64, 100])
def test_sparse_graph_is_symmetric_regular_connected_and_logarithmic(n: int) -> None:
    graph = build_graph(ids(n), b"round-seed", SecAggParams())
    degree = 2 * math.ceil(math.log2(n))
    assert not graph.complete
    for u, near in graph.neighbours.items():
        assert u not in near and len(near) == degree
        assert all(u in graph.neighbours[v] for v in near)
    seen, frontier = {"r000"}, ["r000"]
    while frontier:
        for v in graph.neighbours[frontier.pop()]:
            if v not in seen:
                seen.add(v)
                frontier.append(v)
    assert len(seen) == n


def test_sparse_graph_is_deterministic_per_seed_and_order_free() -> None:
    params = SecAggParams(full_graph_max=4, degree=4)
    a = build_graph(ids(20), b"one", params)
    assert a == build_graph(list(reversed(ids(20))), b"one", params)
    assert a != build_graph(ids(20), b"two", params)
    assert all(len(n) == 4 for n in a.neighbours.values())


def test_bad_participant_lists() -> None:
    with pytest.raises(SecAggConfigError, match="distinct"):
        build_graph(["a", "a"], b"s", SecAggParams())
    with pytest.raises(SecAggConfigError, match="at least 2"):
        build_graph(["a"], b"s", SecAggParams())
