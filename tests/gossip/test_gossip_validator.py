"""The validator without a network: each check, its drop counter, the bounded replay cache, async callbacks."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from gossip_helpers import DOMAIN, NOTE, ChainView

from parity_p2p.gossip.envelope import Envelope, sign_envelope
from parity_p2p.gossip.errors import SchemaError, TopicError
from parity_p2p.gossip.metrics import DropReason, GossipMetrics
from parity_p2p.gossip.topics import (
    NETWORK_TOPIC,
    PRESENCE,
    FieldType,
    KindRegistry,
    KindSpec,
    Scope,
    parse_topic,
    session_topic,
)
from parity_p2p.gossip.validator import (
    EnvelopeValidator,
    Membership,
    MessageDropped,
    ReplayCache,
    ValidatorPolicy,
)

TOPIC = session_topic(2)


def _validator(chain: ChainView, **policy: object) -> EnvelopeValidator:
    return EnvelopeValidator(
        DOMAIN, chain.membership(), GossipMetrics(), kinds=KindRegistry([PRESENCE, NOTE]),
        policy=ValidatorPolicy(**policy),  # type: ignore[arg-type]
    )


def _note(account: object, topic: str = TOPIC, **kw: object) -> Envelope:
    fields: dict[str, object] = {"round": 4, "session_id": parse_topic(topic).session_id}
    fields.update(kw)
    return sign_envelope(account, DOMAIN, kind="note", topic=topic, payload={"text": "t"}, **fields)  # type: ignore[arg-type]


async def test_each_check_drops_with_its_reason() -> None:
    chain = ChainView(rounds={2: 4})
    insider = chain.new_runner(2)
    validator = _validator(chain)
    good = _note(insider)
    assert await validator.validate(TOPIC, good.encode()) == good

    cases = {
        DropReason.REPLAY: good.encode(),
        DropReason.WRONG_TOPIC: _note(insider).encode(),  # checked against another topic below
        DropReason.BAD_SCHEMA: sign_envelope(insider, DOMAIN, kind="note", topic=TOPIC, payload={"txt": "t"},
                                             session_id=2, round=4).encode(),
        DropReason.STALE_ROUND: _note(insider, round=3).encode(),
        DropReason.FUTURE_ROUND: _note(insider, round=6).encode(),
        DropReason.EXPIRED: _note(insider, timestamp_ms=int((time.time() - 400) * 1000)).encode(),
        DropReason.FROM_FUTURE: _note(insider, timestamp_ms=int((time.time() + 60) * 1000)).encode(),
        DropReason.UNREGISTERED: _note(Account.create()).encode(),
        DropReason.NOT_PARTICIPANT: _note(chain.new_runner()).encode(),
        DropReason.MALFORMED: b"\xff\xfe",
    }
    for reason, data in cases.items():
        topic = session_topic(3) if reason is DropReason.WRONG_TOPIC else TOPIC
        with pytest.raises(MessageDropped) as info:
            await validator.validate(topic, data)
        assert info.value.reason is reason, info.value
        assert validator.metrics.dropped[reason] == 1
    # A presence record (network scope) on a session topic is misplaced even if well signed.
    presence = sign_envelope(insider, DOMAIN, kind="presence", topic=TOPIC, session_id=2, round=4,
                             payload={"peer_id": "p", "addrs": []})
    assert not await validator.is_valid(TOPIC, presence.encode())
    assert validator.metrics.dropped[DropReason.WRONG_TOPIC] == 2


async def test_network_topic_needs_registration_only_and_ignores_rounds() -> None:
    chain = ChainView()
    runner = chain.new_runner()  # in no session
    validator = _validator(chain)
    presence = sign_envelope(runner, DOMAIN, kind="presence", topic=NETWORK_TOPIC,
                             payload={"peer_id": "p", "addrs": ["/ip4/1.2.3.4/tcp/1"]})
    assert await validator.is_valid(NETWORK_TOPIC, presence.encode())


async def test_async_callbacks_and_failing_callbacks() -> None:
    calls: list[str] = []

    async def is_registered(address: str) -> bool:
        calls.append(address)
        return True

    def broken(session: int, address: str) -> bool:
        raise ConnectionError("chain cache unavailable")

    async def current_round(session: int) -> int:
        return 4

    metrics = GossipMetrics()
    validator = EnvelopeValidator(
        DOMAIN, Membership(is_registered, broken, current_round), metrics, kinds=KindRegistry([NOTE])
    )
    account = Account.create()
    assert not await validator.is_valid(TOPIC, _note(account).encode())
    assert calls == [account.address]
    assert metrics.dropped[DropReason.MEMBERSHIP_ERROR] == 1

    weird = EnvelopeValidator(DOMAIN, Membership(is_registered, broken, lambda s: "4"), metrics,  # type: ignore[arg-type,return-value]
                              kinds=KindRegistry([NOTE]))
    assert not await weird.is_valid(TOPIC, _note(account).encode())
    assert metrics.dropped[DropReason.MEMBERSHIP_ERROR] == 2


def test_replay_cache_is_bounded_in_count_and_time() -> None:
    cache = ReplayCache(max_entries=3, ttl_ms=1000)
    for i in range(5):
        cache.add("a", bytes([i]), now_ms=i)
    assert len(cache) == 3
    assert not cache.seen("a", b"\x00") and cache.seen("a", b"\x04")
    cache.add("b", b"x", now_ms=5000)  # everything older than the ttl goes
    assert len(cache) == 1


def test_topics_and_kind_registry() -> None:
    assert parse_topic(session_topic(12)).session_id == 12
    assert parse_topic(NETWORK_TOPIC).scope is Scope.NETWORK
    for bad in ("parity/v1/session/0", "parity/v1/session/07", "parity/v1/session/x", "other", "parity/v1/session/٣"):
        with pytest.raises(TopicError):
            parse_topic(bad)
    with pytest.raises(TopicError):
        session_topic(0)
    registry = KindRegistry()
    with pytest.raises(SchemaError, match="unknown kind"):
        registry.lookup("note", 1)
    registry.register(NOTE)
    registry.register(NOTE)  # idempotent
    with pytest.raises(SchemaError, match="already registered"):
        registry.register(KindSpec("note", 1, Scope.SESSION, {"text": FieldType.INT}))
    with pytest.raises(SchemaError, match="must be integer"):
        KindSpec("k", 1, Scope.SESSION, {"n": FieldType.INT}).check_payload({"n": True})
