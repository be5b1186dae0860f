"""The protocol's messages as typed values, with their wire forms.

Small ones (keys, encrypted shares, survivor set, reveals) become JSON payloads of signed gossip messages: bytes
as hex, so `to_payload`/`from_payload` are inverses and `from_payload` checks every field of untrusted input. The
masked vector rides the update stream protocol as bytes (`MaskedInput.encode`/`decode`). Who sent a message is
not in it: the transport's signed envelope says so, and the receiver passes it in.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from parity_p2p.secagg.errors import InvalidMessage
from parity_p2p.secagg.keys import KEY_BYTES
from parity_p2p.secagg.quantize import Words
from parity_p2p.secagg.shamir import PRIME, SHARE_BYTES

MAX_RUNNER_ID = 128
MAX_ENTRIES = 1024
MAX_SEALED_BYTES = 512


class ShareKind(enum.Enum):
    SELF_SEED = "self"  # revealed for a survivor: removes its self mask
    MASK_KEY = "mask"  # revealed for a dropped runner: rebuilds its pairwise masks


@dataclass(frozen=True)
class KeyAdvert:
    """Step 1: a runner's two public keys for the round and its commitment to its self-mask seed."""

    channel_public: bytes
    mask_public: bytes
    seed_commitment: bytes

    def to_payload(self) -> dict[str, Any]:
        return {
            "channel": self.channel_public.hex(),
            "mask": self.mask_public.hex(),
            "seed": self.seed_commitment.hex(),
        }

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> KeyAdvert:
        return cls(
            _hex(p, "channel", KEY_BYTES, "keys"), _hex(p, "mask", KEY_BYTES, "keys"), _hex(p, "seed", 32, "keys")
        )


@dataclass(frozen=True)
class SharePacket:
    """Step 2: a runner's shares of its mask key and self seed, one ciphertext per share holder."""

    sealed: dict[str, bytes]  # recipient -> nonce + ciphertext

    def to_payload(self) -> dict[str, Any]:
        return {"shares": [[r, c.hex()] for r, c in sorted(self.sealed.items())]}

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> SharePacket:
        entries = _list(p, "shares", "shares")
        sealed: dict[str, bytes] = {}
        for item in entries:
            if not (isinstance(item, list) and len(item) == 2):
                raise InvalidMessage("shares", "each entry is [recipient, ciphertext]")
            recipient = _runner(item[0], "shares")
            raw = _hex_value(item[1], "shares")
            if len(raw) > MAX_SEALED_BYTES or recipient in sealed:
                raise InvalidMessage("shares", f"oversized or repeated share for {recipient}")
            sealed[recipient] = raw
        return cls(sealed)


@dataclass(frozen=True)
class MaskedInput:
    """Step 3: n_i * q(x_i) + self mask + pairwise masks (ring words), with the public weight n_i and the neighbours
    this runner added pairwise masks for (the aggregator needs to know which masks to cancel)."""

    masked: Words
    weight: int
    mask_peers: tuple[str, ...]

    _MAGIC = b"PSA1"

    def encode(self) -> bytes:
        word = self.masked.dtype.newbyteorder("<")
        header = json.dumps({"weight": self.weight, "peers": list(self.mask_peers), "length": len(self.masked)})
        head = header.encode()
        return self._MAGIC + struct.pack(">I", len(head)) + head + self.masked.astype(word).tobytes()

    @classmethod
    def decode(cls, data: bytes, *, expected_length: int, dtype: type[np.unsignedinteger] = np.uint64) -> MaskedInput:
        if data[:4] != cls._MAGIC or len(data) < 8:
            raise InvalidMessage("masked input", "not a masked input (bad magic)")
        (size,) = struct.unpack(">I", data[4:8])
        if size > 64 * 1024 or 8 + size > len(data):
            raise InvalidMessage("masked input", "header size out of range")
        try:
            header = json.loads(data[8 : 8 + size])
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidMessage("masked input", "header is not JSON") from None
        if not isinstance(header, dict) or set(header) != {"weight", "peers", "length"}:
            raise InvalidMessage("masked input", "header must hold exactly weight, peers, length")
        weight, length = header["weight"], header["length"]
        if type(weight) is not int or weight < 1:
            raise InvalidMessage("masked input", f"weight must be an integer >= 1, got {weight!r}")
        word = np.dtype(dtype).newbyteorder("<")
        if length != expected_length or len(data) - 8 - size != word.itemsize * expected_length:
            raise InvalidMessage("masked input", f"expected {expected_length} words")
        peers = tuple(_runner(p, "masked input") for p in _list(header, "peers", "masked input"))
        if len(set(peers)) != len(peers):
            raise InvalidMessage("masked input", "repeated mask peer")
        words = np.frombuffer(data, dtype=word, offset=8 + size).astype(dtype)
        return cls(words, weight, peers)


@dataclass(frozen=True)
class SurvivorSet:
    """Step 4, from the leader: whose masked inputs are in the sum, and whose pairwise masks must be rebuilt."""

    survivors: tuple[str, ...]
    dropped: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "survivors", tuple(sorted(self.survivors)))
        object.__setattr__(self, "dropped", tuple(sorted(self.dropped)))

    def to_payload(self) -> dict[str, Any]:
        return {"survivors": list(self.survivors), "dropped": list(self.dropped)}

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> SurvivorSet:
        survivors = [_runner(r, "survivors") for r in _list(p, "survivors", "survivors")]
        dropped = [_runner(r, "survivors") for r in _list(p, "dropped", "survivors")]
        if len(set(survivors)) != len(survivors) or len(set(dropped)) != len(dropped) or set(survivors) & set(dropped):
            raise InvalidMessage("survivors", "survivors and dropped must be distinct and disjoint")
        return cls(tuple(survivors), tuple(dropped))


@dataclass(frozen=True)
class RevealedShare:
    about: str
    kind: ShareKind
    value: int


@dataclass(frozen=True)
class Reveal:
    """Step 5: the shares one runner reveals for one survivor set (its x-coordinate is its own position)."""

    survivor_set: SurvivorSet
    shares: tuple[RevealedShare, ...]

    def to_payload(self) -> dict[str, Any]:
        return {
            **self.survivor_set.to_payload(),
            "shares": [[s.about, s.kind.value, s.value.to_bytes(SHARE_BYTES, "big").hex()] for s in self.shares],
        }

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> Reveal:
        survivor_set = SurvivorSet.from_payload(p)
        shares = []
        for item in _list(p, "shares", "reveal"):
            if not (isinstance(item, list) and len(item) == 3):
                raise InvalidMessage("reveal", "each share is [about, kind, value]")
            try:
                kind = ShareKind(item[1])
            except ValueError:
                raise InvalidMessage("reveal", f"unknown share kind {item[1]!r}") from None
            raw = _hex_value(item[2], "reveal")
            value = int.from_bytes(raw, "big")
            if len(raw) != SHARE_BYTES or value >= PRIME:
                raise InvalidMessage("reveal", "a share value is not a field element")
            shares.append(RevealedShare(_runner(item[0], "reveal"), kind, value))
        return cls(survivor_set, tuple(shares))


def _list(p: Mapping[str, Any], key: str, kind: str) -> list[Any]:
    value = p.get(key)
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise InvalidMessage(kind, f"{key} must be a list of at most {MAX_ENTRIES} entries")
    return value


def _runner(value: object, kind: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_RUNNER_ID:
        raise InvalidMessage(kind, f"runner ids are non-empty strings of at most {MAX_RUNNER_ID} characters")
    return value


def _hex_value(value: object, kind: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidMessage(kind, "expected a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidMessage(kind, "not hex") from None


def _hex(p: Mapping[str, Any], key: str, length: int, kind: str) -> bytes:
    raw = _hex_value(p.get(key), kind)
    if len(raw) != length:
        raise InvalidMessage(kind, f"{key} has {len(raw)} bytes, expected {length}")
    return raw
