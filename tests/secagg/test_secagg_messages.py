from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from secagg_harness import context, run_until_masked, runner_ids

from parity_p2p.secagg import InvalidMessage, KeyAdvert, MaskedInput, Reveal, SharePacket, SurvivorSet


def _round_trip_payload(value: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(json.dumps(value))  # what gossip carries: JSON
    return parsed


def test_every_message_survives_its_wire_form() -> None:
    ctx = context(4)
    rng = np.random.default_rng(0)
    vectors = {r: rng.uniform(-1, 1, 32) for r in runner_ids(4)}
    rnd = run_until_masked(ctx, vectors, dict.fromkeys(runner_ids(4), 5), gone_before_masking=["r03"])
    advert = rnd.adverts["r00"]
    assert KeyAdvert.from_payload(_round_trip_payload(advert.to_payload())) == advert
    packet = rnd.packets["r01"]
    assert SharePacket.from_payload(_round_trip_payload(packet.to_payload())) == packet
    masked = rnd.inputs["r02"]
    decoded = MaskedInput.decode(masked.encode(), expected_length=32)
    assert np.array_equal(decoded.masked, masked.masked)
    assert (decoded.weight, decoded.mask_peers) == (masked.weight, masked.mask_peers)
    survivor_set = SurvivorSet(("r00", "r01", "r02"), ("r03",))
    reveal = rnd.runners["r01"].reveal(survivor_set)
    assert Reveal.from_payload(_round_trip_payload(reveal.to_payload())) == reveal
    assert len(json.dumps(packet.to_payload())) < 2_000  # gossip stays small: ~400 bytes per share holder


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"channel": "zz", "mask": "00" * 32, "seed": "00" * 32}, "not hex"),
        ({"channel": "00" * 31, "mask": "00" * 32, "seed": "00" * 32}, "expected 32"),
        ({"mask": "00" * 32, "seed": "00" * 32}, "hex string"),
    ],
)
def test_bad_key_adverts(payload: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidMessage, match=match):
        KeyAdvert.from_payload(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"shares": "x"},
        {"shares": [["r01"]]},
        {"shares": [["r01", "00"], ["r01", "00"]]},
        {"shares": [["", "00"]]},
        {"shares": [["r01", "00" * 600]]},
    ],
)
def test_bad_share_packets(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidMessage):
        SharePacket.from_payload(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"survivors": ["a", "a"], "dropped": []},
        {"survivors": ["a"], "dropped": ["a"]},
        {"survivors": ["a"], "dropped": [], "shares": [["b", "nope", "00" * 66]]},
        {"survivors": ["a"], "dropped": [], "shares": [["b", "self", "ff" * 66]]},
        {"survivors": ["a"], "dropped": [], "shares": [["b", "self", "00" * 10]]},
        {"survivors": ["a"] * 2000, "dropped": [], "shares": []},
    ],
)
def test_bad_reveals(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidMessage):
        Reveal.from_payload(payload)


def test_a_32_bit_masked_input_has_4_bytes_per_word() -> None:
    words = np.array([0, 1, 2**32 - 1], dtype=np.uint32)
    data = MaskedInput(words, 2, ()).encode()
    decoded = MaskedInput.decode(data, expected_length=3, dtype=np.uint32)
    assert decoded.masked.dtype == np.uint32 and np.array_equal(decoded.masked, words)
    with pytest.raises(InvalidMessage, match="expected 3 words"):
        MaskedInput.decode(data, expected_length=3)  # read as 64-bit words: wrong size


def test_bad_masked_inputs() -> None:
    good = MaskedInput(np.arange(4, dtype=np.uint64), 3, ("r01",)).encode()
    with pytest.raises(InvalidMessage, match="expected 5 words"):
        MaskedInput.decode(good, expected_length=5)
    with pytest.raises(InvalidMessage, match="magic"):
        MaskedInput.decode(b"XXXX" + good[4:], expected_length=4)
    with pytest.raises(InvalidMessage, match="expected 4 words"):
        MaskedInput.decode(good[:-1], expected_length=4)
    zero_weight = MaskedInput(np.arange(4, dtype=np.uint64), 0, ()).encode()
    with pytest.raises(InvalidMessage, match="weight"):
        MaskedInput.decode(zero_weight, expected_length=4)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_bytes_never_decode_into_a_masked_input(data: bytes) -> None:
    try:
        MaskedInput.decode(data, expected_length=3)
    except InvalidMessage:
        return
    raise AssertionError("garbage decoded")


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    )
)
def test_arbitrary_json_payloads_raise_only_invalid_message(value: object) -> None:
    payload = value if isinstance(value, dict) else {"shares": value, "survivors": value, "dropped": value}
    for parse in (KeyAdvert.from_payload, SharePacket.from_payload, Reveal.from_payload, SurvivorSet.from_payload):
        with contextlib.suppress(InvalidMessage):
            parse(payload)
