"""py-libp2p's Pubsub, hardened against one malformed RPC frame from a peer.

`Pubsub.stream_handler` catches only StreamError/ParseError/IncompleteReadError, so the protobuf `DecodeError`
raised by `RPC.ParseFromString` on a garbage frame escapes into the swarm's nursery and takes the whole host down
(TOOLCHAIN). Any peer could do that to any node. We catch exactly that error, drop the stream and the peer's pubsub
state as py-libp2p does for its own read errors, and count it.
"""

from __future__ import annotations

import contextlib
import logging

from google.protobuf.message import DecodeError
from libp2p.abc import INetStream
from libp2p.io.exceptions import IOException
from libp2p.pubsub.pubsub import Pubsub

from .metrics import GossipMetrics

logger = logging.getLogger(__name__)


class GuardedPubsub(Pubsub):
    """Pubsub whose inbound stream handler survives undecodable RPC frames."""

    metrics: GossipMetrics

    def attach_metrics(self, metrics: GossipMetrics) -> None:
        self.metrics = metrics

    async def stream_handler(self, stream: INetStream) -> None:
        # Pubsub.__init__ registers the bound `self.stream_handler`, so this override is what the host calls.
        peer_id = stream.muxed_conn.peer_id
        try:
            await super().stream_handler(stream)
        except DecodeError as exc:
            logger.warning("peer %s sent an undecodable pubsub frame (%s); dropping its stream", peer_id, exc)
            if getattr(self, "metrics", None) is not None:
                self.metrics.count("pubsub.malformed_rpc")
            with contextlib.suppress(IOException):  # already gone: nothing more to release
                await stream.reset()
            self._handle_dead_peer(peer_id)
