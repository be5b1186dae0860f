"""Round-leader election with timed failover, identical to the Solidity `LeaderElection` library.

base = uint256(keccak256(abi.encode(seed, uint256(round)))) mod n; the leader at failover step k is
participants[(base + k) mod n] (participants in join order); the step in force at time t is
(t - roundStartedAt) // roundTimeout. Pure functions over plain data: no chain connection needed.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi.abi import encode
from eth_utils.crypto import keccak

_UINT256_MAX = 2**256 - 1


class ElectionInputError(ValueError):
    """An input the on-chain election would reject or never produce (empty list, negative step, bad seed)."""


def _check_seed(seed: bytes) -> None:
    if len(seed) != 32:
        raise ElectionInputError(f"seed must be 32 bytes (bytes32), got {len(seed)}")


def leader_base(seed: bytes, round_number: int, participant_count: int) -> int:
    """Index of the first-choice leader (step 0) of `round_number` among `participant_count` participants."""
    _check_seed(seed)
    if participant_count <= 0:
        raise ElectionInputError("a session without participants has no leader")
    if not 0 <= round_number < 2**32:
        raise ElectionInputError(f"round must fit uint32, got {round_number}")
    digest = keccak(encode(["bytes32", "uint256"], [seed, round_number]))
    return int.from_bytes(digest, "big") % participant_count


def leader_index(seed: bytes, round_number: int, step: int, participant_count: int) -> int:
    """Index into the join-ordered participant list of the leader of `round_number` at failover `step`."""
    if not 0 <= step <= _UINT256_MAX:
        raise ElectionInputError(f"step must be a uint256, got {step}")
    base = leader_base(seed, round_number, participant_count)
    return (base + step) % participant_count


def leader_at(seed: bytes, round_number: int, step: int, participants: Sequence[str]) -> str:
    """Address of the leader of `round_number` at failover `step`; `participants` in join order."""
    return participants[leader_index(seed, round_number, step, len(participants))]


def failover_order(seed: bytes, round_number: int, participants: Sequence[str]) -> list[str]:
    """Every participant once, in the order they become leader of `round_number` (step 0 first)."""
    n = len(participants)
    base = leader_base(seed, round_number, n)
    return [participants[(base + k) % n] for k in range(n)]


def current_step(now: int, round_started_at: int, round_timeout: int) -> int:
    """Failover step in force at `now` (seconds) for a round opened at `round_started_at`."""
    if round_timeout <= 0:
        raise ElectionInputError(f"round timeout must be positive, got {round_timeout}")
    if now < round_started_at:
        # Solidity would underflow and revert; a clock behind the chain is a caller bug, say so.
        raise ElectionInputError(f"now ({now}) is before the round opened ({round_started_at})")
    return (now - round_started_at) // round_timeout


def step_starts_at(step: int, round_started_at: int, round_timeout: int) -> int:
    """Timestamp from which failover `step` is in force (a leader may post from then on)."""
    if step < 0:
        raise ElectionInputError(f"step must be >= 0, got {step}")
    return round_started_at + step * round_timeout
