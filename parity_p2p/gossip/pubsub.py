"""A thin subscription API over gossipsub: publish signed envelopes, receive validated ones as dataclasses.

Every topic we publish to or subscribe to gets the EnvelopeValidator as its py-libp2p topic validator, so nothing
is delivered to us or relayed by us before it passed every check. py-libp2p keeps one subscription per topic; we
fan it out to any number of local subscribers, each with its own bounded channel.

When the last local subscriber leaves, the libp2p subscription lingers for a grace period: a session runner that
restarts (a transient fault) subscribes again at once, and a real UNSUBSCRIBE + SUBSCRIBE would make its peers see
a GRAFT inside their PRUNE backoff, penalise it and keep it out of their mesh for up to a minute.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from eth_account.signers.local import LocalAccount
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from .envelope import Envelope, decode_envelope, sign_envelope
from .errors import EnvelopeError, GossipError, MeshTimeout, PublishError
from .host import P2PHost
from .topics import parse_topic
from .validator import EnvelopeValidator, MessageDropped

if TYPE_CHECKING:
    # trio-typing's stubs (installed with libp2p) shadow trio's inline types for mypy; this is where they put it.
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)


SEND_QUEUE_HIGH_WATER = 16
"""Half of py-libp2p's per-peer outbound queue (32 RPCs, drop when full)."""
SEND_ROOM_TIMEOUT_S = 0.5
"""A queue that does not drain within this is a stuck or dead peer: publish anyway (each publish waits at most
this long, so a dead mesh peer slows publishing, never blocks it)."""
UNSUBSCRIBE_GRACE_S = 120.0
"""How long a topic stays subscribed at the libp2p level after its last local subscriber left. Longer than
gossipsub's PRUNE backoff (60 s), so a quick re-subscribe never GRAFTs inside it."""


@dataclass(frozen=True)
class GossipMessage:
    """A validated gossip message: the signed envelope and the libp2p peer that first published it."""

    envelope: Envelope
    origin_peer: str


@dataclass
class _Topic:
    subscribers: set[_Subscriber]
    pump_scope: trio.CancelScope | None = None
    linger_scope: trio.CancelScope | None = None  # the pending unsubscribe while no local subscriber is left


class Gossip:
    """Signed publish/subscribe. Start `serve` in a nursery first; it owns the per-topic receive pumps."""

    def __init__(
        self,
        host: P2PHost,
        account: LocalAccount,
        validator: EnvelopeValidator,
        *,
        unsubscribe_grace_s: float = UNSUBSCRIBE_GRACE_S,
    ) -> None:
        if unsubscribe_grace_s < 0:
            raise ValueError(f"unsubscribe_grace_s must be >= 0, got {unsubscribe_grace_s}")
        self.host = host
        self.unsubscribe_grace_s = unsubscribe_grace_s
        self.account = account
        self.validator = validator
        self.metrics = validator.metrics
        self._pubsub = host._pubsub  # same package: the one place that touches py-libp2p's pubsub object
        self._topics: dict[str, _Topic] = {}
        self._nursery: trio.Nursery | None = None

    async def serve(self, *, task_status: TaskStatus[Gossip] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                task_status.started(self)
                await trio.sleep_forever()
            finally:
                self._nursery = None
                for state in self._topics.values():
                    for subscriber in state.subscribers:
                        subscriber.close()
                self._topics.clear()

    async def publish(
        self,
        topic: str,
        kind: str,
        payload: Mapping[str, Any],
        *,
        round: int = 0,
        version: int = 1,
    ) -> Envelope:
        """Sign and publish; the session id comes from the topic. PublishError if it cannot go out."""
        envelope = self.sign(topic, kind, payload, round=round, version=version)
        await self.publish_envelope(envelope)
        return envelope

    def sign(self, topic: str, kind: str, payload: Mapping[str, Any], *, round: int = 0, version: int = 1) -> Envelope:
        """Our signed envelope for `topic` (the session id comes from the topic); PublishError if it cannot be."""
        try:
            info = parse_topic(topic)
            return sign_envelope(
                self.account,
                self.validator.domain,
                kind=kind,
                version=version,
                topic=topic,
                payload=payload,
                session_id=info.session_id,
                round=round,
            )
        except GossipError as exc:
            raise PublishError(topic, str(exc)) from None

    async def publish_envelope(self, envelope: Envelope) -> None:
        """Publish an already signed envelope. Our own validator checks it first, replay cache included: an
        envelope this node has already seen (its own or received) is refused as a replay."""
        try:
            data = envelope.encode()
        except EnvelopeError as exc:
            raise PublishError(envelope.topic, str(exc)) from None
        # py-libp2p would run our own publish through the topic validator and drop it silently if invalid;
        # we validate here instead, so a rejection is an error the caller sees (the libp2p hook skips local ones).
        await self.check_own(envelope.topic, data)
        self._ensure_validator(envelope.topic)
        await self._wait_for_send_room(envelope.topic)
        await self._pubsub.publish(envelope.topic, data)
        self.metrics.count("gossip.published")

    async def check_own(self, topic: str, data: bytes) -> None:
        """Our own validator's verdict on what we are about to send (replay cache included); PublishError if no."""
        try:
            await self.validator.validate(topic, data)
        except MessageDropped as drop:
            raise PublishError(topic, f"rejected by our own validator: {drop}") from None

    async def accept_direct(self, data: bytes, from_peer: str) -> str:
        """An envelope a peer sent us directly (gossip/direct.py): the gossip validator's full checks, then
        delivery to this topic's subscribers as if it came by gossip. Returns why it was dropped, or ""."""
        try:
            envelope = decode_envelope(data)
        except EnvelopeError as exc:
            self.metrics.count("gossip.direct_dropped")
            return str(exc)
        state = self._topics.get(envelope.topic)
        if state is None or not state.subscribers:  # (a topic in its unsubscribe grace has nobody to hand it to)
            self.metrics.count("gossip.direct_dropped")
            return f"not subscribed to {envelope.topic}"
        try:
            await self.validator.validate(envelope.topic, data)
        except MessageDropped as drop:
            return str(drop)  # counted by the validator, per reason
        message = GossipMessage(envelope, from_peer)
        self.metrics.count("gossip.direct_delivered")
        for subscriber in list(state.subscribers):
            if not subscriber.offer(message):
                self.metrics.count("gossip.subscriber_overflow")
        return ""

    @asynccontextmanager
    async def subscribe(
        self, topic: str, *, buffer: int = 256, include_own: bool = False
    ) -> AsyncIterator[trio.MemoryReceiveChannel[GossipMessage]]:
        """Receive validated messages on `topic` while the context is open. A subscriber that falls `buffer`
        messages behind loses the newest ones (counted as gossip.subscriber_overflow), never blocks the others;
        `buffer=0` means unbounded. Our own messages are skipped unless `include_own`."""
        if self._nursery is None:
            raise PublishError(topic, "Gossip.serve is not running")
        parse_topic(topic)
        send, receive = trio.open_memory_channel[GossipMessage](buffer if buffer > 0 else math.inf)
        state = self._topics.get(topic)
        if state is None:
            state = _Topic(subscribers=set())
            self._topics[topic] = state
            self._ensure_validator(topic)
            subscription = await self._pubsub.subscribe(topic)
            state.pump_scope = await self._nursery.start(self._pump, topic, subscription)
        elif state.linger_scope is not None:
            state.linger_scope.cancel()  # still subscribed at the libp2p level: reuse it, stay in the mesh
            state.linger_scope = None
        subscriber = _Subscriber(send, skip_origin=None if include_own else self.host.peer_id)
        state.subscribers.add(subscriber)
        try:
            async with receive:
                yield receive
        finally:
            state.subscribers.discard(subscriber)
            subscriber.close()
            if not state.subscribers and self._topics.get(topic) is state and self._nursery is not None:
                state.linger_scope = trio.CancelScope()
                self._nursery.start_soon(self._unsubscribe_after_grace, topic, state, state.linger_scope)

    async def _unsubscribe_after_grace(self, topic: str, state: _Topic, linger: trio.CancelScope) -> None:
        with linger:
            await trio.sleep(self.unsubscribe_grace_s)
        if linger.cancelled_caught or state.subscribers or self._topics.get(topic) is not state:
            return  # a subscriber came back in time (or serve is shutting down)
        del self._topics[topic]
        if state.pump_scope is not None:
            state.pump_scope.cancel()
        # Shielded so that a shutdown now still tells peers, but bounded so a dead peer cannot hold it up.
        with trio.move_on_after(2.0) as cleanup:
            cleanup.shield = True
            await self._pubsub.unsubscribe(topic)
        self.metrics.count("gossip.unsubscribed_after_grace")

    async def wait_for_mesh(self, topic: str, min_peers: int = 1, timeout_s: float = 10.0) -> list[str]:
        """Wait until our mesh for `topic` has `min_peers` peers and return them. Messages published while the
        mesh is empty reach others only later through IHAVE gossip (py-libp2p has no flood-publish), so round
        messages should wait for a mesh. MeshTimeout if it does not form in time."""
        with trio.move_on_after(timeout_s):
            while len(peers := self.host.mesh_peers(topic)) < min_peers:
                await trio.sleep(0.05)
            return peers
        raise MeshTimeout(topic, min_peers, len(self.host.mesh_peers(topic)), timeout_s)

    async def _wait_for_send_room(self, topic: str) -> None:
        # py-libp2p queues at most 32 RPCs per peer and silently drops what does not fit (TOOLCHAIN), so a burst
        # of publishes loses messages. Publishing waits while a peer's queue is half full; after
        # SEND_ROOM_TIMEOUT_S it publishes anyway (a stuck peer must not stall us) and counts it.
        with trio.move_on_after(SEND_ROOM_TIMEOUT_S):
            while self._fullest_queue(topic) >= SEND_QUEUE_HIGH_WATER:
                await trio.sleep(0.002)
            return
        self.metrics.count("gossip.send_queue_full")

    def _fullest_queue(self, topic: str) -> int:
        queues = self._pubsub.peer_queues
        peers = self.host._router.mesh.get(topic) or self.host._router.fanout.get(topic) or ()
        return max((len(queues[peer]) for peer in peers if peer in queues), default=0)

    def subscribed_topics(self) -> list[str]:
        """Topics subscribed at the libp2p level: those with local subscribers and those in their grace period."""
        return sorted(self._topics)

    async def _pump(self, topic: str, subscription: Any, *, task_status: TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            while True:
                msg: rpc_pb2.Message = await subscription.get()
                try:
                    # Already validated by the topic validator before delivery; this only rebuilds the dataclass.
                    envelope = decode_envelope(msg.data)
                except EnvelopeError:
                    logger.error("a message that passed validation no longer decodes; dropped")
                    continue
                message = GossipMessage(envelope, ID(msg.from_id).to_base58())
                self.metrics.count("gossip.delivered")
                state = self._topics.get(topic)
                for subscriber in list(state.subscribers if state else ()):
                    if not subscriber.offer(message):
                        self.metrics.count("gossip.subscriber_overflow")

    def _ensure_validator(self, topic: str) -> None:
        if topic in self._pubsub.topic_validators:
            return
        validator = self.validator

        own_id = self._pubsub.my_id

        async def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            if forwarder == own_id:
                return True  # our own publish, validated in publish_envelope already
            # A message listing several topics would be checked once per topic and could slip a second
            # topic past; ours always carry exactly one.
            if list(msg.topicIDs) != [topic]:
                return False
            return await validator.is_valid(topic, msg.data)

        self._pubsub.set_topic_validator(topic, validate, is_async_validator=True)


class _Subscriber:
    """One local subscriber's channel; optionally skips messages we published ourselves."""

    def __init__(self, channel: trio.MemorySendChannel[GossipMessage], skip_origin: str | None) -> None:
        self._channel = channel
        self._skip_origin = skip_origin

    def offer(self, message: GossipMessage) -> bool:
        """False when the subscriber's buffer is full (the message is lost for this subscriber only)."""
        if message.origin_peer == self._skip_origin:
            return True
        try:
            self._channel.send_nowait(message)
        except trio.WouldBlock:
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return True  # it is leaving; its context exit removes it
        return True

    def close(self) -> None:
        self._channel.close()
