"""py-libp2p's gossipsub attaches our signed peer record to every RPC it sends and verifies the sender's on every
RPC it receives: an Ed25519 verification, a protobuf parse and a peerstore update per message copy, plus
rebuilding our own address list per send. With 8 runners each round message arrives ~7 times, so this was ~5% of a
node's round CPU (docs/performance.md). The record changes only when a peer's addresses change.

`install()` swaps the two module functions gossipsub calls for versions that remember what they did:
- receiving: a record byte-for-byte equal to the last one this peer sent and we accepted is accepted again
  without re-verifying, for RECHECK_S (the peerstore keeps a record 2 h); anything else goes the stock way;
- sending: our own record bytes are reused for up to RECHECK_S before the addresses are compared again.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import libp2p.pubsub.gossipsub as gossipsub_module
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.peer.peerstore import env_to_send_in_RPC
from libp2p.pubsub.pb.rpc_pb2 import RPC
from libp2p.pubsub.utils import maybe_consume_signed_record

RECHECK_S = 60.0
_MAX_PEERS = 4096


# Per host object (weak: tests run many hosts in one process, and an id() can be reused by a later host).
_accepted: weakref.WeakKeyDictionary[IHost, dict[ID, tuple[bytes, float]]] = weakref.WeakKeyDictionary()
_own: weakref.WeakKeyDictionary[IHost, tuple[bytes, float]] = weakref.WeakKeyDictionary()


def consume_sender_record(msg: RPC, host: IHost, peer_id: ID) -> bool:
    if not msg.HasField("senderRecord"):
        return True
    accepted, now = _accepted.setdefault(host, {}), time.monotonic()
    seen = accepted.get(peer_id)
    if seen is not None and seen[0] == msg.senderRecord and now - seen[1] < RECHECK_S:
        return True
    ok = maybe_consume_signed_record(msg, host, peer_id)
    if ok:
        if len(accepted) >= _MAX_PEERS:
            accepted.clear()
        accepted[peer_id] = (msg.senderRecord, now)
    return ok


def own_record(host: IHost) -> tuple[bytes, bool]:
    now = time.monotonic()
    mine = _own.get(host)
    if mine is not None and now - mine[1] < RECHECK_S:
        return mine[0], False
    record, fresh = env_to_send_in_RPC(host)
    _own[host] = (record, now)
    return record, fresh


def install() -> None:
    """Idempotent; affects every gossipsub router in this process."""
    module: Any = gossipsub_module
    module.maybe_consume_signed_record = consume_sender_record
    module.env_to_send_in_RPC = own_record
