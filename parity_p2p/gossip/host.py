"""The libp2p host: TCP + Noise + Yamux, gossipsub configured explicitly, exposed as plain Python.

Nothing outside parity_p2p.gossip sees a libp2p type: peer ids and multiaddrs are `str`, streams are FramedStream.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service
from libp2p.tools.anyio_service.api import ManagerAPI

from . import peer_records
from .addresses import advertised_addrs
from .errors import DialError, HostConfigError, ServiceStopped, StreamOpenError
from .guarded_pubsub import GuardedPubsub
from .keyfile import load_or_create_key_file
from .metrics import GossipMetrics
from .streams import FramedStream, StreamLimits
from .transport_stack import TransportSettings, install_muxer, security_transport

if TYPE_CHECKING:
    # trio-typing's stubs (installed with libp2p) shadow trio's inline types for mypy; this is where they put it.
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)

PING_PROTOCOL = TProtocol("/ipfs/ping/1.0.0")

_CLOSE_TIMEOUT_S = 2.0

StreamHandler = Callable[[FramedStream], Awaitable[None]]


@dataclass(frozen=True)
class GossipSettings:
    """Gossipsub knobs, all set explicitly: several py-libp2p defaults drop messages silently (TOOLCHAIN).

    degree / degree_low / degree_high: the mesh per topic aims at `degree` peers, grafts below `degree_low`, prunes
    above `degree_high` (go-libp2p defaults 6/4/12). A node needs >= degree_low connections to fill its mesh,
    which is why discovery dials up to `HostConfig.target_peers`.
    """

    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    heartbeat_interval_s: int = 1
    """py-libp2p's default is 120 s; mesh repair and gossip happen once per heartbeat."""
    adaptive_gossip: bool = False
    """On, it stretched a 1 s heartbeat to 30-60 s after ~30 s (TOOLCHAIN)."""
    spam_protection: bool = False
    """On, it silently drops > max_messages_per_topic_per_second per topic, our own messages included."""
    max_messages_per_topic_per_second: float = 1000.0
    eclipse_protection: bool = False
    """Off: it wants IP diversity (all local peers share 127.0.0.1) and relies on peer scoring, whose weights
    py-libp2p signs the opposite way to go-libp2p (TOOLCHAIN)."""
    time_to_live_s: int = 60
    gossip_window: int = 3
    gossip_history: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.degree_low <= self.degree <= self.degree_high:
            raise HostConfigError("gossip degree", "need 0 < degree_low <= degree <= degree_high")
        if self.heartbeat_interval_s < 1:
            raise HostConfigError("heartbeat_interval_s", "must be at least 1 s (py-libp2p takes whole seconds)")


@dataclass(frozen=True)
class HostConfig:
    key_path: Path
    listen_addrs: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: tuple[str, ...] = ()
    """Full multiaddrs with /p2p/<peer id>."""
    announce_addrs: tuple[str, ...] = ()
    """What presence records tell others to dial (e.g. a public address); empty: the listen addresses, with
    0.0.0.0 expanded to this machine's primary IPv4 and 127.0.0.1."""
    max_connections: int = 64
    target_peers: int = 8
    """Discovery dials new peers while connected to fewer than this (must be >= gossip degree_low)."""
    gossip: GossipSettings = field(default_factory=GossipSettings)
    stream_limits: StreamLimits = field(default_factory=StreamLimits)
    dial_timeout_s: float = 10.0
    transport: TransportSettings = field(default_factory=TransportSettings)
    """Our batched Noise + tuned Yamux (default) or py-libp2p's stock ones; the wire is the same."""

    def __post_init__(self) -> None:
        for addr in (*self.listen_addrs, *self.bootstrap, *self.announce_addrs):
            _parse_multiaddr(addr)
        for addr in self.bootstrap:
            if "/p2p/" not in addr:
                raise HostConfigError("bootstrap", f"{addr} lacks /p2p/<peer id>")
        if self.target_peers < self.gossip.degree_low:
            raise HostConfigError("target_peers", f"{self.target_peers} < gossip degree_low {self.gossip.degree_low}")
        if self.max_connections < self.target_peers:
            raise HostConfigError("max_connections", f"{self.max_connections} < target_peers {self.target_peers}")


class P2PHost:
    """A running libp2p host, as plain Python. Built by `serve`; valid until serve returns."""

    def __init__(
        self, host: IHost, pubsub: GuardedPubsub, router: GossipSub, config: HostConfig, metrics: GossipMetrics
    ) -> None:
        self._host = host
        self._pubsub = pubsub
        self._router = router
        self.config = config
        self.metrics = metrics
        self.peer_id: str = host.get_id().to_base58()

    def listen_addrs(self) -> list[str]:
        """Our listen addresses with /p2p/<our id> (0.0.0.0 if bound to all interfaces: see advertised_addrs)."""
        return [str(addr) for addr in self._host.get_addrs()]

    def advertised_addrs(self) -> list[str]:
        """The addresses peers should dial us at (presence records); never 0.0.0.0."""
        return advertised_addrs(self.listen_addrs(), self.config.announce_addrs, self.peer_id)

    def connected_peers(self) -> list[str]:
        return sorted(peer.to_base58() for peer in self._host.get_connected_peers())

    def is_connected(self, peer_id: str) -> bool:
        return ID.from_base58(peer_id) in self._host.get_connected_peers()

    def pubsub_peers(self, topic: str) -> list[str]:
        """Peers we know to be subscribed to `topic` (useful to wait for a mesh)."""
        return sorted(peer.to_base58() for peer in self._pubsub.peer_topics.get(topic, ()))

    def mesh_peers(self, topic: str) -> list[str]:
        """Peers in our gossipsub mesh for `topic`: who our messages on it go to first."""
        return sorted(peer.to_base58() for peer in self._router.mesh.get(topic, ()))

    async def connect(self, addr: str) -> str:
        """Dial a full multiaddr (/ip4/../tcp/../p2p/<id>); returns the peer id. DialError on any failure."""
        try:
            info = info_from_p2p_addr(_parse_multiaddr(addr))
        except HostConfigError as exc:
            raise DialError(addr, exc.reason) from None
        except Exception as exc:  # py-libp2p raises several types for addresses without a usable /p2p part
            raise DialError(addr, f"not a full peer address: {exc}") from None
        if info.peer_id == self._host.get_id():
            raise DialError(addr, "that is our own peer id")
        if len(self._host.get_connected_peers()) >= self.config.max_connections and not self.is_connected(
            info.peer_id.to_base58()
        ):
            raise DialError(addr, f"connection limit {self.config.max_connections} reached")
        try:
            with trio.fail_after(self.config.dial_timeout_s):
                await self._host.connect(info)
        except trio.TooSlowError:
            self.metrics.count("dial.failed")
            raise DialError(addr, f"no connection after {self.config.dial_timeout_s:g} s") from None
        except (BaseLibp2pError, OSError) as exc:  # SwarmException, ConnectionFailure, IOException, ...
            self.metrics.count("dial.failed")
            raise DialError(addr, str(exc) or type(exc).__name__) from None
        self.metrics.count("dial.ok")
        return info.peer_id.to_base58()

    async def disconnect(self, peer_id: str) -> None:
        await self._host.disconnect(ID.from_base58(peer_id))

    def set_stream_handler(self, protocol: str, handler: StreamHandler) -> None:
        """Serve `protocol`: each inbound stream is handed to `handler` and always released afterwards."""
        limits = self.config.stream_limits

        metrics = self.metrics

        async def on_stream(stream: INetStream) -> None:
            framed = FramedStream(stream, limits)
            try:
                await handler(framed)
            except Exception:
                # Handlers run in the swarm's nursery: an escaping error would take the whole host down, and a
                # remote peer chooses what arrives. Log it loudly and count it; the host keeps serving.
                logger.exception("handler for %s failed on a stream from %s", protocol, framed.peer_id)
                metrics.count("stream.handler_error")
            finally:
                await framed.aclose()

        self._host.set_stream_handler(TProtocol(protocol), on_stream)

    async def ping(self, peer_id: str, timeout_s: float = 2.0) -> float | None:
        """Round-trip time in milliseconds over libp2p's ping protocol (every py-libp2p and go-libp2p host answers
        it), or None when the peer does not answer in time."""
        payload = secrets.token_bytes(32)
        with trio.move_on_after(timeout_s):
            try:
                stream = await self._host.new_stream(ID.from_base58(peer_id), [PING_PROTOCOL])
            except (BaseLibp2pError, OSError, ValueError):
                return None
            try:
                started = time.perf_counter()
                await stream.write(payload)
                echoed = b""
                while len(echoed) < len(payload):
                    echoed += await stream.read(len(payload) - len(echoed))
                elapsed_ms = (time.perf_counter() - started) * 1000
            except (BaseLibp2pError, OSError):
                return None
            finally:
                with trio.move_on_after(1) as cleanup, contextlib.suppress(BaseLibp2pError, OSError):
                    cleanup.shield = True
                    await stream.reset()
            return elapsed_ms if echoed == payload else None
        return None

    async def open_stream(self, peer_id: str, protocol: str) -> FramedStream:
        """A stream to `peer_id` for one of our protocols, proposed optimistically (optimistic_select.py): the
        caller writes at once, and its first read raises StreamOpenError if the peer refused the protocol."""
        try:
            with trio.fail_after(self.config.dial_timeout_s):
                stream = await self._host.get_network().new_stream(ID.from_base58(peer_id))
        except trio.TooSlowError:
            raise StreamOpenError(peer_id, protocol, f"timed out after {self.config.dial_timeout_s:g} s") from None
        except (BaseLibp2pError, OSError, ValueError) as exc:  # dial failures; ValueError: bad peer id
            raise StreamOpenError(peer_id, protocol, str(exc) or type(exc).__name__) from None
        stream.set_protocol(TProtocol(protocol))
        return FramedStream(stream, self.config.stream_limits, unconfirmed=protocol)


async def serve(
    config: HostConfig,
    metrics: GossipMetrics | None = None,
    *,
    task_status: TaskStatus[P2PHost] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a host until cancelled. `task_status.started(P2PHost)` once listening and pubsub is ready."""
    metrics = metrics if metrics is not None else GossipMetrics()
    key_pair = load_or_create_key_file(config.key_path)
    listen = [_parse_multiaddr(addr) for addr in config.listen_addrs]
    host = new_host(
        key_pair=key_pair,
        # Only Noise and only Yamux: new_host's defaults also offer plaintext, secio and Mplex (6x slower).
        sec_opt={NOISE_PROTOCOL_ID: security_transport(key_pair, config.transport)},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        listen_addrs=listen,
        # The swarm enforces max_connections on inbound and outbound connections; min_connections 0 so its
        # inbound cap (max - min) is max. high_watermark = max: nothing is pruned below the hard cap (a leader
        # receiving many pushes must keep those connections).
        connection_config=ConnectionConfig(
            max_connections=config.max_connections,
            min_connections=0,
            low_watermark=0,
            high_watermark=config.max_connections,
        ),
    )
    install_muxer(host, config.transport)  # our Yamux for /yamux/1.0.0 (see transport_stack.py)
    peer_records.install()  # each peer's signed record verified once, not once per gossip message
    g = config.gossip
    gossipsub = GossipSub(
        # meshsub/1.2 adds an IDONTWANT per message to a 32-slot per-peer queue and overflowed it (TOOLCHAIN).
        protocols=[PROTOCOL_ID_V11, PROTOCOL_ID],
        degree=g.degree,
        degree_low=g.degree_low,
        degree_high=g.degree_high,
        time_to_live=g.time_to_live_s,
        gossip_window=g.gossip_window,
        gossip_history=g.gossip_history,
        heartbeat_interval=g.heartbeat_interval_s,
        adaptive_gossip_enabled=g.adaptive_gossip,
        spam_protection_enabled=g.spam_protection,
        max_messages_per_topic_per_second=g.max_messages_per_topic_per_second,
        eclipse_protection_enabled=g.eclipse_protection,
    )
    pubsub = GuardedPubsub(host, gossipsub, metrics=metrics, strict_signing=True)
    try:
        async with (
            host.run(listen_addrs=listen),
            background_trio_service(pubsub) as pubsub_manager,
            background_trio_service(gossipsub) as router_manager,
        ):
            await pubsub.wait_until_ready()
            # The swarm's auto-connector dials every peer its peerstore learns of (identify, signed records in
            # pubsub RPCs) up to the midpoint of its watermarks, whatever our target. Discovery alone decides
            # whom to dial (target_peers), so it is stopped; the swarm still enforces max_connections.
            await host.get_network().auto_connector.stop()  # type: ignore[attr-defined]
            task_status.started(P2PHost(host, pubsub, gossipsub, config, metrics))
            try:
                # py-libp2p's service manager logs a crashed service and stops it, but nothing reaches us: a
                # host without pubsub would keep running deaf. Watch both and fail loudly instead.
                stopped = await _first_to_finish({"pubsub": pubsub_manager, "gossipsub": router_manager})
                raise ServiceStopped(stopped)
            finally:
                # Close connections before the services are cancelled: cancellation alone left sockets of
                # connections to be collected later (ResourceWarning). Shielded but bounded.
                with trio.move_on_after(_CLOSE_TIMEOUT_S) as cleanup:
                    cleanup.shield = True
                    await _close_all_connections(host)
    except* RuntimeError as group:
        # py-libp2p's pubsub read loops sometimes spawn a task into its closing nursery during shutdown
        # (TOOLCHAIN). Only that exact error, and only while we shut down, is swallowed.
        # "While we shut down" = an enclosing scope is cancelling us: trio then reports a deadline of -inf.
        matched, rest = group.split(_is_closed_nursery_error)
        if rest is not None or trio.current_effective_deadline() != -math.inf:
            raise
        logger.debug("ignored py-libp2p shutdown race: %s", matched)


async def _first_to_finish(managers: dict[str, ManagerAPI]) -> str:
    finished: list[str] = []
    async with trio.open_nursery() as nursery:
        for name, manager in managers.items():

            async def watch(name: str = name, manager: ManagerAPI = manager) -> None:
                await manager.wait_finished()
                finished.append(name)
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
    return finished[0]


async def _close_all_connections(host: IHost) -> None:
    network = host.get_network()
    muxed = [conn.muxed_conn for conns in network.connections.values() for conn in conns]
    await network.close()
    # Swarm.close skips a connection it believes shared with a duplicate wrapper; when both ends shut down at
    # once that left the dialer's socket open. Closing the muxer again is idempotent and releases it.
    for conn in muxed:
        if not conn.is_closed:
            await conn.close()


def _is_closed_nursery_error(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and "Nursery is closed to new arrivals" in str(exc)


def _parse_multiaddr(addr: str) -> multiaddr.Multiaddr:
    try:
        return multiaddr.Multiaddr(addr)
    except Exception as exc:  # py-multiaddr raises its own hierarchy plus ValueError/TypeError for junk
        raise HostConfigError("multiaddr", f"{addr!r}: {exc}") from None
