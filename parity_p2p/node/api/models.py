"""JSON shapes of the control API that both ends share: built by the daemon, parsed back by the client."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from parity_p2p.node.errors import ApiRequestError
from parity_p2p.node.events import Event
from parity_p2p.node.services import RoundInfo, SessionInfo, SubmittedUpdate

T = TypeVar("T")


@dataclass(frozen=True)
class NodeStatus:
    version: str
    address: str
    peer_id: str
    listen_addrs: list[str]
    uptime_s: float
    api_url: str
    chain_id: int
    rpc_url: str
    block: int | None
    """None when the chain did not answer (then `chain_error` says why)."""
    registered: bool | None
    stake: int | None
    """Token base units (18 decimals), like the balances."""
    eth_balance: int | None
    token_balance: int | None
    connected_peers: int
    session_service: bool
    """Whether a session runner is plugged in (else the node only serves gossip, content and this API)."""
    chain_error: str | None = None


def from_json(cls: type[T], raw: Any) -> T:
    """A dataclass from its JSON object, refusing a reply that lacks a field (a different node version)."""
    if not isinstance(raw, dict):
        raise ApiRequestError(200, f"expected a JSON object for {cls.__name__}, got {type(raw).__name__}")
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    try:
        return cls(**{k: v for k, v in raw.items() if k in names})
    except TypeError as exc:
        raise ApiRequestError(200, f"reply is not a {cls.__name__}: {exc}") from None


def session_from_json(raw: Any) -> SessionInfo:
    return from_json(SessionInfo, raw)


def round_from_json(raw: Any) -> RoundInfo:
    return from_json(RoundInfo, raw)


def event_from_json(raw: Any) -> Event:
    return from_json(Event, raw)


def submitted_from_json(raw: Any) -> SubmittedUpdate:
    return from_json(SubmittedUpdate, raw)
