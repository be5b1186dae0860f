"""Plain-Python mirrors of the contracts' structs and enums (amounts in token base units, 18 decimals)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_utils.address import to_checksum_address


class SessionStatus(IntEnum):
    NONE = 0
    OPEN = 1
    ACTIVE = 2
    COMPLETED = 3
    CANCELLED = 4
    ABANDONED = 5


@dataclass(frozen=True)
class SessionParams:
    name: str
    dataset_cid: str
    spec_cid: str
    spec_hash: bytes  # keccak256 of the spec JSON bytes
    total_rounds: int
    min_participants: int
    max_participants: int
    round_timeout: int  # seconds
    min_stake: int
    reward_pool: int

    def to_abi(self) -> tuple[Any, ...]:
        return (
            self.name,
            self.dataset_cid,
            self.spec_cid,
            self.spec_hash,
            self.total_rounds,
            self.min_participants,
            self.max_participants,
            self.round_timeout,
            self.min_stake,
            self.reward_pool,
        )

    @classmethod
    def from_abi(cls, v: tuple[Any, ...]) -> SessionParams:
        return cls(*v)


@dataclass(frozen=True)
class Contribution:
    """One runner's part in a round; `update_digest` = keccak256(UTF-8 CID of the update)."""

    runner: str
    update_digest: bytes
    data_size: int
    points: int

    def to_abi(self) -> tuple[Any, ...]:
        return (to_checksum_address(self.runner), self.update_digest, self.data_size, self.points)


@dataclass(frozen=True)
class RoundResult:
    """What a leader posts. Loss and accuracy are scaled by 1e6; contributions in ascending runner order."""

    round: int
    model_cid: str
    loss: int
    accuracy: int
    contributions: tuple[Contribution, ...]

    def to_abi(self) -> tuple[Any, ...]:
        return (self.round, self.model_cid, self.loss, self.accuracy, [c.to_abi() for c in self.contributions])


@dataclass(frozen=True)
class Proposal:
    model_cid: str
    updates_root: bytes

    def to_abi(self) -> tuple[Any, ...]:
        return (self.model_cid, self.updates_root)


@dataclass(frozen=True)
class RoundRecord:
    """A finalized round (all zero when the round is not finalized)."""

    model_cid: str
    updates_root: bytes
    leader: str
    loss: int
    accuracy: int
    finalized_at: int

    @property
    def finalized(self) -> bool:
        return self.finalized_at != 0


@dataclass(frozen=True)
class RoundProgress:
    """One read of where a session stands: the latest block, the session, and the record of one of its rounds."""

    block_number: int
    block_timestamp: int
    session: SessionView
    record: RoundRecord


@dataclass(frozen=True)
class Reputation:
    rounds_done: int
    leaderships_done: int
    leaderships_missed: int
    slashes: int


@dataclass(frozen=True)
class Runner:
    peer_id: str
    stake: int
    pending_unstake: int
    unlock_at: int
    registered: bool


@dataclass(frozen=True)
class SessionView:
    session_id: int
    params: SessionParams
    creator: str
    status: SessionStatus
    current_round: int
    round_started_at: int
    seed: bytes
    participant_count: int
    total_points: int
    final_model_cid: str

    @classmethod
    def from_abi(cls, session_id: int, v: tuple[Any, ...]) -> SessionView:
        params, creator, status, current, started, seed, count, points, final = v
        return cls(
            session_id, SessionParams.from_abi(params), creator, SessionStatus(status), current, started, seed,
            count, points, final,
        )


@dataclass(frozen=True)
class EligibleLeader:
    leader: str
    step: int


@dataclass(frozen=True)
class Eip712Domain:
    name: str
    version: str
    chain_id: int
    verifying_contract: str
