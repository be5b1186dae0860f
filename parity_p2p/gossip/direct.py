"""A signed gossip envelope sent to one peer over a stream, for messages only that peer needs.

A follower's attestation matters to the round's leader alone, yet gossip delivers it to every runner, ~7 copies
each at 8 runners: a third of a round's gossip work (docs/performance.md). Sent directly it costs one stream. The
receiver runs the same validator as for gossip (signature, membership, rounds, replays) and hands the message to
the topic's subscribers exactly like a gossiped one, so the session code has one path for both. The sender falls
back to gossip when the direct send fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .envelope import MAX_ENVELOPE_BYTES, Envelope
from .errors import GossipError, PublishError, StreamProtocolError
from .pubsub import Gossip
from .streams import FramedStream

DIRECT_PROTOCOL = "/parity/direct/1.0.0"
_ANSWER_BYTES = 4096


async def send_direct(
    gossip: Gossip, peer_id: str, topic: str, kind: str, payload: Mapping[str, Any], *, round: int = 0
) -> None:
    """Sign `payload` as for `publish` and deliver it to `peer_id` only. PublishError if it did not take it."""
    await send_envelope(gossip, peer_id, gossip.sign(topic, kind, payload, round=round))


async def send_envelope(gossip: Gossip, peer_id: str, envelope: Envelope) -> None:
    """Deliver an envelope we signed to `peer_id` only. PublishError if it did not take it."""
    # Not run through our own validator first (publish does): the receiver's verdict comes back with its reason,
    # and recovering our own fresh signature would only cost another ~0.5 ms.
    topic = envelope.topic
    data = envelope.encode()
    try:
        stream = await gossip.host.open_stream(peer_id, DIRECT_PROTOCOL)
        try:
            await stream.write_frame(data)
            answer = await stream.read_json(_ANSWER_BYTES, DIRECT_PROTOCOL)
        finally:
            await stream.aclose()
    except GossipError as exc:
        raise PublishError(topic, f"direct send to {peer_id} failed: {exc}") from None
    if answer.get("status") != "OK":
        raise PublishError(topic, f"{peer_id} dropped it: {answer.get('reason', '?')}")
    gossip.metrics.count("gossip.direct_sent")


def register_direct_handler(gossip: Gossip) -> None:
    async def handle(stream: FramedStream) -> None:
        try:
            data = await stream.read_frame(MAX_ENVELOPE_BYTES)
            reason = await gossip.accept_direct(data, stream.peer_id)
            await stream.write_json({"status": "OK"} if not reason else {"status": "DROPPED", "reason": reason})
            await stream.close_write()
        except StreamProtocolError as exc:
            gossip.metrics.count(f"gossip.direct_failed.{type(exc).__name__}")

    gossip.host.set_stream_handler(DIRECT_PROTOCOL, handle)
