"""A failing membership callback (a chain outage) logs one WARNING line per failure kind per interval, not a
traceback per message, while every dropped message is still counted."""

from __future__ import annotations

import logging

import pytest
from eth_account import Account
from gossip_helpers import DOMAIN, NOTE

from parity_p2p.gossip.envelope import sign_envelope
from parity_p2p.gossip.metrics import DropReason, GossipMetrics
from parity_p2p.gossip.topics import KindRegistry, session_topic
from parity_p2p.gossip.validator import EnvelopeValidator, Membership, ValidatorPolicy

TOPIC = session_topic(2)
LOGGER = "parity_p2p.gossip.validator"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _outage_validator(clock: ManualClock, errors: list[Exception]) -> EnvelopeValidator:
    async def is_registered(address: str) -> bool:
        raise errors[0]

    def is_participant(session: int, address: str) -> bool:
        return True

    def current_round(session: int) -> int:
        return 4

    return EnvelopeValidator(
        DOMAIN, Membership(is_registered, is_participant, current_round), GossipMetrics(),
        kinds=KindRegistry([NOTE]), policy=ValidatorPolicy(failure_log_interval_s=30.0), log_clock=clock,
    )  # fmt: skip


def _messages(count: int) -> list[bytes]:
    account = Account.create()
    return [
        sign_envelope(
            account, DOMAIN, kind="note", topic=TOPIC, payload={"text": str(i)}, session_id=2, round=4
        ).encode()
        for i in range(count)
    ]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


async def test_outage_logs_one_line_per_kind_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    clock = ManualClock()
    errors: list[Exception] = [ConnectionError("chain cache unavailable")]
    validator = _outage_validator(clock, errors)

    for data in _messages(50):
        assert not await validator.is_valid(TOPIC, data)
    assert validator.metrics.dropped[DropReason.MEMBERSHIP_ERROR] == 50
    first = _warnings(caplog)
    assert len(first) == 1
    assert first[0].levelno == logging.WARNING and first[0].exc_info is None  # one line, no traceback
    assert "is_registered" in first[0].getMessage() and "ConnectionError" in first[0].getMessage()

    # Another failure kind within the interval gets its own line.
    errors[0] = TimeoutError("rpc timed out")
    for data in _messages(5):
        assert not await validator.is_valid(TOPIC, data)
    assert len(_warnings(caplog)) == 2 and "TimeoutError" in _warnings(caplog)[1].getMessage()

    # After the interval the next failure of the first kind logs again, reporting how many were suppressed.
    errors[0] = ConnectionError("chain cache unavailable")
    clock.now += 31
    for data in _messages(3):
        assert not await validator.is_valid(TOPIC, data)
    lines = _warnings(caplog)
    assert len(lines) == 3
    assert "49 more like it suppressed" in lines[2].getMessage()
    assert validator.metrics.dropped[DropReason.MEMBERSHIP_ERROR] == 58
