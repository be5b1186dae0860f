"""Encrypted share delivery: ChaCha20-Poly1305 under the pair's channel key, bound to session, round, sender and
recipient as associated data, so a share cannot be replayed into another round or passed off as another pair's."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from parity_p2p.secagg.errors import DecryptionFailed

NONCE_BYTES = 12


@dataclass(frozen=True)
class ShareRoute:
    session_id: int
    round: int
    sender: str
    recipient: str

    def associated_data(self) -> bytes:
        return f"parity-secagg/share|{self.session_id}|{self.round}|{self.sender}|{self.recipient}".encode()


def seal(key: bytes, plaintext: bytes, route: ShareRoute) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, route.associated_data())


def open_sealed(key: bytes, sealed: bytes, route: ShareRoute) -> bytes:
    try:
        return ChaCha20Poly1305(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], route.associated_data())
    except (InvalidTag, ValueError):
        raise DecryptionFailed(route.sender, route.recipient) from None
