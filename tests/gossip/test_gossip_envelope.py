"""Envelope signing: the digest is standard EIP-712 (checked against eth-account's own implementation), decoding
rejects anything malformed with a typed error, tampering breaks the signature."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given
from hypothesis import strategies as st

from parity_p2p.gossip.envelope import (
    MAX_ENVELOPE_BYTES,
    SigningDomain,
    decode_envelope,
    recover_signer,
    sign_envelope,
    verify_envelope,
)
from parity_p2p.gossip.errors import EnvelopeError

DOMAIN = SigningDomain(314159, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
ACCOUNT = Account.from_key("0x" + "11" * 32)


def _signed(**overrides: object) -> object:
    fields = {"kind": "note", "topic": "parity/v1/session/4", "payload": {"text": "hé", "n": [1, 2.5]},
              "session_id": 4, "round": 2}
    fields.update(overrides)
    return sign_envelope(ACCOUNT, DOMAIN, **fields)  # type: ignore[arg-type]


def test_digest_is_the_eip712_digest_eth_account_computes() -> None:
    envelope = _signed()
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "GossipMessage": [
                {"name": "kind", "type": "string"},
                {"name": "version", "type": "uint16"},
                {"name": "sender", "type": "address"},
                {"name": "topic", "type": "string"},
                {"name": "sessionId", "type": "uint256"},
                {"name": "round", "type": "uint32"},
                {"name": "timestampMs", "type": "uint64"},
                {"name": "nonce", "type": "bytes32"},
                {"name": "payloadHash", "type": "bytes32"},
            ],
        },
        "primaryType": "GossipMessage",
        "domain": {"name": "ParityP2P-gossip", "version": "1", "chainId": 314159,
                   "verifyingContract": DOMAIN.verifying_contract},
        "message": {"kind": "note", "version": 1, "sender": ACCOUNT.address, "topic": "parity/v1/session/4",
                    "sessionId": 4, "round": 2, "timestampMs": envelope.timestamp_ms, "nonce": envelope.nonce,
                    "payloadHash": envelope.payload_hash()},
    }
    assert _hash_eip191_message(encode_typed_data(full_message=typed)) == envelope.digest(DOMAIN)
    assert Account._recover_hash(envelope.digest(DOMAIN), signature=envelope.signature) == ACCOUNT.address
    # Signed by hand over that digest (eth_signing.py): the very bytes eth-account makes for the typed data.
    reference = Account.sign_message(encode_typed_data(full_message=typed), ACCOUNT.key).signature
    assert envelope.signature == bytes(reference)


def test_a_mirrored_high_s_signature_is_refused() -> None:
    envelope = _signed()
    s = int.from_bytes(envelope.signature[32:64], "big")
    order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    mirrored = envelope.signature[:32] + (order - s).to_bytes(32, "big") + bytes([55 - envelope.signature[64]])
    assert Account._recover_hash(envelope.digest(DOMAIN), signature=mirrored) == ACCOUNT.address  # same signer...
    with pytest.raises(EnvelopeError, match="upper half"):  # ...but not canonical: refused, as the contracts do
        recover_signer(dataclasses.replace(envelope, signature=mirrored), DOMAIN)


def test_roundtrip_and_tampering() -> None:
    envelope = _signed()
    decoded = decode_envelope(envelope.encode())
    assert decoded == envelope
    verify_envelope(decoded, DOMAIN)
    for change in ({"round": 3}, {"payload": {"text": "hx", "n": [1, 2.5]}}, {"topic": "parity/v1/session/5"}):
        tampered = dataclasses.replace(envelope, **change)
        with pytest.raises(EnvelopeError, match="bad_signature"):
            verify_envelope(tampered, DOMAIN)
    other_domain = SigningDomain(1, DOMAIN.verifying_contract)
    assert recover_signer(envelope, other_domain) != ACCOUNT.address


def test_size_cap_on_sign_and_decode() -> None:
    with pytest.raises(EnvelopeError, match="too_large"):
        _signed(payload={"text": "x" * MAX_ENVELOPE_BYTES})
    with pytest.raises(EnvelopeError, match="too_large"):
        decode_envelope(b" " * (MAX_ENVELOPE_BYTES + 1))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw.pop("sig"), "missing keys"),
        (lambda raw: raw.update(extra=1), "unexpected keys"),
        (lambda raw: raw.update(round=-1), "round must be a uint32"),
        (lambda raw: raw.update(round=True), "round must be a uint32"),
        (lambda raw: raw.update(v=2**16), "v must be a uint16"),
        (lambda raw: raw.update(sender="0x1234"), "sender is not an address"),
        (lambda raw: raw.update(nonce="0x00"), "nonce must have 32 bytes"),
        (lambda raw: raw.update(kind="Bad Kind"), "kind"),
        (lambda raw: raw.update(payload=[1]), "payload must be a JSON object"),
    ],
)
def test_decode_names_what_is_wrong(mutate: object, message: str) -> None:
    import json

    raw = json.loads(_signed().encode())
    mutate(raw)  # type: ignore[operator]
    with pytest.raises(EnvelopeError, match=message) as info:
        decode_envelope(json.dumps(raw).encode())
    assert info.value.reason == "malformed"


def test_decode_rejects_nan_and_deep_nesting() -> None:
    with pytest.raises(EnvelopeError, match="malformed"):
        decode_envelope(b'{"x": NaN}')
    with pytest.raises(EnvelopeError, match="malformed"):
        decode_envelope(b"[" * 16_000 + b"]" * 16_000)


@given(st.binary(max_size=2048))
def test_decode_of_arbitrary_bytes_raises_only_envelope_error(data: bytes) -> None:
    try:
        envelope = decode_envelope(data)
    except EnvelopeError:
        return
    assert envelope.kind  # a successful decode yields a checked envelope


def test_domain_rejects_bad_values() -> None:
    with pytest.raises(EnvelopeError, match="chain id"):
        SigningDomain(0, DOMAIN.verifying_contract)
    with pytest.raises(EnvelopeError, match="not an address"):
        SigningDomain(1, "0xnope")
