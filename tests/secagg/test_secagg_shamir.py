from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_p2p.secagg import NotEnoughShares, SecAggError
from parity_p2p.secagg.shamir import PRIME, reconstruct, share_from_bytes, share_to_bytes, split


def test_every_threshold_subset_rebuilds_the_secret() -> None:
    secret = os.urandom(32)
    shares = split(secret, range(1, 7), 4)
    for subset in itertools.combinations(shares, 4):
        assert reconstruct({x: shares[x] for x in subset}, 4) == secret


def test_fewer_than_threshold_shares_are_refused() -> None:
    shares = split(os.urandom(32), range(1, 7), 4)
    with pytest.raises(NotEnoughShares) as info:
        reconstruct({x: shares[x] for x in (1, 2, 3)}, 4, about="r01", kind="self")
    assert (info.value.have, info.value.need, info.value.about) == (3, 4, "r01")


def test_threshold_minus_one_shares_fit_any_secret() -> None:
    """Perfect secrecy: for t - 1 shares and any candidate secret there is a degree t-1 polynomial through them, so
    the shares say nothing about which secret it was. We build it by adding the candidate as the share at x = 0."""
    secret, candidate = os.urandom(32), os.urandom(32)
    shares = split(secret, range(1, 7), 3)
    partial = {1: shares[1], 2: shares[2]}
    forged = {0: int.from_bytes(candidate, "big"), **partial}
    # A polynomial through (0, candidate), (1, s1), (2, s2) exists: interpolate at a third point and back at 0.
    x3 = _interpolate(forged, 3)
    assert reconstruct({**partial, 3: x3}, 3) == candidate


def _interpolate(points: dict[int, int], at: int) -> int:
    value = 0
    for xi, yi in points.items():
        num, den = 1, 1
        for xj in points:
            if xj != xi:
                num, den = num * (at - xj) % PRIME, den * (xi - xj) % PRIME
        value = (value + yi * num * pow(den, -1, PRIME)) % PRIME
    return value


def test_bad_inputs() -> None:
    with pytest.raises(SecAggError, match="32 bytes"):
        split(b"short", [1, 2], 2)
    with pytest.raises(SecAggError, match="distinct"):
        split(os.urandom(32), [1, 1], 2)
    with pytest.raises(SecAggError, match="distinct"):
        split(os.urandom(32), [0, 1], 2)
    with pytest.raises(SecAggError, match="threshold"):
        split(os.urandom(32), [1, 2], 3)
    with pytest.raises(SecAggError):
        share_from_bytes(b"\xff" * 66)  # above the prime
    with pytest.raises(SecAggError):
        share_from_bytes(b"\x00" * 65)


def test_a_wrong_share_does_not_silently_rebuild_the_secret() -> None:
    secret = os.urandom(32)
    shares = split(secret, range(1, 5), 3)
    shares[2] = (shares[2] + 1) % PRIME
    try:
        rebuilt = reconstruct(shares, 3)
    except SecAggError:
        return  # out of the 32-byte range: detected
    assert rebuilt != secret


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(2, 8), st.data())
def test_split_reconstruct_property(secret: bytes, n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, n))
    xs = data.draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    shares = split(secret, xs, t)
    chosen = data.draw(st.lists(st.sampled_from(xs), min_size=t, max_size=n, unique=True))
    assert reconstruct({x: shares[x] for x in chosen}, t) == secret
    assert share_from_bytes(share_to_bytes(shares[xs[0]])) == shares[xs[0]]
