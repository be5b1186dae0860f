"""A signed gossip envelope sent to one peer over a kept stream, for round messages a session sends to each runner.

Gossip hands every runner ~7 copies of each message at 8 runners; sent directly each runner gets one. The receiver
runs the same validator as for gossip (signature, membership, rounds, replays) and hands the message to the topic's
subscribers exactly like a gossiped one, so the session code has one path for both. The sender falls back to gossip
when the direct send fails.

One stream per peer carries every direct message to it, each answered in order (`{"status": "OK"}` or
`{"status": "DROPPED", "reason": ...}`): opening, negotiating and closing a stream per message cost more CPU than
validating the message itself (a quarter of a node's CPU per round at 8 runners, docs/performance.md). A kept
stream that broke (the peer restarted, its idle timeout closed it) is replaced once per send; a send cancelled
mid-exchange discards its stream, since the answer it waited for could be read as the next message's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from .envelope import MAX_ENVELOPE_BYTES, Envelope
from .errors import GossipError, PublishError, StreamClosedEarly, StreamProtocolError, StreamTimeout
from .pubsub import Gossip
from .streams import FramedStream

DIRECT_PROTOCOL = "/parity/direct/1.1.0"
LINK_IDLE_S = 600.0
"""A receiver ends a kept stream that brought nothing for this long (a session's runners send every round)."""
SENDER_IDLE_S = 300.0
"""A link we have sent nothing on for this long is closed and forgotten: runners come and go over a node's life,
and the receiver would end the stream at LINK_IDLE_S anyway (closing first, we never send into one it is ending)."""
MAX_STREAMS_PER_PEER = 4
"""Inbound direct streams one peer may hold open at once: an honest sender keeps one (two while one it gave up on
is still closing here); more would only tie up handler tasks for LINK_IDLE_S each."""
_ANSWER_BYTES = 4096
_LENGTH_PREFIX = 4


@dataclass
class _Link:
    lock: trio.Lock = field(default_factory=trio.Lock)
    stream: FramedStream | None = None
    last_used: float = 0.0


class DirectChannel:
    """Sends envelopes to single peers over kept streams and serves the peers' streams. One per network."""

    def __init__(self, gossip: Gossip) -> None:
        self.gossip = gossip
        self._links: dict[str, _Link] = {}
        self._inbound: dict[str, int] = {}  # peer -> direct streams it holds open here
        self._next_prune = 0.0

    def linked_peers(self) -> list[str]:
        """Peers we keep a direct link to (an open stream, or one being opened)."""
        return list(self._links)

    def inbound_streams(self, peer_id: str) -> int:
        """Direct streams `peer_id` holds open to us now."""
        return self._inbound.get(peer_id, 0)

    def register(self) -> None:
        self.gossip.host.set_stream_handler(DIRECT_PROTOCOL, self._serve_stream)

    async def send_signed(
        self, peer_id: str, topic: str, kind: str, payload: Mapping[str, Any], *, round: int = 0
    ) -> None:
        """Sign `payload` as for `publish` and deliver it to `peer_id` only. PublishError if it did not take it."""
        await self.send(peer_id, self.gossip.sign(topic, kind, payload, round=round))

    async def send(self, peer_id: str, envelope: Envelope) -> None:
        """Deliver an envelope we signed to `peer_id` only. PublishError if it did not take it."""
        # Not run through our own validator first (publish does): the receiver's verdict comes back with its reason.
        data = envelope.encode()
        await self._prune_idle_links()
        link = self._links.setdefault(peer_id, _Link())
        async with link.lock:
            try:
                answer = await self._exchange(link, peer_id, envelope.topic, data)
            finally:
                link.last_used = trio.current_time()
        if answer.get("status") != "OK":
            raise PublishError(envelope.topic, f"{peer_id} dropped it: {answer.get('reason', '?')}")
        self.gossip.metrics.count("gossip.direct_sent")

    async def fan_out(self, peers: Sequence[str], envelope: Envelope, *, first: str = "", wait_s: float) -> set[str]:
        """Send `envelope` to each of `peers` at once, but to `first` (if among them) before the others; each send
        gets `wait_s`. Returns the peers that took it (the caller gossips it when some did not)."""
        delivered: set[str] = set()

        async def send(peer: str) -> None:
            with contextlib.suppress(GossipError), trio.move_on_after(wait_s):
                await self.send(peer, envelope)
                delivered.add(peer)

        if first in peers:
            await send(first)
        async with trio.open_nursery() as nursery:
            for peer in peers:
                if peer != first:
                    nursery.start_soon(send, peer)
        return delivered

    async def _exchange(self, link: _Link, peer_id: str, topic: str, data: bytes) -> dict[str, Any]:
        while True:
            kept = link.stream is not None
            try:
                if link.stream is None:
                    link.stream = await self.gossip.host.open_stream(peer_id, DIRECT_PROTOCOL)
                    self.gossip.metrics.count("gossip.direct_streams_opened")
                await link.stream.write_frame(data)
                return await link.stream.read_json(_ANSWER_BYTES, DIRECT_PROTOCOL)
            except GossipError as exc:
                await self._discard(link)
                if kept:  # the kept stream had broken while idle: one fresh stream (a duplicate is a replay)
                    self.gossip.metrics.count("gossip.direct_reopened")
                    continue
                raise PublishError(topic, f"direct send to {peer_id} failed: {exc}") from None
            except BaseException:
                await self._discard(link)
                raise

    async def _prune_idle_links(self) -> None:
        """Close the links idle for SENDER_IDLE_S; looked at most a few times per idle period."""
        now = trio.current_time()
        if now < self._next_prune:
            return
        self._next_prune = now + SENDER_IDLE_S / 4
        for peer, link in list(self._links.items()):
            if now - link.last_used >= SENDER_IDLE_S and not link.lock.locked():
                del self._links[peer]
                self.gossip.metrics.count("gossip.direct_links_closed_idle")
                await self._discard(link)

    async def _discard(self, link: _Link) -> None:
        stream, link.stream = link.stream, None
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _serve_stream(self, stream: FramedStream) -> None:
        peer = stream.peer_id
        if self._inbound.get(peer, 0) >= MAX_STREAMS_PER_PEER:
            self.gossip.metrics.count("gossip.direct_streams_refused")
            return  # the host resets it: the sender's send fails, and it falls back to gossip
        self._inbound[peer] = self._inbound.get(peer, 0) + 1
        try:
            await self._serve_messages(stream)
        finally:
            self._inbound[peer] -= 1
            if not self._inbound[peer]:
                del self._inbound[peer]

    async def _serve_messages(self, stream: FramedStream) -> None:
        try:
            while True:
                try:
                    data = await stream.read_frame(MAX_ENVELOPE_BYTES, read_timeout_s=LINK_IDLE_S)
                except StreamClosedEarly as closed:
                    if closed.expected == _LENGTH_PREFIX and closed.received == 0:
                        return  # the sender closed its end between messages
                    raise
                except StreamTimeout as idle:
                    if idle.seconds >= LINK_IDLE_S:  # (a frame's own body waits far less)
                        return
                    raise
                reason = await self.gossip.accept_direct(data, stream.peer_id)
                await stream.write_json({"status": "OK"} if not reason else {"status": "DROPPED", "reason": reason})
        except StreamProtocolError as exc:
            self.gossip.metrics.count(f"gossip.direct_failed.{type(exc).__name__}")
