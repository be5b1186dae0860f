"""Mask expansion: a 32-byte seed to a vector of ring words, by the ChaCha20 keystream (RFC 7539's cipher).

Each seed is used for exactly one vector per round (seeds are derived per session and round), so a fixed nonce is
safe: the keystream is a pseudorandom function of the seed. numpy views the bytes directly: ~1 ms per 100k words.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from parity_p2p.secagg.errors import SecAggError
from parity_p2p.secagg.quantize import Words

SEED_BYTES = 32
_NONCE = bytes(16)  # cryptography's ChaCha20 takes a 16-byte nonce: 4-byte block counter + 12-byte nonce


def expand(seed: bytes, length: int, dtype: type[np.unsignedinteger] = np.uint64) -> Words:
    """`length` pseudorandom words of `dtype` (uniform over the ring) from `seed`."""
    if len(seed) != SEED_BYTES:
        raise SecAggError(f"a mask seed has {SEED_BYTES} bytes, got {len(seed)}")
    encryptor = Cipher(algorithms.ChaCha20(seed, _NONCE), mode=None).encryptor()
    word = np.dtype(dtype).newbyteorder("<")
    stream = encryptor.update(bytes(word.itemsize * length))
    return np.frombuffer(stream, dtype=word).astype(dtype, copy=False)
