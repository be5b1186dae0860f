"""Which security and muxer implementations a host runs: ours (tuned) or py-libp2p's stock ones.

Both speak /noise and /yamux/1.0.0 byte for byte the same, so a tuned host and a stock host interoperate; the
stock stack stays selectable for the wire-compatibility tests and as a fallback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libp2p.abc import IHost, IMuxedConn, ISecureConn, ISecureTransport
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.muxer_multistream import MuxerMultistream

from .noise_batching import BatchedNoiseTransport
from .yamux_conn import TunedYamux
from .yamux_frames import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from .yamux_frames import MuxerSettings


@dataclass(frozen=True)
class TransportSettings:
    tuned: bool = True
    """Our batched Noise session and Yamux muxer; False: py-libp2p's stock Noise and Yamux."""
    muxer: MuxerSettings = field(default_factory=MuxerSettings)


class TunedMuxerMultistream(MuxerMultistream):
    """Negotiates /yamux/1.0.0 like the stock selector, then builds our muxer: py-libp2p's `new_conn` constructs
    its own Yamux for that protocol whatever class is registered, so the registration alone cannot swap it."""

    def __init__(self, settings: MuxerSettings) -> None:
        super().__init__({TProtocol(YAMUX_PROTOCOL_ID): TunedYamux})
        self._settings = settings

    async def new_conn(self, conn: ISecureConn, peer_id: ID) -> IMuxedConn:
        protocol, _ = await self._selector.select(conn, conn.is_initiator, self.negotiate_timeout)
        return self._annotate_connection(TunedYamux(conn, peer_id, self._settings), conn, protocol)


def security_transport(key_pair: KeyPair, settings: TransportSettings) -> ISecureTransport:
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    return BatchedNoiseTransport(noise) if settings.tuned else noise


def install_muxer(host: IHost, settings: TransportSettings) -> None:
    """Replace the host's muxer selector with ours (before it listens or dials); no-op for the stock stack."""
    if settings.tuned:
        host.get_network().upgrader.muxer_multistream = TunedMuxerMultistream(settings.muxer)  # type: ignore[attr-defined]
