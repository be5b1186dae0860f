"""The multiformats this store speaks: unsigned varints, sha2-256 multihashes, base32/base58btc, CIDs.

Only what IPFS file content needs: CIDv1 (raw 0x55 or dag-pb 0x70, sha2-256) written as base32 "b...",
and CIDv0 ("Qm...", base58btc, implicitly dag-pb) accepted for reading.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from parity_p2p.storage.errors import InvalidCid

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
SHA2_256_LENGTH = 32
CODEC_NAMES = {RAW: "raw", DAG_PB: "dag-pb"}
# A few codecs that are valid CIDs elsewhere, named in errors so the user sees what they passed.
_FOREIGN_CODECS = {0x71: "dag-cbor", 0x0129: "dag-json", 0x0200: "json", 0x51: "cbor"}
_MAX_VARINT_BYTES = 9  # the multiformats spec caps unsigned varints at 63 bits
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {c: i for i, c in enumerate(_BASE58_ALPHABET)}


class VarintError(ValueError):
    """A malformed varint; callers turn it into their own typed error with context."""


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as used by multiformats and protobuf."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes | memoryview, offset: int = 0) -> tuple[int, int]:
    """Decode a varint at `offset` into (value, next offset); rejects truncated and non-minimal forms."""
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        pos = offset + i
        if pos >= len(data):
            raise VarintError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise VarintError("non-minimal varint encoding")
            return value, pos + 1
    raise VarintError(f"varint longer than {_MAX_VARINT_BYTES} bytes")


def sha256_multihash(data: bytes | memoryview) -> bytes:
    """The sha2-256 multihash (code, length, digest) of `data`."""
    return bytes((SHA2_256, SHA2_256_LENGTH)) + hashlib.sha256(data).digest()


def base32_encode(data: bytes) -> str:
    """RFC 4648 base32, lower case, no padding (multibase prefix 'b' not included)."""
    return base64.b32encode(data).decode("ascii").lower().rstrip("=")


def base32_decode(text: str) -> bytes:
    """Inverse of base32_encode; accepts either case. Raises ValueError on bad characters or length."""
    if len(text) % 8 in (1, 3, 6):
        raise ValueError(f"a base32 string cannot have {len(text)} characters")
    try:
        return base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except binascii.Error as exc:
        raise ValueError(f"not base32: {exc}") from None


def base58btc_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(_BASE58_ALPHABET[rest])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(digits))


def base58btc_decode(text: str) -> bytes:
    """Raises ValueError naming the first character outside the base58btc alphabet."""
    number = 0
    for char in text:
        if char not in _BASE58_INDEX:
            raise ValueError(f"character {char!r} is not in the base58btc alphabet")
        number = number * 58 + _BASE58_INDEX[char]
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading_zeros + body


@dataclass(frozen=True, slots=True)
class Cid:
    """A content identifier. `multihash` is the full multihash (code, length, digest)."""

    version: int
    codec: int
    multihash: bytes

    @property
    def digest(self) -> bytes:
        return self.multihash[2:]

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES.get(self.codec, hex(self.codec))

    def to_bytes(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def to_v1(self) -> Cid:
        return Cid(1, self.codec, self.multihash)

    def __str__(self) -> str:
        if self.version == 0:
            return base58btc_encode(self.multihash)
        return "b" + base32_encode(self.to_bytes())

    def verify(self, block: bytes | memoryview) -> bool:
        """True if `block` hashes to this CID's digest."""
        return hashlib.sha256(block).digest() == self.digest

    @classmethod
    def for_block(cls, codec: int, block: bytes | memoryview) -> Cid:
        return cls(1, codec, sha256_multihash(block))

    @classmethod
    def parse(cls, text: str) -> Cid:
        """Parse "b..."/"B..." (base32 CIDv1), "z..." (base58btc CIDv1) or "Qm..." (CIDv0).

        Raises InvalidCid saying what is wrong.
        """
        if not isinstance(text, str):
            raise InvalidCid(repr(text), f"expected a string, got {type(text).__name__}")
        stripped = text.strip()
        if not stripped:
            raise InvalidCid(text, "empty string")
        if stripped != text:
            raise InvalidCid(text, "leading or trailing whitespace")
        if len(text) == 46 and text.startswith("Qm"):
            try:
                raw = base58btc_decode(text)
            except ValueError as exc:
                raise InvalidCid(text, f"CIDv0 is not valid base58btc: {exc}") from None
            return cls._from_v0_multihash(text, raw)
        prefix, body = text[0], text[1:]
        try:
            if prefix in "bB":
                raw = base32_decode(body)
            elif prefix == "z":
                raw = base58btc_decode(body)
            else:
                raise InvalidCid(
                    text,
                    f"unsupported multibase prefix {prefix!r}: expected 'b' (base32 CIDv1) "
                    "or a 46-character 'Qm...' CIDv0",
                )
        except ValueError as exc:
            raise InvalidCid(text, f"bad multibase body: {exc}") from None
        return cls.from_bytes(raw, text=text)

    @classmethod
    def from_bytes(cls, raw: bytes, *, text: str | None = None) -> Cid:
        """Decode the binary form of a CID (as found in dag-pb links)."""
        label = text if text is not None else raw.hex()
        if len(raw) == 34 and raw[0] == SHA2_256 and raw[1] == SHA2_256_LENGTH:
            return cls._from_v0_multihash(label, raw)
        try:
            version, pos = decode_varint(raw)
            if version != 1:
                raise InvalidCid(label, f"unsupported CID version {version} (only 0 and 1 exist)")
            codec, pos = decode_varint(raw, pos)
            hash_code, pos = decode_varint(raw, pos)
            length, pos = decode_varint(raw, pos)
        except VarintError as exc:
            raise InvalidCid(label, f"malformed CID bytes: {exc}") from None
        if codec not in CODEC_NAMES:
            name = _FOREIGN_CODECS.get(codec, "unknown")
            raise InvalidCid(
                label, f"codec {codec:#x} ({name}) is not supported: only raw (0x55) and dag-pb (0x70)"
            )
        if hash_code != SHA2_256:
            raise InvalidCid(label, f"hash function {hash_code:#x} is not supported: only sha2-256 (0x12)")
        if length != SHA2_256_LENGTH:
            raise InvalidCid(label, f"sha2-256 digest length is {length}, must be {SHA2_256_LENGTH}")
        digest = raw[pos:]
        if len(digest) != length:
            raise InvalidCid(label, f"digest has {len(digest)} bytes, the multihash declares {length}")
        return cls(1, codec, bytes((SHA2_256, SHA2_256_LENGTH)) + digest)

    @classmethod
    def _from_v0_multihash(cls, label: str, raw: bytes) -> Cid:
        if len(raw) != 34 or raw[0] != SHA2_256 or raw[1] != SHA2_256_LENGTH:
            raise InvalidCid(label, "a CIDv0 must be a 34-byte sha2-256 multihash")
        return cls(0, DAG_PB, raw)


def parse_cid(text: str) -> Cid:
    """Parse and validate a CID string; raises InvalidCid(text, reason)."""
    return Cid.parse(text)


def normalize_cid(text: str) -> str:
    """The canonical CIDv1 base32 form of any accepted CID string."""
    return str(Cid.parse(text).to_v1())
