"""Compression round trips, error feedback, and the codec path with encodings in the metadata."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from parity_p2p.learning.codec import DecodeLimits, UpdateMeta, decode_update, encode_update
from parity_p2p.learning.compression import (
    CompressionConfig,
    CompressionError,
    compress,
    decompress,
    expected_specs,
)


def states(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A global model and a local model near it."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {"layer0.weight": (32, 16), "layer0.bias": (32,), "layer1.weight": (3, 32)}
    global_state = {k: torch.randn(s, generator=generator) for k, s in shapes.items()}
    local = {k: v + 0.05 * torch.randn(v.shape, generator=generator) for k, v in global_state.items()}
    return global_state, local


def true_delta(global_state: dict[str, torch.Tensor], local: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: local[k] - global_state[k] for k in global_state}


@pytest.mark.parametrize("send_delta", [True, False])
def test_none_round_trips_exactly(send_delta: bool) -> None:
    global_state, local = states()
    packed = compress(local, global_state, CompressionConfig("none", send_delta=send_delta))
    delta = decompress(packed.tensors, packed.encoding, global_state)
    for name, expected in true_delta(global_state, local).items():
        torch.testing.assert_close(delta[name], expected, rtol=0, atol=1e-6)
    assert packed.residual is None
    assert packed.payload_bytes == sum(t.numel() * 4 for t in global_state.values())


def test_float16_error_is_within_half_precision() -> None:
    global_state, local = states()
    packed = compress(local, global_state, CompressionConfig("float16", error_feedback=False))
    delta = decompress(packed.tensors, packed.encoding, global_state)
    for name, expected in true_delta(global_state, local).items():
        # float16 keeps 11 significant bits: relative rounding error <= 2^-11 (plus subnormal slack).
        assert torch.all((delta[name] - expected).abs() <= expected.abs() * 2**-11 + 1e-7)
    assert packed.payload_bytes * 2 == compress(local, global_state, CompressionConfig()).payload_bytes


def test_int8_error_is_at_most_half_a_step() -> None:
    global_state, local = states()
    packed = compress(local, global_state, CompressionConfig("int8", error_feedback=False))
    delta = decompress(packed.tensors, packed.encoding, global_state)
    for name, expected in true_delta(global_state, local).items():
        step = float(expected.abs().max()) / 127
        assert float((delta[name] - expected).abs().max()) <= step / 2 + 1e-7
        assert packed.tensors[name].dtype == torch.int8
    plain = compress(local, global_state, CompressionConfig()).payload_bytes
    assert packed.payload_bytes == plain // 4 + 4 * len(global_state)


def test_topk_keeps_exactly_the_largest_entries() -> None:
    global_state, local = states()
    fraction = 0.1
    packed = compress(local, global_state, CompressionConfig("topk", topk_fraction=fraction, error_feedback=False))
    delta = decompress(packed.tensors, packed.encoding, global_state)
    for name, expected in true_delta(global_state, local).items():
        k = math.ceil(fraction * expected.numel())
        kept = delta[name].reshape(-1) != 0
        assert int(kept.sum()) == k
        threshold = np.sort(expected.abs().reshape(-1).numpy())[-k]
        assert torch.all(expected.reshape(-1).abs()[kept] >= threshold)
        torch.testing.assert_close(delta[name].reshape(-1)[kept], expected.reshape(-1)[kept])


@pytest.mark.parametrize("scheme", ["topk", "int8", "float16"])
def test_error_feedback_carries_the_residual_so_nothing_is_lost(scheme: str) -> None:
    # Prepare: five rounds of deltas from the same runner.
    config = CompressionConfig(scheme, topk_fraction=0.05)  # type: ignore[arg-type]
    global_state, _ = states()
    rounds = [states(seed)[1] for seed in range(1, 6)]
    residual = None
    sent_total = {k: torch.zeros_like(v) for k, v in global_state.items()}
    input_total = {k: torch.zeros_like(v) for k, v in global_state.items()}
    for number, local in enumerate(rounds):
        # Execute
        packed = compress(local, global_state, config, residual)
        sent = decompress(packed.tensors, packed.encoding, global_state)
        # Assert: this round's residual is exactly what compression dropped from (delta + old residual).
        assert packed.residual is not None
        for name, delta in true_delta(global_state, local).items():
            carried = residual[name] if residual is not None else torch.zeros_like(delta)
            torch.testing.assert_close(packed.residual[name], delta + carried - sent[name], atol=1e-5, rtol=0)
            sent_total[name] += sent[name]
            input_total[name] += delta
        residual = packed.residual
        if number == 0 and scheme == "topk":
            assert any(float(r.abs().max()) > 0 for r in residual.values())
    # Over all rounds: what was sent plus what is still carried equals everything that was to be sent.
    assert residual is not None
    for name in global_state:
        torch.testing.assert_close(sent_total[name] + residual[name], input_total[name], atol=1e-4, rtol=0)


def test_topk_with_error_feedback_sends_old_residual_mass() -> None:
    # An entry too small to be sent in round 1 is sent once its carried residual grows big enough.
    global_state = {"w": torch.zeros(10)}
    local = {"w": torch.tensor([1.0, 0.6, 0, 0, 0, 0, 0, 0, 0, 0])}
    config = CompressionConfig("topk", topk_fraction=0.1)
    first = compress(local, global_state, config)
    second = compress({"w": torch.tensor([0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0])}, global_state, config, first.residual)
    assert decompress(first.tensors, first.encoding, global_state)["w"].nonzero().flatten().tolist() == [0]
    assert decompress(second.tensors, second.encoding, global_state)["w"].tolist()[:2] == [0.0, pytest.approx(0.6)]


@pytest.mark.parametrize("scheme", ["none", "float16", "int8", "topk"])
def test_compressed_updates_pass_the_strict_codec(scheme: str) -> None:
    # Prepare
    global_state, local = states()
    packed = compress(local, global_state, CompressionConfig(scheme, topk_fraction=0.2))  # type: ignore[arg-type]
    meta = UpdateMeta(
        session_id=1,
        round=2,
        runner="runner-a",
        base_model_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        data_size=10,
        steps=3,
        loss=0.5,
        encoding=packed.encoding,
    )
    # Execute
    data = encode_update(packed.tensors, meta)
    tensors, decoded_meta = decode_update(
        data, expected=expected_specs(global_state, meta.encoding), limits=DecodeLimits()
    )
    delta = decompress(tensors, decoded_meta.encoding, global_state)
    # Assert
    reference = decompress(packed.tensors, packed.encoding, global_state)
    for name in global_state:
        torch.testing.assert_close(delta[name], reference[name], rtol=0, atol=0)


def test_bad_settings_and_bad_encodings_are_typed_errors() -> None:
    global_state, local = states()
    with pytest.raises(CompressionError, match="unknown scheme"):
        CompressionConfig("zip")  # type: ignore[arg-type]
    with pytest.raises(CompressionError, match="topk_fraction"):
        CompressionConfig("topk", topk_fraction=0.0)
    packed = compress(local, global_state, CompressionConfig("topk", topk_fraction=0.1))
    with pytest.raises(CompressionError, match="unknown scheme"):
        decompress(packed.tensors, {"scheme": "lz4"}, global_state)
    with pytest.raises(CompressionError, match="do not match"):
        decompress(packed.tensors, {"scheme": "int8", "delta": True}, global_state)
    forged = dict(packed.tensors)
    forged["layer1.weight::indices"] = torch.full_like(forged["layer1.weight::indices"], 96)
    with pytest.raises(CompressionError, match="outside"):
        decompress(forged, packed.encoding, global_state)
    with pytest.raises(CompressionError, match="float16"):
        compress({"w": torch.tensor([1e6])}, {"w": torch.tensor([0.0])}, CompressionConfig("float16"))
