from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.stats import chisquare

from parity_p2p.secagg import DecryptionFailed, SecAggError
from parity_p2p.secagg.keys import CHANNEL, MASK, KeyPair, PairBinding, commit_seed
from parity_p2p.secagg.prg import expand
from parity_p2p.secagg.sealed import ShareRoute, open_sealed, seal


def test_both_ends_derive_the_same_pairwise_secret_bound_to_round_and_purpose() -> None:
    a, b = KeyPair(), KeyPair()
    binding = PairBinding.of(1, 2, "alice", "bob")
    assert binding == PairBinding.of(1, 2, "bob", "alice")
    assert a.derive(b.public, MASK, binding) == b.derive(a.public, MASK, binding)
    assert a.derive(b.public, MASK, binding) != a.derive(b.public, CHANNEL, binding)
    assert a.derive(b.public, MASK, binding) != a.derive(b.public, MASK, PairBinding.of(1, 3, "alice", "bob"))


def test_a_rebuilt_secret_key_gives_the_same_agreement() -> None:
    a, b = KeyPair(), KeyPair()
    rebuilt = KeyPair.from_secret(a.secret_bytes)
    binding = PairBinding.of(1, 1, "a", "b")
    assert rebuilt.public == a.public
    assert rebuilt.derive(b.public, MASK, binding) == b.derive(a.public, MASK, binding)


def test_bad_keys_are_refused() -> None:
    with pytest.raises(SecAggError, match="32 bytes"):
        KeyPair.from_secret(b"x")
    with pytest.raises(SecAggError, match="public key"):
        KeyPair().derive(b"y" * 5, MASK, PairBinding.of(1, 1, "a", "b"))
    with pytest.raises(SecAggError, match="low-order"):
        KeyPair().derive(bytes(32), MASK, PairBinding.of(1, 1, "a", "b"))


def test_sealed_shares_open_only_on_their_route() -> None:
    key = os.urandom(32)
    route = ShareRoute(1, 2, "alice", "bob")
    sealed = seal(key, b"share bytes", route)
    assert open_sealed(key, sealed, route) == b"share bytes"
    for wrong in (ShareRoute(1, 3, "alice", "bob"), ShareRoute(1, 2, "bob", "alice"), ShareRoute(2, 2, "alice", "bob")):
        with pytest.raises(DecryptionFailed):
            open_sealed(key, sealed, wrong)
    with pytest.raises(DecryptionFailed):
        open_sealed(os.urandom(32), sealed, route)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        open_sealed(key, bytes(tampered), route)


def test_prg_is_deterministic_uniform_and_seed_separated() -> None:
    seed = os.urandom(32)
    words = expand(seed, 50_000)
    assert words.dtype == np.uint64 and len(words) == 50_000
    assert np.array_equal(words, expand(seed, 50_000))
    assert np.array_equal(expand(seed, 10), words[:10])
    assert not np.array_equal(expand(os.urandom(32), 10), words[:10])
    top = np.bincount((words >> np.uint64(56)).astype(np.int64), minlength=256)
    assert chisquare(top).pvalue > 1e-6
    with pytest.raises(SecAggError, match="32 bytes"):
        expand(b"short", 4)


def test_seed_commitment_changes_with_the_seed() -> None:
    seed = os.urandom(32)
    assert commit_seed(seed) == commit_seed(seed) != commit_seed(os.urandom(32))
