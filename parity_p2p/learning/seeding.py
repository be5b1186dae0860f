"""Deterministic random generators derived from a session seed and a purpose.

Every random choice in the learning core comes from ``numpy.random.Generator(PCG64)`` seeded here, never
from global state, so two machines with the same inputs draw the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import numpy as np

TORCH_RNG_LOCK = threading.RLock()
"""Held around every use of torch's global generator (seeded init, dropout during training). That generator is
process-wide: two threads seeding and drawing from it at once (a node training one session while it builds the
next round's model, or several nodes in one test process) would interleave draws and break reproducibility."""


def derive_seed(seed: bytes | int, purpose: str, **params: Any) -> bytes:
    """A 32-byte digest of (seed, purpose, params); params must be JSON-serialisable."""
    seed_bytes = seed if isinstance(seed, bytes) else seed.to_bytes(32, "big", signed=True)
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    hasher = hashlib.sha256()
    for part in (b"parity-p2p/learning/v1", seed_bytes, purpose.encode(), canonical.encode()):
        # Length prefixes keep (a, bc) and (ab, c) apart.
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.digest()


def generator(seed: bytes | int, purpose: str, **params: Any) -> np.random.Generator:
    """A fresh PCG64 generator for (seed, purpose, params)."""
    digest = derive_seed(seed, purpose, **params)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int.from_bytes(digest, "big"))))
