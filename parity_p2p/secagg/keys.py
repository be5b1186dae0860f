"""Per-round X25519 key pairs and the pairwise secrets derived from them with HKDF-SHA256.

Each runner makes two pairs per round, as in Bonawitz et al.: a channel pair (encrypts the shares it sends and
receives) and a mask pair (its pairwise mask seeds). Only the mask pair's secret key is Shamir-shared, so
rebuilding a dropped runner's mask key never opens the shares it exchanged. Every derived secret is bound to the
session, round and the unordered pair, so no key or mask repeats across rounds or pairs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from parity_p2p.secagg.errors import SecAggError

KEY_BYTES = 32


@dataclass(frozen=True)
class PairBinding:
    """What a pairwise secret is bound to: one session, one round, one unordered pair of runners."""

    session_id: int
    round: int
    first: str
    second: str

    @classmethod
    def of(cls, session_id: int, round_number: int, a: str, b: str) -> PairBinding:
        first, second = sorted((a, b))
        return cls(session_id, round_number, first, second)

    def encode(self) -> bytes:
        return f"{self.session_id}|{self.round}|{self.first}|{self.second}".encode()


class KeyPair:
    """One X25519 key pair; `secret_bytes` is what gets Shamir-shared for the mask pair."""

    def __init__(self, private: X25519PrivateKey | None = None) -> None:
        self._private = private if private is not None else X25519PrivateKey.generate()
        self.public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def from_secret(cls, secret: bytes) -> KeyPair:
        if len(secret) != KEY_BYTES:
            raise SecAggError(f"an X25519 secret key has {KEY_BYTES} bytes, got {len(secret)}")
        return cls(X25519PrivateKey.from_private_bytes(secret))

    @property
    def secret_bytes(self) -> bytes:
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def derive(self, peer_public: bytes, purpose: bytes, binding: PairBinding) -> bytes:
        """32 bytes both ends compute alike: HKDF(X25519(mine, theirs), info = purpose | binding)."""
        if len(peer_public) != KEY_BYTES:
            raise SecAggError(f"an X25519 public key has {KEY_BYTES} bytes, got {len(peer_public)}")
        try:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(peer_public))
        except ValueError:
            raise SecAggError("the peer's public key is a low-order point") from None
        info = b"parity-secagg/" + purpose + b"/" + binding.encode()
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(shared)


CHANNEL = b"channel"
MASK = b"mask"


def commit_seed(seed: bytes) -> bytes:
    """Public commitment to a self-mask seed, so a rebuilt seed can be checked (seeds are 256-bit random)."""
    return hashlib.sha256(b"parity-secagg/self-seed/" + seed).digest()
