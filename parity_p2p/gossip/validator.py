"""The gossip validator: every check a message must pass before it is relayed or delivered.

Order matters for cost and for meaningful counts: cheap structural checks first, the signature (an ecrecover,
~0.4 ms) before the membership callbacks (whose answers only mean something for an authentic sender), and the
replay cache last, so that only fully valid messages occupy it.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .envelope import Envelope, SigningDomain, decode_envelope, recover_signer
from .errors import EnvelopeError, SchemaError, TopicError
from .metrics import DropReason, GossipMetrics
from .topics import KindRegistry, Scope, parse_topic

logger = logging.getLogger(__name__)

BoolAnswer = bool | Awaitable[bool]
IntAnswer = int | Awaitable[int]


@dataclass(frozen=True)
class Membership:
    """What the chain says, as callbacks (sync or async; answer from a cache: validators time out after 5 s)."""

    is_registered: Callable[[str], BoolAnswer]
    is_participant: Callable[[int, str], BoolAnswer]
    current_round: Callable[[int], IntAnswer]


@dataclass(frozen=True)
class ValidatorPolicy:
    max_age_s: float = 300.0
    """Older messages are dropped as expired; this also bounds how long a nonce must stay in the replay cache."""
    max_clock_skew_s: float = 30.0
    """Messages stamped further in the future are dropped."""
    max_rounds_ahead: int = 1
    """A peer may already be one round ahead of our view of the chain; further ahead is dropped."""
    replay_cache_size: int = 100_000
    """At most this many (sender, nonce) pairs are kept (~100 bytes each); the oldest go first."""
    failure_log_interval_s: float = 30.0
    """A failing membership callback is logged at most once per this interval per failure kind (a chain outage
    fails it for every message; one traceback per message would flood the log)."""


class MessageDropped(Exception):
    def __init__(self, reason: DropReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class ReplayCache:
    """(sender, nonce) pairs seen within the acceptance window, bounded in count and in time."""

    def __init__(self, max_entries: int, ttl_ms: int) -> None:
        self._entries: OrderedDict[tuple[str, bytes], int] = OrderedDict()
        self._max_entries = max_entries
        self._ttl_ms = ttl_ms

    def __len__(self) -> int:
        return len(self._entries)

    def seen(self, sender: str, nonce: bytes) -> bool:
        return (sender, nonce) in self._entries

    def add(self, sender: str, nonce: bytes, now_ms: int) -> None:
        self._entries[(sender, nonce)] = now_ms + self._ttl_ms
        self._entries.move_to_end((sender, nonce))
        while self._entries:
            key, expiry = next(iter(self._entries.items()))
            if expiry > now_ms and len(self._entries) <= self._max_entries:
                break
            del self._entries[key]


class FailureLog:
    """One WARNING line per failure kind per interval, with the count of failures suppressed since the last one."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._last_logged: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}

    def failed(self, callback: str, exc: BaseException) -> None:
        kind = (callback, type(exc).__name__)
        now = self._clock()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self._interval_s:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last_logged[kind] = now
        suppressed = self._suppressed.pop(kind, 0)
        logger.warning(
            "membership callback %s failed: %s: %s (%d more like it suppressed in the last %.0f s; the messages "
            "were dropped and counted)",
            callback, kind[1], exc, suppressed, self._interval_s,
        )  # fmt: skip


class EnvelopeValidator:
    """Checks raw gossip bytes arriving on a topic; returns the envelope or raises MessageDropped (counted)."""

    def __init__(
        self,
        domain: SigningDomain,
        membership: Membership,
        metrics: GossipMetrics,
        *,
        kinds: KindRegistry | None = None,
        policy: ValidatorPolicy | None = None,
        clock: Callable[[], float] = time.time,
        log_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.domain = domain
        self.membership = membership
        self.metrics = metrics
        self.kinds = kinds if kinds is not None else KindRegistry()
        self.policy = policy if policy is not None else ValidatorPolicy()
        self._clock = clock
        # Remember nonces a little longer than the acceptance window, so nothing expires while still acceptable.
        ttl_ms = int((self.policy.max_age_s + self.policy.max_clock_skew_s) * 1000)
        self.replays = ReplayCache(self.policy.replay_cache_size, ttl_ms)
        self.failures = FailureLog(self.policy.failure_log_interval_s, log_clock)

    async def validate(self, topic: str, data: bytes) -> Envelope:
        try:
            return await self._check(topic, data)
        except MessageDropped as drop:
            self.metrics.drop(drop.reason)
            logger.debug("dropped gossip on %s: %s", topic, drop)
            raise

    async def is_valid(self, topic: str, data: bytes) -> bool:
        try:
            await self.validate(topic, data)
        except MessageDropped:
            return False
        return True

    async def _check(self, topic: str, data: bytes) -> Envelope:
        try:
            envelope = decode_envelope(data)
        except EnvelopeError as exc:
            reason = DropReason.TOO_LARGE if exc.reason == "too_large" else DropReason.MALFORMED
            raise MessageDropped(reason, str(exc)) from None
        try:
            info = parse_topic(topic)
        except TopicError as exc:
            raise MessageDropped(DropReason.WRONG_TOPIC, str(exc)) from None
        if envelope.topic != topic or envelope.session_id != info.session_id:
            raise MessageDropped(
                DropReason.WRONG_TOPIC,
                f"envelope for {envelope.topic} (session {envelope.session_id}) arrived on {topic}",
            )
        try:
            spec = self.kinds.lookup(envelope.kind, envelope.version)
            spec.check_payload(envelope.payload)
        except SchemaError as exc:
            raise MessageDropped(DropReason.BAD_SCHEMA, str(exc)) from None
        if spec.scope is not info.scope:
            raise MessageDropped(DropReason.WRONG_TOPIC, f"{spec.kind} belongs on a {spec.scope.value} topic")

        now_ms = int(self._clock() * 1000)
        age_s = (now_ms - envelope.timestamp_ms) / 1000
        if age_s > self.policy.max_age_s:
            raise MessageDropped(DropReason.EXPIRED, f"{age_s:.0f} s old")
        if -age_s > self.policy.max_clock_skew_s:
            raise MessageDropped(DropReason.FROM_FUTURE, f"stamped {-age_s:.0f} s ahead")

        if info.scope is Scope.SESSION:
            current = await self._ask_int(self.membership.current_round, info.session_id)
            if envelope.round < current:
                raise MessageDropped(DropReason.STALE_ROUND, f"round {envelope.round} < current {current}")
            if envelope.round > current + self.policy.max_rounds_ahead:
                raise MessageDropped(DropReason.FUTURE_ROUND, f"round {envelope.round} >> current {current}")

        try:
            signer = recover_signer(envelope, self.domain)
        except EnvelopeError as exc:
            raise MessageDropped(DropReason.BAD_SIGNATURE, str(exc)) from None
        if signer != envelope.sender:
            raise MessageDropped(DropReason.BAD_SIGNATURE, f"signed by {signer}, claims {envelope.sender}")

        if not await self._ask_bool(self.membership.is_registered, envelope.sender):
            raise MessageDropped(DropReason.UNREGISTERED, envelope.sender)
        if info.scope is Scope.SESSION and not await self._ask_bool(
            self.membership.is_participant, info.session_id, envelope.sender
        ):
            raise MessageDropped(DropReason.NOT_PARTICIPANT, f"{envelope.sender} in session {info.session_id}")

        if self.replays.seen(envelope.sender, envelope.nonce):
            raise MessageDropped(DropReason.REPLAY, f"nonce 0x{envelope.nonce.hex()} of {envelope.sender}")
        self.replays.add(envelope.sender, envelope.nonce, now_ms)
        return envelope

    async def _ask_bool(self, fn: Callable[..., BoolAnswer], *args: object) -> bool:
        answer = await self._ask(fn, *args)
        return answer is True

    async def _ask_int(self, fn: Callable[..., IntAnswer], *args: object) -> int:
        answer = await self._ask(fn, *args)
        if type(answer) is not int:
            raise MessageDropped(DropReason.MEMBERSHIP_ERROR, f"{fn!r} answered {answer!r}, not an int")
        return answer

    async def _ask(self, fn: Callable[..., object], *args: object) -> object:
        # The callbacks belong to the node (chain cache); a failure there must drop this message, not kill the
        # pubsub service, and must be visible: counted per message, logged rate-limited per failure kind.
        try:
            answer = fn(*args)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception as exc:
            self.failures.failed(getattr(fn, "__qualname__", repr(fn)), exc)
            raise MessageDropped(DropReason.MEMBERSHIP_ERROR, repr(exc)) from None
        return answer
