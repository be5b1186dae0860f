"""Counters of the libp2p adapter, readable as a plain dict (for the control API and the TUI)."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field


class DropReason(enum.Enum):
    """Why the validator dropped a gossip message (before it was relayed or delivered)."""

    TOO_LARGE = "too_large"
    MALFORMED = "malformed"
    WRONG_TOPIC = "wrong_topic"
    BAD_SCHEMA = "bad_schema"
    EXPIRED = "expired"
    FROM_FUTURE = "from_future"
    STALE_ROUND = "stale_round"
    FUTURE_ROUND = "future_round"
    BAD_SIGNATURE = "bad_signature"
    UNREGISTERED = "unregistered"
    NOT_PARTICIPANT = "not_participant"
    REPLAY = "replay"
    MEMBERSHIP_ERROR = "membership_error"


@dataclass
class GossipMetrics:
    """Mutable counters; one instance per host, shared by its parts (single trio thread, no locking needed)."""

    dropped: Counter[DropReason] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)

    def drop(self, reason: DropReason) -> None:
        self.dropped[reason] += 1

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def snapshot(self) -> dict[str, int]:
        """Flat copy: `dropped.<reason>` for every reason (zeros included) plus every named counter."""
        flat = {f"dropped.{reason.value}": self.dropped[reason] for reason in DropReason}
        flat.update(self.counters)
        return flat
