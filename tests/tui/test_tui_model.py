"""The rows the screens show, built from API answers: today's shapes, and the optional fields a node with a
session service (or a newer API) adds, which the screens show as soon as they appear."""

from __future__ import annotations

import json

from fixture_server import RECORDING

from parity_p2p.node.api.models import session_from_json
from parity_p2p.node.events import Event
from tui.model import (
    ParticipantRow,
    format_duration,
    format_tokens,
    participants_of,
    peers_from_json,
    rewards_of,
    short,
)

RECORDED = json.loads(RECORDING.read_text())["routes"]


def test_recorded_peers_connected_first_and_own_id() -> None:
    self_peer, rows = peers_from_json(RECORDED["/v1/peers"])
    assert self_peer == RECORDED["/v1/status"]["peer_id"]
    assert [r.peer_id for r in rows] == [p["peer_id"] for p in RECORDED["/v1/peers"]["known"]]
    assert all(r.connected and r.stake is None and r.latency_ms is None for r in rows)


def test_peers_optional_fields_and_connected_but_unknown() -> None:
    raw = {
        "self": "me",
        "connected": ["b", "z"],
        "known": [
            {"peer_id": "a", "addrs": ["/ip4/1.2.3.4/tcp/1"], "address": "0xA", "latency_ms": 12.5,
             "stake": "150000000000000000000", "reputation": 0.9, "sessions": [3, "x", 4]},
            {"peer_id": "b", "addrs": [], "address": None},
        ],
    }  # fmt: skip
    _, rows = peers_from_json(raw)
    assert [(r.peer_id, r.connected) for r in rows] == [("b", True), ("z", True), ("a", False)]
    a = rows[2]
    assert (a.latency_ms, a.stake, a.reputation, a.sessions) == (12.5, 150 * 10**18, 0.9, (3, 4))


def test_participants_and_rewards_from_local_and_events() -> None:
    raw = dict(RECORDED["/v1/sessions/1"])
    assert participants_of(session_from_json(raw)) == ()
    raw["local"] = {
        "participants": [{"address": "0xA", "contribution": 3, "state": "submitted"}, "0xB", 7],
        "rewards": {"0xA": 5 * 10**17},
    }
    session = session_from_json(raw)
    assert participants_of(session) == (ParticipantRow("0xA", "3", "submitted"), ParticipantRow("0xB", "—", "—"))
    claimed = Event(9, 0.0, "rewards.claimed", {"session": 1, "amount": "2000000000000000000"})
    other = Event(10, 0.0, "rewards.claimed", {"session": 2, "amount": "1"})
    assert rewards_of(session, [claimed, other]) == [("0xA", "0.5"), ("this node (claimed)", "2")]


def test_formatting() -> None:
    assert format_tokens(None) == "—"
    assert format_tokens(0) == "0"
    assert format_tokens(1234 * 10**18 + 5 * 10**17) == "1,234.5"
    assert format_tokens(1) == "0"  # below the 4 decimals shown
    assert short("12D3KooWFcMEr8oRGB3H18zZNKAjbXiuA7i5aRqr7RatcJg8PRw7") == "12D3KooWFc…PRw7"
    assert short("0x1234") == "0x1234"
    assert format_duration(3725.9) == "1h 02m 05s" and format_duration(65) == "1m 05s"
