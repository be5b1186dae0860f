"""Shamir secret sharing of 32-byte secrets over the prime field GF(2^521 - 1).

A secret is the constant term of a random polynomial of degree t - 1; holder x gets (x, f(x)). Any t shares give
the secret by Lagrange interpolation at 0; t - 1 shares are consistent with every secret equally (perfect secrecy),
so `reconstruct` refuses fewer than t instead of returning a meaningless number. The Mersenne prime 2^521 - 1 is
the smallest convenient prime above 2^256, so every 32-byte value is a field element.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping

from parity_p2p.secagg.errors import NotEnoughShares, SecAggError

PRIME = (1 << 521) - 1
SHARE_BYTES = 66  # ceil(521 / 8)
SECRET_BYTES = 32


def split(secret: bytes, holders: Iterable[int], threshold: int) -> dict[int, int]:
    """Shares of `secret` for holder x-coordinates `holders` (distinct, 1 <= x < PRIME), any `threshold` rebuild it."""
    xs = list(holders)
    if len(secret) != SECRET_BYTES:
        raise SecAggError(f"a shared secret has {SECRET_BYTES} bytes, got {len(secret)}")
    if len(set(xs)) != len(xs) or any(not 0 < x < PRIME for x in xs):
        raise SecAggError("share coordinates must be distinct and in 1..PRIME-1")
    if not 1 <= threshold <= len(xs):
        raise SecAggError(f"threshold {threshold} must be in 1..{len(xs)} (the number of holders)")
    coefficients = [int.from_bytes(secret, "big")] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    return {x: _evaluate(coefficients, x) for x in xs}


def reconstruct(shares: Mapping[int, int], threshold: int, *, about: str = "", kind: str = "") -> bytes:
    """The secret from at least `threshold` shares (the first `threshold` by coordinate, so every node that holds the
    same shares computes the same bytes). Fewer raise NotEnoughShares."""
    if len(shares) < threshold:
        raise NotEnoughShares(about, kind, len(shares), threshold)
    points = sorted(shares.items())[:threshold]
    secret = 0
    for i, (x_i, y_i) in enumerate(points):
        numerator, denominator = 1, 1
        for j, (x_j, _) in enumerate(points):
            if i != j:
                numerator = numerator * x_j % PRIME  # Lagrange basis at 0: prod x_j / (x_j - x_i)
                denominator = denominator * (x_j - x_i) % PRIME
        secret = (secret + y_i * numerator * pow(denominator, -1, PRIME)) % PRIME
    if secret >= 1 << (8 * SECRET_BYTES):
        raise SecAggError(f"shares of {kind} secret of {about} interpolate outside 32 bytes: some share is wrong")
    return secret.to_bytes(SECRET_BYTES, "big")


def share_to_bytes(value: int) -> bytes:
    return value.to_bytes(SHARE_BYTES, "big")


def share_from_bytes(raw: bytes) -> int:
    if len(raw) != SHARE_BYTES:
        raise SecAggError(f"a share has {SHARE_BYTES} bytes, got {len(raw)}")
    value = int.from_bytes(raw, "big")
    if value >= PRIME:
        raise SecAggError("a share value is outside the field")
    return value


def _evaluate(coefficients: list[int], x: int) -> int:
    result = 0
    for c in reversed(coefficients):  # Horner
        result = (result * x + c) % PRIME
    return result
