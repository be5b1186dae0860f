"""The update codec: round trips, one test per rejection reason, and a fuzzer that only UpdateRejected escapes."""

from __future__ import annotations

import contextlib
import json
import math
import pickle
import struct
from typing import Any

import numpy as np
import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity_p2p.learning.codec import (
    DecodeLimits,
    ModelMeta,
    UpdateMeta,
    decode_model,
    decode_update,
    encode_model,
    encode_update,
    l2_norm,
    peek_update_meta,
    tensor_specs,
)
from parity_p2p.learning.errors import (
    BadHeader,
    BadMetadata,
    DtypeMismatch,
    LearningError,
    MissingTensor,
    NonFinite,
    NormTooLarge,
    ShapeMismatch,
    TooLarge,
    UnknownTensor,
    UpdateRejected,
)
from parity_p2p.learning.json_guard import json_depth

LIMITS = DecodeLimits()


def tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "layer0.weight": torch.randn(8, 4, generator=g),
        "layer0.bias": torch.randn(8, generator=g),
        "layer2.weight": torch.randn(3, 8, generator=g),
        "layer2.bias": torch.zeros(3),
    }


EXPECTED = tensor_specs(tensors())


def meta(**changes: Any) -> UpdateMeta:
    fields: dict[str, Any] = {
        "session_id": 7,
        "round": 3,
        "runner": "12D3KooWRunner",
        "base_model_cid": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        "data_size": 120,
        "steps": 30,
        "loss": 0.42,
        "accuracy": 0.9,
        "metrics": {"train_seconds": 0.5},
        "encoding": {"scheme": "none"},
    }
    fields.update(changes)
    return UpdateMeta(**fields)


def encoded(**changes: Any) -> bytes:
    return encode_update(tensors(), meta(**changes))


def raw_file(header: dict[str, Any], body: bytes, *, header_len: int | None = None) -> bytes:
    """Hand-built safetensors bytes, for cases the library's writer would never produce."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text) if header_len is None else header_len) + text + body


def split(data: bytes) -> tuple[dict[str, Any], bytes]:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def test_update_round_trip() -> None:
    original = tensors()
    decoded, got = decode_update(encoded(), expected=EXPECTED, limits=LIMITS)
    assert got == meta() and hash(got) == hash(meta())
    assert list(decoded) == sorted(original)
    assert all(torch.equal(decoded[k], original[k]) for k in original)
    assert peek_update_meta(encoded()) == meta()


def test_model_round_trip_and_kinds_are_not_interchangeable() -> None:
    info = ModelMeta(session_id=7, round=4, strategy="fedavg", num_updates=3, data_size=360, metrics={"acc": 0.9})
    data = encode_model(tensors(), info)
    decoded, got = decode_model(data, expected=EXPECTED, limits=LIMITS)
    assert got == info and torch.equal(decoded["layer0.weight"], tensors()["layer0.weight"])
    with pytest.raises(BadMetadata, match="expected 'parity-p2p/update'"):
        decode_update(data, expected=EXPECTED, limits=LIMITS)
    with pytest.raises(BadMetadata, match="expected 'parity-p2p/model'"):
        decode_model(encoded(), expected=EXPECTED, limits=LIMITS)


def test_regression_update_without_accuracy_and_other_dtypes() -> None:
    state = {"w": torch.ones(2, 2, dtype=torch.float16), "q": torch.tensor([1, -2], dtype=torch.int8)}
    data = encode_update(state, meta(accuracy=None, loss=None, encoding={"scheme": "int8", "scale": [0.5]}))
    decoded, got = decode_update(data, expected=tensor_specs(state), limits=LIMITS)
    assert got.accuracy is None and got.encoding["scale"] == [0.5]
    assert decoded["q"].dtype == torch.int8 and decoded["q"].tolist() == [1, -2]


def test_total_size_cap_is_checked_first() -> None:
    data = encoded()
    with pytest.raises(TooLarge, match="exceeds the cap"):
        decode_update(data, expected=EXPECTED, limits=DecodeLimits(max_total_bytes=len(data) - 1))
    # The default cap is what the expected tensors need plus the header cap: a bigger file never parses.
    huge = data + b"\x00" * (DecodeLimits().max_header_bytes + 1)
    with pytest.raises(TooLarge):
        decode_update(huge, expected=EXPECTED, limits=LIMITS)


def test_header_length_cap_and_truncation() -> None:
    data = encoded()
    with pytest.raises(TooLarge, match="header length"):
        decode_update(struct.pack("<Q", 2**63) + data[8:], expected=EXPECTED, limits=LIMITS)
    with pytest.raises(TooLarge, match="header length"):
        decode_update(data, expected=EXPECTED, limits=DecodeLimits(max_total_bytes=10**6, max_header_bytes=16))
    with pytest.raises(BadHeader, match="runs past the end"):
        decode_update(data[:100], expected=EXPECTED, limits=LIMITS)
    with pytest.raises(BadHeader, match="too short"):
        decode_update(data[:5], expected=EXPECTED, limits=LIMITS)


def test_truncated_data_area() -> None:
    with pytest.raises(BadHeader, match="follow the header"):
        decode_update(encoded()[:-4], expected=EXPECTED, limits=LIMITS)


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda h: h["layer0.bias"].update(dtype="F8_E4M3"), "unsupported dtype"),
        (lambda h: h["layer0.bias"].update(shape=[-8]), "shape"),
        (lambda h: h["layer0.bias"].update(data_offsets=[0]), "data_offsets"),
        (lambda h: h["layer0.bias"].update(extra=1), "exactly dtype, shape and data_offsets"),
        (lambda h: h["layer0.bias"].update(shape=[4]), "do not match shape"),
        (lambda h: h.update({"layer0.bias": [1, 2]}), "exactly dtype"),
    ],
)
def test_malformed_tensor_entries(mutate: Any, words: str) -> None:
    header, body = split(encoded())
    mutate(header)
    with pytest.raises(BadHeader, match=words):
        decode_update(raw_file(header, body), expected=EXPECTED, limits=LIMITS)


def test_overlapping_offsets_are_refused() -> None:
    header, body = split(encoded())
    header["layer2.bias"]["data_offsets"] = header["layer0.bias"]["data_offsets"]
    header["layer2.bias"]["shape"] = [8]
    with pytest.raises(BadHeader, match=r"contiguous|covers"):
        decode_update(
            raw_file(header, body), expected={**EXPECTED, "layer2.bias": ((8,), torch.float32)}, limits=LIMITS
        )


@pytest.mark.parametrize(
    ("header_bytes", "error", "words"),
    [
        (b"not json", BadHeader, "not valid JSON"),
        (b"[1,2]", BadHeader, "not a JSON object"),
        (b'{"a": 1, "a": 2}', BadHeader, "repeats the key"),
        (b'{"x": NaN}', BadHeader, "NaN"),
        (b"\xff\xfe", BadHeader, "not UTF-8"),
        (b"[" * 100000 + b"]" * 100000, BadHeader, "nests deeper"),
        (b'{"s": "[[[[" , "t": ' + b"[" * 70 + b"]" * 70 + b"}", BadHeader, "nests deeper"),
        (b"{}", BadMetadata, "__metadata__"),
    ],
)
def test_unreadable_headers(header_bytes: bytes, error: type[UpdateRejected], words: str) -> None:
    data = struct.pack("<Q", len(header_bytes)) + header_bytes
    with pytest.raises(error, match=words):
        decode_update(data, expected={}, limits=LIMITS)


def test_names_shapes_and_dtypes_must_equal_the_expected_ones() -> None:
    data = encoded()
    with pytest.raises(UnknownTensor, match=r"layer2\.bias"):
        decode_update(data, expected={k: v for k, v in EXPECTED.items() if k != "layer2.bias"}, limits=LIMITS)
    with pytest.raises(MissingTensor, match=r"layer9\.weight"):
        decode_update(data, expected={**EXPECTED, "layer9.weight": ((1,), torch.float32)}, limits=LIMITS)
    with pytest.raises(ShapeMismatch, match=r"\(8, 4\), expected \(4, 8\)"):
        decode_update(data, expected={**EXPECTED, "layer0.weight": ((4, 8), torch.float32)}, limits=LIMITS)
    with pytest.raises(DtypeMismatch, match="float64"):
        decode_update(data, expected={**EXPECTED, "layer0.bias": ((8,), torch.float64)}, limits=LIMITS)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    state = tensors()
    state["layer2.weight"][1, 2] = bad
    with pytest.raises(NonFinite, match=r"layer2\.weight"):
        decode_update(encode_update(state, meta()), expected=EXPECTED, limits=LIMITS)


def test_norm_bound() -> None:
    state = tensors()
    norm = math.sqrt(sum(float((t.double() ** 2).sum()) for t in state.values()))
    assert l2_norm(state) == pytest.approx(norm, rel=1e-12)
    assert l2_norm(state) == pytest.approx(
        float(np.linalg.norm(np.concatenate([t.numpy().ravel() for t in state.values()]))), rel=1e-6
    )
    decode_update(encoded(), expected=EXPECTED, limits=DecodeLimits(max_l2_norm=norm * 1.001))
    with pytest.raises(NormTooLarge, match="exceeds the bound"):
        decode_update(encoded(), expected=EXPECTED, limits=DecodeLimits(max_l2_norm=norm * 0.999))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"session_id": -1}, "session_id"),
        ({"round": 1.5}, "round"),
        ({"runner": ""}, "runner"),
        ({"runner": "x" * 300}, "runner"),
        ({"data_size": True}, "data_size"),
        ({"loss": math.nan}, "loss"),
        ({"accuracy": 1.5}, "accuracy"),
        ({"metrics": {"t": math.inf}}, "metric 't'"),
        ({"metrics": {f"m{i}": 1.0 for i in range(65)}}, "at most 64"),
        ({"encoding": {"x": math.nan}}, "encoding"),
    ],
)
def test_encoder_refuses_metadata_the_decoder_would_refuse(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(BadMetadata, match=words):
        encoded(**changes)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda m: m.pop("steps"), "missing \\['steps'\\]"),
        (lambda m: m.update(surprise=1), "unknown \\['surprise'\\]"),
        (lambda m: m.update(version=2), "unsupported version"),
        (lambda m: m.update(accuracy="high"), "accuracy"),
        (lambda m: m.update(encoding=[1]), "encoding"),
        (lambda m: m.update(metrics={"": 1}), "metric names"),
    ],
)
def test_decoder_checks_the_metadata_schema(edit: Any, words: str) -> None:
    header, body = split(encoded())
    payload = json.loads(header["__metadata__"]["parity_p2p"])
    edit(payload)
    header["__metadata__"]["parity_p2p"] = json.dumps(payload)
    with pytest.raises(BadMetadata, match=words):
        decode_update(raw_file(header, body), expected=EXPECTED, limits=LIMITS)


@pytest.mark.parametrize(
    "metadata",
    [{"other": "x"}, {"parity_p2p": "not json"}, {"parity_p2p": "[]"}, {"parity_p2p": '{"a":1,"a":2}'}],
)
def test_foreign_or_broken_metadata(metadata: dict[str, str]) -> None:
    data = safetensors.torch.save(tensors(), metadata=metadata)
    with pytest.raises(BadMetadata):
        decode_update(data, expected=EXPECTED, limits=LIMITS)


def test_rejections_carry_a_reason_code_and_pickle() -> None:
    for error in (TooLarge("x"), BadHeader("x"), NonFinite("y"), UpdateRejected("custom", "z")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and isinstance(again, LearningError)
        assert (again.reason_code, again.detail, str(again)) == (error.reason_code, error.detail, str(error))
    assert NormTooLarge("d").reason_code == "norm_too_large"
    assert (
        len(
            {
                cls.CODE
                for cls in (
                    TooLarge,
                    BadHeader,
                    UnknownTensor,
                    MissingTensor,
                    ShapeMismatch,
                    DtypeMismatch,
                    NonFinite,
                    NormTooLarge,
                    BadMetadata,
                )
            }
        )
        == 9
    )


# --- fuzzing: nothing but UpdateRejected may escape ----------------------------------------------

VALID = encoded()
FUZZ_LIMITS = DecodeLimits(max_l2_norm=1e3)


def decode_or_reject(data: bytes) -> None:
    for other in (peek_update_meta, lambda d: decode_model(d, expected=EXPECTED, limits=FUZZ_LIMITS)):
        with contextlib.suppress(UpdateRejected):  # the other readers face the same bytes
            other(data)
    try:
        decoded, got = decode_update(data, expected=EXPECTED, limits=FUZZ_LIMITS)
    except UpdateRejected:
        return
    # Whatever is accepted really is well-formed.
    assert set(decoded) == set(EXPECTED)
    assert all(tuple(t.shape) == EXPECTED[n][0] and t.dtype == EXPECTED[n][1] for n, t in decoded.items())
    assert all(bool(torch.isfinite(t).all()) for t in decoded.values())
    assert isinstance(got, UpdateMeta)


fuzz = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data: bytes) -> None:
    decode_or_reject(data)


@fuzz
@given(st.integers(0, len(VALID)))
def test_fuzz_truncations(cut: int) -> None:
    decode_or_reject(VALID[:cut])


@fuzz
@given(st.lists(st.tuples(st.integers(0, len(VALID) * 8 - 1)), min_size=1, max_size=8))
def test_fuzz_bit_flips(flips: list[tuple[int]]) -> None:
    data = bytearray(VALID)
    for (bit,) in flips:
        data[bit // 8] ^= 1 << (bit % 8)
    decode_or_reject(bytes(data))


@fuzz
@given(st.integers(0, 2**64 - 1), st.binary(max_size=64))
def test_fuzz_header_lengths(length: int, tail: bytes) -> None:
    decode_or_reject(struct.pack("<Q", length) + VALID[8:] + tail)


@fuzz
@given(st.integers(8, len(VALID) - 1), st.binary(min_size=1, max_size=16))
def test_fuzz_splices(at: int, junk: bytes) -> None:
    decode_or_reject(VALID[:at] + junk + VALID[at + len(junk) :])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@fuzz
@given(st.sampled_from(sorted(split(VALID)[0])), st.sampled_from(["dtype", "shape", "data_offsets", None]), json_values)
def test_fuzz_header_fields(name: str, key: str | None, value: Any) -> None:
    header, body = split(VALID)
    if name == "__metadata__":
        header[name] = {"parity_p2p": value} if key else value
    elif key is None:
        header[name] = value
    else:
        header[name][key] = value
    try:
        data = raw_file(header, body)
    except ValueError:  # json.dumps of NaN is fine; only truly unencodable values are skipped
        return
    decode_or_reject(data)


@fuzz
@given(st.sampled_from(sorted(json.loads(split(VALID)[0]["__metadata__"]["parity_p2p"]))), json_values)
def test_fuzz_metadata_fields(key: str, value: Any) -> None:
    header, body = split(VALID)
    payload = json.loads(header["__metadata__"]["parity_p2p"])
    payload[key] = value
    header["__metadata__"]["parity_p2p"] = json.dumps(payload)
    decode_or_reject(raw_file(header, body))


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["[[[[", "\\"[["]', 1), ("[" * 5000, 5000)],
)
def test_json_depth_ignores_brackets_in_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


@pytest.mark.parametrize(
    "kwargs", [{"max_total_bytes": 4}, {"max_header_bytes": 0}, {"max_l2_norm": 0.0}, {"max_l2_norm": math.inf}]
)
def test_nonsense_limits_are_a_programming_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        DecodeLimits(**kwargs)


def test_encoder_accepts_views_and_tensors_that_require_grad() -> None:
    weight = torch.randn(4, 8, requires_grad=True)
    state = {"t": weight.t(), "g": weight * 2}  # a non-contiguous view and a tensor with a grad_fn
    decoded, _ = decode_update(encode_update(state, meta()), expected=tensor_specs(state), limits=LIMITS)
    assert torch.equal(decoded["t"], weight.detach().t()) and torch.equal(decoded["g"], weight.detach() * 2)
