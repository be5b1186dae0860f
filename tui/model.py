"""What the screens show, built from the control API's answers: typed rows, and the formatting they share.

Fields the API does not give (yet) stay None and show as "—": the peers route has no latency, stake, reputation
or session list today, and a session's participants and rewards appear only when the node's session service
reports them under `local`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from parity_p2p.node.api.models import NodeStatus
from parity_p2p.node.events import Event
from parity_p2p.node.services import SessionInfo

TOKEN_DECIMALS = 18
MISSING = "—"


@dataclass(frozen=True)
class PeerRow:
    peer_id: str
    addrs: tuple[str, ...]
    address: str | None
    connected: bool
    latency_ms: float | None = None
    stake: int | None = None
    reputation: float | None = None
    sessions: tuple[int, ...] = ()


@dataclass(frozen=True)
class ParticipantRow:
    address: str
    contribution: str
    state: str


@dataclass(frozen=True)
class NodeSnapshot:
    """One poll of the node: what every screen but Session and Events renders from."""

    status: NodeStatus
    peers: tuple[PeerRow, ...]
    self_peer: str
    sessions: tuple[SessionInfo, ...]
    metrics: Mapping[str, Any] = field(default_factory=dict)


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else None


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def peers_from_json(raw: Mapping[str, Any]) -> tuple[str, tuple[PeerRow, ...]]:
    """(own peer id, rows): every known peer, plus connected ones discovery has not described."""
    connected = {str(p) for p in raw.get("connected", [])}
    rows: list[PeerRow] = []
    seen: set[str] = set()
    for item in raw.get("known", []):
        peer_id = str(item.get("peer_id", ""))
        seen.add(peer_id)
        rows.append(
            PeerRow(
                peer_id=peer_id,
                addrs=tuple(str(a) for a in item.get("addrs", [])),
                address=item.get("address"),
                connected=peer_id in connected,
                latency_ms=_float_or_none(item.get("latency_ms")),
                stake=_int_or_none(item.get("stake")),
                reputation=_float_or_none(item.get("reputation")),
                sessions=tuple(int(s) for s in item.get("sessions", []) if isinstance(s, int)),
            )
        )
    rows.extend(PeerRow(p, (), None, True) for p in sorted(connected - seen))
    rows.sort(key=lambda r: (not r.connected, r.peer_id))
    return str(raw.get("self", "")), tuple(rows)


def participants_of(session: SessionInfo) -> tuple[ParticipantRow, ...]:
    """Participants as the session service reports them in `local["participants"]` (none from the chain alone)."""
    raw = session.local.get("participants", [])
    rows = []
    for item in raw if isinstance(raw, Sequence) else []:
        if isinstance(item, Mapping):
            rows.append(
                ParticipantRow(
                    address=str(item.get("address", MISSING)),
                    contribution=str(item.get("contribution", MISSING)),
                    state=str(item.get("state", MISSING)),
                )
            )
        elif isinstance(item, str):
            rows.append(ParticipantRow(item, MISSING, MISSING))
    return tuple(rows)


def rewards_of(session: SessionInfo, events: Sequence[Event]) -> list[tuple[str, str]]:
    """(who, amount) pairs: what the session service reports, then this node's claims seen on the event stream."""
    found: list[tuple[str, str]] = []
    raw = session.local.get("rewards", {})
    if isinstance(raw, Mapping):
        found.extend((str(who), format_tokens(_int_or_none(amount))) for who, amount in raw.items())
    for event in events:
        if event.kind == "rewards.claimed" and event.data.get("session") == session.session_id:
            found.append(("this node (claimed)", format_tokens(_int_or_none(event.data.get("amount")))))
    return found


def format_tokens(amount: int | None) -> str:
    """Base units (18 decimals) as a short decimal: 100000000000000000000 -> "100"."""
    if amount is None:
        return MISSING
    value = Decimal(amount).scaleb(-TOKEN_DECIMALS)
    text = f"{value:,.4f}".rstrip("0").rstrip(".")
    return text or "0"


def format_optional(value: object) -> str:
    return MISSING if value is None or value == "" else str(value)


def short(text: str, keep: int = 10) -> str:
    """A long id cut in the middle: 12D3KooWAbc…xyz9."""
    if len(text) <= 2 * keep + 1:
        return text
    return f"{text[:keep]}…{text[-4:]}"


def format_clock(unix_time: float) -> str:
    """HH:MM:SS in UTC (the same on every machine, so snapshots and logs line up)."""
    return time.strftime("%H:%M:%S", time.gmtime(unix_time))


def format_duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
