"""Peer discovery: bootstrap dials plus peer exchange over gossip.

Every node gossips a signed `presence` record (its libp2p peer id and listen addresses) on the network topic and
dials peers it hears about until it has `target_peers` connections. One shared bootstrap peer is not enough: above
~12 peers the hub prunes its mesh to `degree` and pruned leaves end up with an empty mesh (TOOLCHAIN), so every
node must reach at least `degree_low` connections of its own.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from .errors import DialError, PublishError
from .pubsub import Gossip, GossipMessage
from .topics import NETWORK_TOPIC, PRESENCE

if TYPE_CHECKING:
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)

MAX_PRESENCE_ADDRS = 8
MAX_PARALLEL_DIALS = 4


@dataclass(frozen=True)
class DiscoverySettings:
    announce_interval_s: float = 10.0
    """How often we gossip our presence (the first few go out every second, while the mesh forms)."""
    fast_announcements: int = 5
    bootstrap_retry_s: float = 5.0
    """While below gossip degree_low connections, bootstrap peers are dialled again this often."""
    max_known_peers: int = 1024


@dataclass(frozen=True)
class KnownPeer:
    peer_id: str
    addrs: tuple[str, ...]
    address: str
    """Ethereum address that signed the presence record."""


class Discovery:
    def __init__(self, gossip: Gossip, bootstrap: tuple[str, ...], settings: DiscoverySettings) -> None:
        self.gossip = gossip
        self.host = gossip.host
        self.bootstrap = bootstrap
        self.settings = settings
        self._known: OrderedDict[str, KnownPeer] = OrderedDict()
        self._dialing: set[str] = set()
        # Dials run beside the receive loop (a dead address costs up to the dial timeout), a few at a time.
        self._dial_slots = trio.CapacityLimiter(MAX_PARALLEL_DIALS)

    def known_peers(self) -> list[KnownPeer]:
        return list(self._known.values())

    async def serve(self, *, task_status: TaskStatus[Discovery] = trio.TASK_STATUS_IGNORED) -> None:
        async with self.gossip.subscribe(NETWORK_TOPIC) as messages, trio.open_nursery() as nursery:
            nursery.start_soon(self._keep_bootstrapped)
            nursery.start_soon(self._announce)
            task_status.started(self)
            async for message in messages:
                if message.envelope.kind == PRESENCE.kind:
                    self._on_presence(message, nursery)

    async def _keep_bootstrapped(self) -> None:
        while True:
            if len(self.host.connected_peers()) < self.host.config.gossip.degree_low:
                for addr in self.bootstrap:
                    await self._dial(addr)
            await trio.sleep(self.settings.bootstrap_retry_s)

    async def _announce(self) -> None:
        sent = 0
        failed = False
        while True:
            payload = {"peer_id": self.host.peer_id, "addrs": self.host.advertised_addrs()[:MAX_PRESENCE_ADDRS]}
            try:
                await self.gossip.publish(NETWORK_TOPIC, PRESENCE.kind, payload, version=PRESENCE.version)
                sent += 1
            except PublishError as exc:  # e.g. our own address unregistered: keep trying, it may be registered later
                log = logger.warning if sent == 0 and not failed else logger.debug
                log("presence not published (peers learn our addresses only when it is): %s", exc)
                failed = True
            fast = sent < self.settings.fast_announcements
            await trio.sleep(1.0 if fast else self.settings.announce_interval_s)

    def _on_presence(self, message: GossipMessage, nursery: trio.Nursery) -> None:
        payload = message.envelope.payload
        peer_id: str = payload["peer_id"]
        if peer_id != message.origin_peer:
            # Only a peer may announce its own addresses; anything else could steer our dials at a victim.
            self.gossip.metrics.count("discovery.presence_mismatch")
            return
        addrs = tuple(a for a in payload["addrs"][:MAX_PRESENCE_ADDRS] if a.endswith(f"/p2p/{peer_id}"))
        self._known[peer_id] = KnownPeer(peer_id, addrs, message.envelope.sender)
        self._known.move_to_end(peer_id)
        while len(self._known) > self.settings.max_known_peers:
            self._known.popitem(last=False)
        if peer_id in self._dialing or self.host.is_connected(peer_id):
            return
        if len(self.host.connected_peers()) + len(self._dialing) >= self.host.config.target_peers:
            return
        self._dialing.add(peer_id)
        nursery.start_soon(self._dial_any, peer_id, addrs)

    async def _dial_any(self, peer_id: str, addrs: tuple[str, ...]) -> None:
        try:
            async with self._dial_slots:
                for addr in addrs:
                    if await self._dial(addr):
                        self.gossip.metrics.count("discovery.connected_via_presence")
                        return
        finally:
            self._dialing.discard(peer_id)

    async def _dial(self, addr: str) -> bool:
        try:
            await self.host.connect(addr)
        except DialError as exc:
            logger.info("%s", exc)
            return False
        return True
