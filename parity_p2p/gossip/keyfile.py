"""The node's libp2p identity: an Ed25519 key kept in a file (libp2p protobuf encoding, as go-libp2p writes it)."""

from __future__ import annotations

import os
from pathlib import Path

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair, KeyType
from libp2p.crypto.serialization import deserialize_private_key

from .errors import KeyFileError


def create_key_file(path: Path) -> KeyPair:
    """Write a new Ed25519 key to `path` (mode 0600, never overwriting) and return it."""
    key_pair = create_new_key_pair()
    data = key_pair.private_key.serialize()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(str(path), "already exists; refusing to overwrite an identity") from None
    except OSError as exc:
        raise KeyFileError(str(path), exc.strerror or str(exc)) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return key_pair


def load_key_file(path: Path) -> KeyPair:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(str(path), exc.strerror or str(exc)) from None
    try:
        private_key = deserialize_private_key(data)
    except Exception as exc:  # protobuf and key constructors raise assorted types for junk input
        raise KeyFileError(str(path), f"not a libp2p private key: {exc}") from None
    if private_key.get_type() is not KeyType.Ed25519:
        raise KeyFileError(str(path), f"expected an Ed25519 key, found {private_key.get_type().name}")
    return KeyPair(private_key, private_key.get_public_key())


def load_or_create_key_file(path: Path) -> KeyPair:
    return load_key_file(path) if path.exists() else create_key_file(path)
