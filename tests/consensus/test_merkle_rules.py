"""Updates Merkle root: the rules of docs/specs/chain-interface.md, checked against a hand-built encoding."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_utils.crypto import keccak

from parity_p2p.consensus.merkle import (
    ZERO_ROOT,
    MerkleInputError,
    contribution_leaf,
    update_digest,
    updates_root,
)


@dataclass(frozen=True)
class C:
    runner: str
    update_digest: bytes
    data_size: int
    points: int


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def manual_leaf(c: C) -> bytes:
    # abi.encode of four static values: each left-padded to one 32-byte word.
    return keccak(word(int(c.runner, 16)) + c.update_digest + word(c.data_size) + word(c.points))


def contributions(n: int) -> list[C]:
    return [C(f"0x{i + 1:040x}", keccak(f"cid-{i}".encode()), 100 * (i + 1), 7 * i) for i in range(n)]


def test_empty_list_has_zero_root() -> None:
    assert updates_root([]) == ZERO_ROOT


def test_leaf_is_abi_encoded_words() -> None:
    c = contributions(1)[0]
    assert contribution_leaf(c) == manual_leaf(c)
    assert updates_root([c]) == manual_leaf(c)


def test_three_leaves_carry_the_odd_node_up() -> None:
    cs = contributions(3)
    l0, l1, l2 = (manual_leaf(c) for c in cs)
    assert updates_root(cs) == keccak(keccak(l0 + l1) + l2)


def test_five_leaves() -> None:
    cs = contributions(5)
    l0, l1, l2, l3, l4 = (manual_leaf(c) for c in cs)
    level1 = [keccak(l0 + l1), keccak(l2 + l3), l4]
    level2 = [keccak(level1[0] + level1[1]), level1[2]]
    assert updates_root(cs) == keccak(level2[0] + level2[1])


def test_order_matters() -> None:
    cs = contributions(4)
    assert updates_root(cs) != updates_root(list(reversed(cs)))


def test_update_digest_is_keccak_of_utf8_cid() -> None:
    cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert update_digest(cid) == keccak(cid.encode())
    with pytest.raises(MerkleInputError):
        update_digest("")


@pytest.mark.parametrize(
    "bad",
    [
        C("0x1234", b"\x00" * 32, 1, 1),
        C("0x" + "11" * 20, b"\x00" * 31, 1, 1),
        C("0x" + "11" * 20, b"\x00" * 32, 2**64, 1),
        C("0x" + "11" * 20, b"\x00" * 32, 1, -1),
    ],
)
def test_rejects_what_the_contract_cannot_encode(bad: C) -> None:
    with pytest.raises(MerkleInputError):
        contribution_leaf(bad)
