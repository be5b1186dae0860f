"""Typed contract events and the decoder from raw `eth_getLogs` entries.

Every event is a frozen dataclass named like the Solidity event, with snake_case fields and a `meta`
(address, block, log index, tx hash). Order events by `meta.position`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address

from parity_p2p.chain.abi import ContractAbi, EventAbi, decode_values, normalise, param_type
from parity_p2p.chain.errors import ChainError
from parity_p2p.chain.rpc import hex_to_bytes, hex_to_int


@dataclass(frozen=True, order=True)
class LogPosition:
    block_number: int
    log_index: int


@dataclass(frozen=True)
class EventMeta:
    address: str
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str

    @property
    def position(self) -> LogPosition:
        return LogPosition(self.block_number, self.log_index)


@dataclass(frozen=True)
class ChainEvent:
    meta: EventMeta


# --- MockUSDFC (ERC-20) -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transfer(ChainEvent):
    from_address: str
    to_address: str
    value: int


@dataclass(frozen=True)
class Approval(ChainEvent):
    owner: str
    spender: str
    value: int


# --- RunnerRegistry -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OwnershipTransferred(ChainEvent):
    previous_owner: str
    new_owner: str


@dataclass(frozen=True)
class SessionManagerSet(ChainEvent):
    manager: str


@dataclass(frozen=True)
class RunnerRegistered(ChainEvent):
    runner: str
    peer_id: str
    stake: int


@dataclass(frozen=True)
class PeerIdChanged(ChainEvent):
    runner: str
    peer_id: str


@dataclass(frozen=True)
class StakeAdded(ChainEvent):
    runner: str
    amount: int
    new_stake: int


@dataclass(frozen=True)
class UnstakeRequested(ChainEvent):
    runner: str
    amount: int
    unlock_at: int


@dataclass(frozen=True)
class StakeWithdrawn(ChainEvent):
    runner: str
    amount: int


@dataclass(frozen=True)
class RunnerSlashed(ChainEvent):
    runner: str
    amount: int


# --- SessionManager -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EIP712DomainChanged(ChainEvent):
    pass


@dataclass(frozen=True)
class SessionCreated(ChainEvent):
    session_id: int
    creator: str
    name: str
    dataset_cid: str
    spec_cid: str
    spec_hash: bytes
    reward_pool: int


@dataclass(frozen=True)
class SessionJoined(ChainEvent):
    session_id: int
    runner: str


@dataclass(frozen=True)
class SessionStarted(ChainEvent):
    session_id: int
    seed: bytes
    participant_count: int


@dataclass(frozen=True)
class SessionCancelled(ChainEvent):
    session_id: int


@dataclass(frozen=True)
class RoundFinalized(ChainEvent):
    session_id: int
    round: int
    leader: str
    model_cid: str
    updates_root: bytes
    loss: int
    accuracy: int


@dataclass(frozen=True)
class SessionCompleted(ChainEvent):
    session_id: int
    final_model_cid: str


@dataclass(frozen=True)
class SessionAbandoned(ChainEvent):
    session_id: int
    rounds_done: int


@dataclass(frozen=True)
class RewardCredited(ChainEvent):
    session_id: int
    account: str
    amount: int


@dataclass(frozen=True)
class EquivocationSlashed(ChainEvent):
    session_id: int
    round: int
    leader: str
    reporter: str
    amount: int


@dataclass(frozen=True)
class RewardsClaimed(ChainEvent):
    account: str
    amount: int


EVENT_TYPES: dict[str, type[ChainEvent]] = {
    cls.__name__: cls
    for cls in (
        Transfer,
        Approval,
        OwnershipTransferred,
        SessionManagerSet,
        RunnerRegistered,
        PeerIdChanged,
        StakeAdded,
        UnstakeRequested,
        StakeWithdrawn,
        RunnerSlashed,
        EIP712DomainChanged,
        SessionCreated,
        SessionJoined,
        SessionStarted,
        SessionCancelled,
        RoundFinalized,
        SessionCompleted,
        SessionAbandoned,
        RewardCredited,
        EquivocationSlashed,
        RewardsClaimed,
    )
}

_RENAMES = {"from": "from_address", "to": "to_address"}


def field_name(abi_name: str) -> str:
    """`sessionId` -> `session_id`; `from` -> `from_address`."""
    return _RENAMES.get(abi_name, re.sub(r"(?<!^)(?=[A-Z])", "_", abi_name).lower())


class EventDecoder:
    """Decodes logs emitted by known contract addresses into event dataclasses."""

    def __init__(self, contracts: Mapping[str, ContractAbi]) -> None:
        self._by_topic: dict[tuple[str, bytes], tuple[EventAbi, type[ChainEvent]]] = {}
        for address, contract in contracts.items():
            for event in contract.events():
                cls = EVENT_TYPES.get(event.name)
                if cls is not None:
                    self._check_fields(event, cls)
                    self._by_topic[(to_checksum_address(address), event.topic0)] = (event, cls)

    @property
    def addresses(self) -> list[str]:
        return sorted({address for address, _ in self._by_topic})

    @staticmethod
    def _check_fields(event: EventAbi, cls: type[ChainEvent]) -> None:
        expected = [f.name for f in dataclasses.fields(cls)][1:]
        actual = [field_name(i["name"]) for i in event.inputs]
        if expected != actual:
            raise ChainError(f"event {event.name} in the ABI has fields {actual}, the client expects {expected}")

    def decode(self, log: Mapping[str, Any]) -> ChainEvent | None:
        """The typed event, or None for a log this decoder does not know (another contract, unknown event)."""
        topics = [hex_to_bytes(t) for t in log.get("topics", [])]
        if not topics:
            return None
        address = to_checksum_address(log["address"])
        known = self._by_topic.get((address, topics[0]))
        if known is None:
            return None
        event, cls = known
        indexed = [i for i in event.inputs if i.get("indexed")]
        plain = [i for i in event.inputs if not i.get("indexed")]
        if len(topics) != len(indexed) + 1:
            raise ChainError(f"{event.name} log has {len(topics)} topics, expected {len(indexed) + 1}")
        values: dict[str, Any] = {}
        for param, topic in zip(indexed, topics[1:], strict=True):
            kind = param_type(param)
            values[param["name"]] = normalise(kind, decode([kind], topic)[0])
        for param, value in zip(plain, decode_values(plain, hex_to_bytes(log.get("data"))), strict=True):
            values[param["name"]] = value
        meta = EventMeta(
            address=address,
            block_number=hex_to_int(log["blockNumber"]),
            block_hash=str(log["blockHash"]),
            log_index=hex_to_int(log["logIndex"]),
            tx_hash=str(log["transactionHash"]),
        )
        return cls(meta, **{field_name(i["name"]): values[i["name"]] for i in event.inputs})
