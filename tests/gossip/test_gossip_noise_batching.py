"""The batched Noise reader/writer against the Noise spec's ChaChaPoly transport messages, written here
independently: any message sizes, cut into any socket reads, come out intact and in order; tampering and
truncation are typed errors."""

from __future__ import annotations

import itertools
import os
import struct

import pytest
import trio
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.io.abc import ReadWriteCloser
from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH

from parity_p2p.gossip.errors import NoiseTransportError
from parity_p2p.gossip.noise_batching import BatchedNoiseReadWriter, CipherDirection

KEY = bytes(range(32))


def spec_seal(key: bytes, first_nonce: int, plaintexts: list[bytes]) -> bytes:
    """Noise transport messages per the spec: u16 length, ChaCha20-Poly1305 with nonce 0^4 || LE64(n), no AD."""
    aead = ChaCha20Poly1305(key)
    out = b""
    for n, plaintext in enumerate(plaintexts, start=first_nonce):
        sealed = aead.encrypt(b"\x00" * 4 + n.to_bytes(8, "little"), plaintext, None)
        out += struct.pack(">H", len(sealed)) + sealed
    return out


class ScriptedSocket(ReadWriteCloser):
    """Hands out given byte strings one per read (as a socket may cut them), records writes."""

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = list(reads)
        self.written = b""

    async def read(self, n: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        return self.reads.pop(0) if self.reads else b""

    async def write(self, data: bytes) -> None:
        self.written += bytes(data)

    async def close(self) -> None:
        self.reads = []

    def get_remote_address(self) -> tuple[str, int] | None:
        return None


def reader_over(reads: list[bytes], first_nonce: int = 0) -> BatchedNoiseReadWriter:
    socket = ScriptedSocket(reads)
    return BatchedNoiseReadWriter(socket, None, CipherDirection(KEY, 0), CipherDirection(KEY, first_nonce))  # type: ignore[arg-type]


async def read_all(reader: BatchedNoiseReadWriter) -> bytes:
    received = b""
    while chunk := await reader.read_msg():
        received += bytes(chunk)
    return received


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([0, 1, 17, 1000, MAX_PLAINTEXT_LENGTH - 1, MAX_PLAINTEXT_LENGTH]), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=12),
    first_nonce=st.sampled_from([0, 3, 2**40]),
)
def test_any_messages_cut_anywhere_decrypt_in_order(sizes: list[int], cuts: list[int], first_nonce: int) -> None:
    plaintexts = [os.urandom(size) for size in sizes]
    wire = spec_seal(KEY, first_nonce, plaintexts)
    assert trio.run(read_all, reader_over(cut(wire, cuts), first_nonce)) == b"".join(plaintexts)


@pytest.mark.parametrize("size", [1, MAX_PLAINTEXT_LENGTH, MAX_PLAINTEXT_LENGTH + 1, 3 * MAX_PLAINTEXT_LENGTH + 7])
async def test_writes_are_spec_messages_of_at_most_the_noise_limit(size: int) -> None:
    socket = ScriptedSocket([])
    writer = BatchedNoiseReadWriter(socket, None, CipherDirection(KEY, 5), CipherDirection(KEY, 0))  # type: ignore[arg-type]
    data = os.urandom(size)
    await writer.write_msg(data)
    pieces = [data[i : i + MAX_PLAINTEXT_LENGTH] for i in range(0, size, MAX_PLAINTEXT_LENGTH)]
    assert socket.written == spec_seal(KEY, 5, pieces)


async def test_a_tampered_message_is_a_typed_error() -> None:
    wire = bytearray(spec_seal(KEY, 0, [b"weights" * 100]))
    wire[40] ^= 1
    with pytest.raises(NoiseTransportError, match="failed authentication"):
        await reader_over([bytes(wire)]).read_msg()


async def test_a_message_shorter_than_its_tag_is_a_typed_error() -> None:
    with pytest.raises(NoiseTransportError, match="shorter than its tag"):
        await reader_over([b"\x00\x05abcde"]).read_msg()


async def test_end_of_stream_mid_message_reads_as_closed() -> None:
    wire = spec_seal(KEY, 0, [b"a" * 100, b"b" * 100])
    reader = reader_over([wire[:-10]])
    assert bytes(await reader.read_msg()) == b"a" * 100
    assert await reader.read_msg() == b""
