"""Merkle root over a round's contributions, identical to the Solidity `UpdatesMerkle` library.

leaf = keccak256(abi.encode(runner, updateDigest, uint256(dataSize), uint256(points))) in the given order;
parent = keccak256(left || right); an odd last node is carried up unchanged; one leaf is its own root;
no leaves give the zero root. `update_digest(cid)` = keccak256 of the CID string's UTF-8 bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from eth_abi.abi import encode
from eth_utils.address import is_address
from eth_utils.crypto import keccak

ZERO_ROOT = b"\x00" * 32


class MerkleInputError(ValueError):
    """A contribution that cannot be ABI-encoded the way the contract encodes it."""


class ContributionLike(Protocol):
    """What a leaf needs; `parity_p2p.chain.Contribution` has these attributes."""

    @property
    def runner(self) -> str: ...
    @property
    def update_digest(self) -> bytes: ...
    @property
    def data_size(self) -> int: ...
    @property
    def points(self) -> int: ...


def update_digest(update_cid: str) -> bytes:
    """keccak256 of the UTF-8 bytes of an update's CID string (the contract's `updateDigest`)."""
    if not update_cid:
        raise MerkleInputError("an update CID must not be empty")
    return keccak(update_cid.encode("utf-8"))


def contribution_leaf(c: ContributionLike) -> bytes:
    """The leaf hash of one contribution."""
    if not is_address(c.runner):
        raise MerkleInputError(f"runner is not an address: {c.runner!r}")
    if len(c.update_digest) != 32:
        raise MerkleInputError(f"update digest must be 32 bytes, got {len(c.update_digest)}")
    for label, value in (("data size", c.data_size), ("points", c.points)):
        if not 0 <= value < 2**64:
            raise MerkleInputError(f"{label} must fit uint64, got {value}")
    return keccak(
        encode(["address", "bytes32", "uint256", "uint256"], [c.runner, c.update_digest, c.data_size, c.points])
    )


def root_of_leaves(leaves: Sequence[bytes]) -> bytes:
    """Reduce leaf hashes level by level to the root (odd last node carried up)."""
    level = list(leaves)
    if not level:
        return ZERO_ROOT
    while len(level) > 1:
        level = [
            keccak(level[i] + level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)
        ]
    return level[0]


def updates_root(contributions: Sequence[ContributionLike]) -> bytes:
    """The root the contract computes in `submitRound` and `updatesRoot(...)`."""
    return root_of_leaves([contribution_leaf(c) for c in contributions])
