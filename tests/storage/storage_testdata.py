"""Deterministic content for the storage tests (imported by name: tests/storage is on sys.path)."""

from __future__ import annotations

import hashlib


def vector_bytes(name: str, size: int) -> bytes:
    """SHAKE-128 of a label, truncated: the same recipe the npm vector generator used."""
    if size == 0:
        return b""
    return hashlib.shake_128(f"parity-p2p storage vector {name}".encode()).digest(size)
