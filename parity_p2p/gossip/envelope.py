"""Signed gossip records: typed, versioned, EIP-712 signed with the sender's Ethereum key.

The digest is EIP-712 (`\\x19\\x01 || domainSeparator || structHash`) under its own domain name, so a gossip
signature can never be replayed as a round attestation or proposal (those use the domain "ParityP2P"), yet a
contract holding the same domain could check it with `ecrecover`. The payload enters the struct as the keccak256
of its canonical JSON, so the contract never has to parse JSON.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from parity_p2p.eth_signing import (
    SignatureError,
    domain_separator,
    recover_address,
    sign_digest,
    typed_digest,
    word,
)

from .errors import EnvelopeError

ENVELOPE_VERSION = 1
"""Wire format version of the envelope itself (payload schemas carry their own `version`)."""

MAX_ENVELOPE_BYTES = 32 * 1024
"""Hard cap on an encoded envelope. Gossip frames above 64 KiB can interleave on Yamux (TOOLCHAIN), so we stay at
half of that, leaving room for the pubsub RPC wrapper (topic, seqno, libp2p signature: ~200 bytes)."""

DOMAIN_NAME = "ParityP2P-gossip"
DOMAIN_VERSION = "1"
NONCE_BYTES = 32

GOSSIP_MESSAGE_TYPE = (
    "GossipMessage(string kind,uint16 version,address sender,string topic,uint256 sessionId,uint32 round,"
    "uint64 timestampMs,bytes32 nonce,bytes32 payloadHash)"
)
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_MAX_TOPIC_LEN = 128
_WIRE_KEYS = frozenset({"kind", "v", "sender", "topic", "session", "round", "ts", "nonce", "payload", "sig"})
_UINT_BITS = {"v": 16, "session": 256, "round": 32, "ts": 64}


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, no NaN: the same value always gives the same bytes."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise EnvelopeError("bad_payload", f"not canonical JSON: {exc}") from None


@dataclass(frozen=True)
class SigningDomain:
    """Where signatures are valid: the chain and the SessionManager contract of this network."""

    chain_id: int
    verifying_contract: str

    def __post_init__(self) -> None:
        if self.chain_id <= 0:
            raise EnvelopeError("bad_domain", f"chain id must be positive, got {self.chain_id}")
        if not is_address(self.verifying_contract):
            raise EnvelopeError("bad_domain", f"not an address: {self.verifying_contract!r}")

    def separator(self) -> bytes:
        return domain_separator(DOMAIN_NAME, DOMAIN_VERSION, self.chain_id, self.verifying_contract)


_GOSSIP_MESSAGE_TYPE_HASH = keccak(text=GOSSIP_MESSAGE_TYPE)


@functools.lru_cache(maxsize=256)
def _text_hash(text: str) -> bytes:
    """keccak of a kind or topic name: a node uses a handful of each."""
    return keccak(text=text)


@dataclass(frozen=True)
class Envelope:
    """One gossip record. `version` is the version of the payload schema of `kind`."""

    kind: str
    version: int
    sender: str
    topic: str
    session_id: int
    round: int
    timestamp_ms: int
    nonce: bytes
    payload: Mapping[str, Any] = field(hash=False)
    signature: bytes = b""

    def payload_hash(self) -> bytes:
        return keccak(canonical_json(dict(self.payload)))

    def struct_hash(self) -> bytes:
        # abi.encode of static fields: one 32-byte word each (the sender's checksum was checked on decode).
        return keccak(
            _GOSSIP_MESSAGE_TYPE_HASH
            + _text_hash(self.kind)
            + word(self.version)
            + bytes.fromhex(self.sender[2:]).rjust(32, b"\0")
            + _text_hash(self.topic)
            + word(self.session_id)
            + word(self.round)
            + word(self.timestamp_ms)
            + self.nonce
            + self.payload_hash()
        )

    def digest(self, domain: SigningDomain) -> bytes:
        """The 32-byte EIP-712 digest a contract would pass to ecrecover."""
        return typed_digest(domain.separator(), self.struct_hash())

    def encode(self) -> bytes:
        """Canonical JSON wire form; raises EnvelopeError("too_large") above MAX_ENVELOPE_BYTES."""
        data = canonical_json(
            {
                "kind": self.kind,
                "v": self.version,
                "sender": self.sender,
                "topic": self.topic,
                "session": self.session_id,
                "round": self.round,
                "ts": self.timestamp_ms,
                "nonce": "0x" + self.nonce.hex(),
                "payload": dict(self.payload),
                "sig": "0x" + self.signature.hex(),
            }
        )
        if len(data) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError("too_large", f"{len(data)} bytes > {MAX_ENVELOPE_BYTES}")
        return data


def sign_envelope(
    account: LocalAccount,
    domain: SigningDomain,
    *,
    kind: str,
    topic: str,
    payload: Mapping[str, Any],
    version: int = 1,
    session_id: int = 0,
    round: int = 0,
    timestamp_ms: int | None = None,
    nonce: bytes | None = None,
) -> Envelope:
    """Build and sign an envelope; checks the same rules decode_envelope enforces, so we never send what peers drop."""
    unsigned = Envelope(
        kind=kind,
        version=version,
        sender=account.address,
        topic=topic,
        session_id=session_id,
        round=round,
        timestamp_ms=int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        nonce=secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce,
        payload=dict(payload),
    )
    _check_fields(unsigned)
    signature = sign_digest(account, unsigned.digest(domain))
    envelope = Envelope(**{**unsigned.__dict__, "signature": signature})
    envelope.encode()  # size check before anyone relies on it
    return envelope


def recover_signer(envelope: Envelope, domain: SigningDomain) -> str:
    """The checksum address that signed the envelope; EnvelopeError("bad_signature") if none can be recovered."""
    try:
        return recover_address(envelope.digest(domain), envelope.signature)
    except SignatureError as exc:
        raise EnvelopeError("bad_signature", f"cannot recover signer: {exc}") from None


def verify_envelope(envelope: Envelope, domain: SigningDomain) -> None:
    """Raise EnvelopeError("bad_signature") unless the envelope is signed by its declared sender."""
    signer = recover_signer(envelope, domain)
    if signer != envelope.sender:
        raise EnvelopeError("bad_signature", f"signed by {signer}, claims {envelope.sender}")


def decode_envelope(data: bytes, *, max_size: int = MAX_ENVELOPE_BYTES) -> Envelope:
    """Parse and schema-check wire bytes (no signature check). Raises EnvelopeError with reason
    "too_large" or "malformed"."""
    if len(data) > max_size:
        raise EnvelopeError("too_large", f"{len(data)} bytes > {max_size}")
    try:
        raw = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EnvelopeError("malformed", f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise EnvelopeError("malformed", "envelope is not a JSON object")
    keys = set(raw)
    if keys != _WIRE_KEYS:
        missing, extra = sorted(_WIRE_KEYS - keys), sorted(keys - _WIRE_KEYS)
        raise EnvelopeError("malformed", f"missing keys {missing}, unexpected keys {extra}")
    for key, bits in _UINT_BITS.items():
        value = raw[key]
        if type(value) is not int or not 0 <= value < 2**bits:
            raise EnvelopeError("malformed", f"{key} must be a uint{bits}, got {value!r}")
    for key in ("kind", "sender", "topic", "nonce", "sig"):
        if not isinstance(raw[key], str):
            raise EnvelopeError("malformed", f"{key} must be a string")
    if not isinstance(raw["payload"], dict):
        raise EnvelopeError("malformed", "payload must be a JSON object")
    if not is_address(raw["sender"]):
        raise EnvelopeError("malformed", f"sender is not an address: {raw['sender']!r}")
    envelope = Envelope(
        kind=raw["kind"],
        version=raw["v"],
        sender=to_checksum_address(raw["sender"]),
        topic=raw["topic"],
        session_id=raw["session"],
        round=raw["round"],
        timestamp_ms=raw["ts"],
        nonce=_hex_field("nonce", raw["nonce"], NONCE_BYTES),
        payload=raw["payload"],
        signature=_hex_field("sig", raw["sig"], 65),
    )
    _check_fields(envelope)
    return envelope


def _check_fields(envelope: Envelope) -> None:
    if not _KIND_RE.match(envelope.kind):
        raise EnvelopeError("malformed", f"kind {envelope.kind!r} must match {_KIND_RE.pattern}")
    if not envelope.topic or len(envelope.topic) > _MAX_TOPIC_LEN:
        raise EnvelopeError("malformed", f"topic must have 1..{_MAX_TOPIC_LEN} characters")
    if len(envelope.nonce) != NONCE_BYTES:
        raise EnvelopeError("malformed", f"nonce must have {NONCE_BYTES} bytes")
    for name, value, bits in (
        ("version", envelope.version, 16),
        ("session_id", envelope.session_id, 256),
        ("round", envelope.round, 32),
        ("timestamp_ms", envelope.timestamp_ms, 64),
    ):
        if not 0 <= value < 2**bits:
            raise EnvelopeError("malformed", f"{name} {value} does not fit uint{bits}")


def _hex_field(name: str, text: str, length: int) -> bytes:
    if not text.startswith("0x"):
        raise EnvelopeError("malformed", f"{name} must be 0x-prefixed hex")
    try:
        value = bytes.fromhex(text[2:])
    except ValueError:
        raise EnvelopeError("malformed", f"{name} is not hex") from None
    if len(value) != length:
        raise EnvelopeError("malformed", f"{name} must have {length} bytes, got {len(value)}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in canonical JSON")
