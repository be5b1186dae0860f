"""Mask arithmetic shared by runners (adding masks) and aggregators (removing them)."""

from __future__ import annotations

import numpy as np

from parity_p2p.secagg.context import RoundContext
from parity_p2p.secagg.keys import MASK, KeyPair
from parity_p2p.secagg.prg import expand
from parity_p2p.secagg.quantize import Words


def apply_pairwise(
    ctx: RoundContext, vector: Words, owner: str, peer: str, secret_end: KeyPair, other_public: bytes, direction: int
) -> None:
    """Add (direction = +1) or remove (-1), in place, the pairwise mask `owner` puts on its input for `peer`.
    Either end's mask secret key (`secret_end`, with the other end's public key) computes it: X25519 agreement is
    symmetric and the HKDF binding names the unordered pair."""
    mask = expand(secret_end.derive(other_public, MASK, ctx.binding(owner, peer)), len(vector), vector.dtype.type)
    if ctx.sign(owner, peer) * direction > 0:
        np.add(vector, mask, out=vector)
    else:
        np.subtract(vector, mask, out=vector)
