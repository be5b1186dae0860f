"""py-libp2p's Pubsub, hardened against one malformed RPC frame from a peer and against interleaved writes.

`Pubsub.stream_handler` catches only StreamError/ParseError/IncompleteReadError, so the protobuf `DecodeError`
raised by `RPC.ParseFromString` on a garbage frame escapes into the swarm's nursery and takes the whole host down
(TOOLCHAIN). Any peer could do that to any node. We catch exactly that error, drop the stream and the peer's pubsub
state as py-libp2p does for its own read errors, and count it.

The same error escapes from `push_msg`: its signature check deserializes the message's `key` field without
catching a malformed one, and push_msg runs as a service task, so one junk key stopped the node's pubsub service.
We drop such a message and count it.

Third defect: `YamuxStream.write` takes its lock per 64 KiB frame, not per write, and gossipsub writes to a peer
from its send queue *and* from outside it (flushing pending messages, replaying recent ones). Two RPCs above
64 KiB written at once interleave their frames and the receiver cannot parse either. We serialise `write_msg`
per stream.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any

import trio
from google.protobuf.message import DecodeError
from libp2p.abc import IHost, INetStream, IPubsubRouter
from libp2p.io.exceptions import IOException
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub

from .metrics import GossipMetrics

logger = logging.getLogger(__name__)


class GuardedPubsub(Pubsub):
    """Pubsub that survives undecodable RPC frames and writes one RPC at a time per stream."""

    def __init__(self, host: IHost, router: IPubsubRouter, *, metrics: GossipMetrics, **options: Any) -> None:
        # Set before Pubsub.__init__ registers our stream handler: a stream may arrive right after.
        self.metrics = metrics
        self._write_locks: weakref.WeakKeyDictionary[INetStream, trio.Lock] = weakref.WeakKeyDictionary()
        super().__init__(host, router, **options)

    async def write_msg(self, stream: INetStream, rpc_msg: rpc_pb2.RPC) -> bool:
        lock = self._write_locks.setdefault(stream, trio.Lock())
        async with lock:
            return await super().write_msg(stream, rpc_msg)

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        try:
            await super().push_msg(msg_forwarder, msg)
        except DecodeError as exc:
            logger.warning("peer %s forwarded a message with an undecodable key (%s); dropped", msg_forwarder, exc)
            self.metrics.count("pubsub.malformed_message")

    async def stream_handler(self, stream: INetStream) -> None:
        # Pubsub.__init__ registers the bound `self.stream_handler`, so this override is what the host calls.
        peer_id = stream.muxed_conn.peer_id
        try:
            await super().stream_handler(stream)
        except DecodeError as exc:
            logger.warning("peer %s sent an undecodable pubsub frame (%s); dropping its stream", peer_id, exc)
            self.metrics.count("pubsub.malformed_rpc")
            with contextlib.suppress(IOException):  # already gone: nothing more to release
                await stream.reset()
            self._handle_dead_peer(peer_id)
