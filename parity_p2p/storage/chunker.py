"""Fixed-size chunking, as Kubo's default `size-262144` chunker does it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

CHUNK_SIZE = 256 * 1024


def chunk_bytes(data: bytes | memoryview, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Cut `data` into `chunk_size` pieces; empty input gives one empty chunk (an empty file is one block)."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    view = memoryview(data)
    if len(view) == 0:
        yield b""
        return
    for start in range(0, len(view), chunk_size):
        yield bytes(view[start : start + chunk_size])


def chunk_stream(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Read `stream` in full `chunk_size` pieces (short reads are completed), holding one chunk at a time."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    emitted = False
    while True:
        chunk = _read_full(stream, chunk_size)
        if not chunk:
            break
        emitted = True
        yield chunk
        if len(chunk) < chunk_size:
            break
    if not emitted:
        yield b""


def _read_full(stream: BinaryIO, size: int) -> bytes:
    # Pipes and sockets may return fewer bytes than asked; chunk boundaries must not depend on that.
    parts: list[bytes] = []
    remaining = size
    while remaining:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)
