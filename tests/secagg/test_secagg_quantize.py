from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_p2p.secagg import QuantizationError, SecAggConfigError, SecAggParams
from parity_p2p.secagg.quantize import dequantize_mean, quantize, weighted


def test_nearest_round_trip_within_half_a_step() -> None:
    params = SecAggParams(clip=0.5, bits=12, rounding="nearest")
    x = np.linspace(-0.5, 0.5, 1001)
    q = quantize(params, x)
    assert q.dtype == np.uint64 and q.min() == 0 and q.max() == params.levels
    back = dequantize_mean(params, q, 1)
    assert np.max(np.abs(back - x)) <= params.step / 2 + 1e-12


def test_stochastic_rounding_is_unbiased_and_within_one_step() -> None:
    params = SecAggParams(clip=1.0, bits=4)
    x = np.full(20_000, 0.3)
    back = dequantize_mean(params, quantize(params, x, np.random.default_rng(1)), 1)
    assert np.max(np.abs(back - x)) < params.step
    assert abs(back.mean() - 0.3) < params.step / 20  # nearest rounding would be off by a fixed part of a step
    assert abs(dequantize_mean(params, quantize(params.__class__(clip=1.0, bits=4, rounding="nearest"), x), 1).mean()
               - 0.3) > params.step / 20  # fmt: skip


def test_values_outside_the_clip_range_are_clipped() -> None:
    params = SecAggParams(clip=1.0, bits=8, rounding="nearest")
    back = dequantize_mean(params, quantize(params, np.array([-5.0, 5.0, 0.0])), 1)
    assert back[0] == pytest.approx(-1.0) and back[1] == pytest.approx(1.0)


def test_weighted_sum_gives_the_weighted_mean() -> None:
    params = SecAggParams(clip=2.0, bits=16, rounding="nearest")
    a, b = np.array([1.0, -2.0, 0.25]), np.array([-1.0, 2.0, 0.5])
    total = weighted(params, quantize(params, a), 3) + weighted(params, quantize(params, b), 1)
    assert np.allclose(dequantize_mean(params, total, 4), (3 * a + b) / 4, atol=params.error_bound)


@pytest.mark.parametrize("bad", [np.array([np.nan]), np.array([np.inf, 0.0]), np.zeros(0), np.zeros((2, 2))])
def test_bad_vectors_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(QuantizationError):
        quantize(SecAggParams(), bad)


def test_weights_that_could_wrap_the_ring_are_refused() -> None:
    params = SecAggParams(bits=32)
    with pytest.raises(QuantizationError, match="exceeds"):
        weighted(params, np.zeros(3, dtype=np.uint64), params.max_total_weight + 1)
    with pytest.raises(QuantizationError, match="integer >= 1"):
        weighted(params, np.zeros(3, dtype=np.uint64), 0)
    with pytest.raises(QuantizationError, match="total weight"):
        dequantize_mean(params, np.zeros(3, dtype=np.uint64), params.max_total_weight + 1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"clip": 0.0}, "clip"),
        ({"clip": float("nan")}, "clip"),
        ({"bits": 0}, "bits"),
        ({"bits": 33}, "bits"),
        ({"rounding": "up"}, "rounding"),
        ({"threshold": 1}, "threshold"),
        ({"degree": 3}, "degree"),
        ({"full_graph_max": 1}, "full_graph_max"),
        ({"ring_bits": 16}, "ring_bits"),
        ({"ring_bits": 32, "bits": 32}, "bits"),
    ],
)
def test_bad_parameters_name_their_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(SecAggConfigError) as info:
        SecAggParams(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_32_bit_ring_refuses_weights_it_cannot_hold() -> None:
    params = SecAggParams(bits=16, ring_bits=32)
    assert params.max_total_weight == 65_537 and params.word_dtype is np.uint32
    q = quantize(params, np.array([1.0, -1.0]))
    assert weighted(params, q, 65_537).dtype == np.uint32
    with pytest.raises(QuantizationError, match="exceeds"):
        weighted(params, q, 65_538)


def test_threshold_must_be_a_safe_majority() -> None:
    assert SecAggParams().threshold_for(6) == 4  # 2 of 6 may drop
    assert SecAggParams().threshold_for(5) == 4
    with pytest.raises(SecAggConfigError, match="not a majority"):
        SecAggParams(threshold=3).threshold_for(6)
    with pytest.raises(SecAggConfigError, match="exceeds"):
        SecAggParams(threshold=7).threshold_for(6)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=40),
    st.integers(1, 24),
    st.sampled_from(["nearest", "stochastic"]),
)
def test_round_trip_error_is_bounded(values: list[float], bits: int, rounding: str) -> None:
    params = SecAggParams(clip=3.0, bits=bits, rounding=rounding)  # type: ignore[arg-type]
    x = np.array(values)
    back = dequantize_mean(params, quantize(params, x, np.random.default_rng(0)), 1)
    assert np.max(np.abs(back - x)) <= params.error_bound * (1 + 1e-9)
