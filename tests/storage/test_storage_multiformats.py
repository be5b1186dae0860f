"""Varints, multibase and CID parsing: round trips, and a clear InvalidCid for every kind of bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity_p2p.storage import InvalidCid, normalize_cid, parse_cid
from parity_p2p.storage.multiformats import (
    DAG_PB,
    RAW,
    Cid,
    VarintError,
    base32_decode,
    base32_encode,
    base58btc_decode,
    base58btc_encode,
    decode_varint,
    encode_varint,
    sha256_multihash,
)

EMPTY_RAW = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
# The example of the multiformats CID specification: the same dag-pb block as CIDv0 and CIDv1.
SPEC_V0 = "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"
SPEC_V1 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded + b"\xff") == (value, len(encoded))


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"", "truncated"), (b"\x80", "truncated"), (b"\x81\x00", "non-minimal"), (b"\xff" * 10, "longer")],
)
def test_malformed_varints_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(VarintError, match=message):
        decode_varint(raw)


@given(st.binary(max_size=80))
def test_multibase_round_trips(data: bytes) -> None:
    assert base32_decode(base32_encode(data)) == data
    assert base32_decode(base32_encode(data).upper()) == data
    assert base58btc_decode(base58btc_encode(data)) == data


def test_cid_forms() -> None:
    raw = parse_cid(EMPTY_RAW)
    assert (raw.version, raw.codec, raw.codec_name) == (1, RAW, "raw")
    assert raw.multihash == sha256_multihash(b"")
    assert str(raw) == EMPTY_RAW
    assert parse_cid(EMPTY_RAW.upper().replace("B", "B", 1)) == raw
    assert parse_cid("z" + base58btc_encode(raw.to_bytes())) == raw
    assert Cid.from_bytes(raw.to_bytes()) == raw

    v0 = parse_cid(SPEC_V0)
    assert (v0.version, v0.codec) == (0, DAG_PB)
    assert str(v0) == SPEC_V0
    assert str(v0.to_v1()) == SPEC_V1
    assert normalize_cid(SPEC_V0) == SPEC_V1
    assert parse_cid(SPEC_V1).multihash == v0.multihash


def test_js_ipfs_base58_cidv1_is_accepted() -> None:
    # js-ipfs prints CIDv1 in base58btc unless asked for base32; the pair below is from multiformats@14.0.5.
    assert normalize_cid("zb2rhi36Gc9GJWijLEL6zW45MBux5FcFv5gJmjXA7VAMozEXY") == (
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    )


def _v1(codec: int, hash_code: int, digest: bytes, length: int | None = None) -> str:
    body = encode_varint(1) + encode_varint(codec) + encode_varint(hash_code)
    body += encode_varint(len(digest) if length is None else length) + digest
    return "b" + base32_encode(body)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty string"),
        (" " + EMPTY_RAW, "whitespace"),
        ("f01551220" + "00" * 32, "unsupported multibase prefix 'f'"),
        ("bafkrei!!", "bad multibase body"),
        ("bafk", "bad multibase body"),
        (EMPTY_RAW[:-8], "digest has 27 bytes"),
        ("Qm" + "0" * 44, "not valid base58btc"),
        ("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnRR", "unsupported multibase prefix 'Q'"),
        (_v1(0x71, 0x12, bytes(32)), r"codec 0x71 \(dag-cbor\) is not supported"),
        (_v1(0x55, 0xB220, bytes(32)), "hash function 0xb220 is not supported"),
        (_v1(0x55, 0x12, bytes(20)), "digest length is 20"),
        (_v1(0x55, 0x12, bytes(31), length=32), "digest has 31 bytes"),
        ("b" + base32_encode(b"\x02\x55\x12\x20" + bytes(32)), "unsupported CID version 2"),
        ("b" + base32_encode(b"\x01\x80"), "malformed CID bytes: truncated varint"),
    ],
)
def test_bad_cids_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidCid, match=reason) as caught:
        parse_cid(text)
    assert caught.value.text == text


def test_non_string_cid_is_refused() -> None:
    with pytest.raises(InvalidCid, match="expected a string, got bytes"):
        parse_cid(b"bafy")  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_invalid_cid(text: str) -> None:
    try:
        cid = parse_cid(text)
    except InvalidCid:
        return
    assert parse_cid(str(cid)) == cid


@given(st.binary(max_size=80))
def test_any_bytes_decode_or_raise_invalid_cid(raw: bytes) -> None:
    try:
        cid = Cid.from_bytes(raw)
    except InvalidCid:
        return
    assert Cid.from_bytes(cid.to_bytes()) == cid
