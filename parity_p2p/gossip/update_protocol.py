"""`/parity/update/1.0.0`: a participant pushes its model update's bytes to the round leader.

    sender                                   receiver (leader)
    frame: header JSON {session, round, cid, size}  ->
                                             <- frame: {"status": "READY"} | {"status": "REJECTED", "reason"}
    frame: exactly `size` bytes              ->     (read at once into memory: Yamux resets a stalled writer)
                                             <- frame: {"status": "ACCEPTED"} | {"status": "REJECTED", "reason"}

The size is checked against the cap and the sink's `admit` before a single body byte is read, so an over-cap or
unwanted update costs one round trip. Weights never ride gossip (py-libp2p caps a gossip message at 1 MiB).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import trio

from .cid_text import is_cid_text
from .errors import BadFrame, StreamProtocolError, UpdateRejected
from .host import P2PHost
from .metrics import GossipMetrics
from .streams import FramedStream

logger = logging.getLogger(__name__)

UPDATE_PROTOCOL = "/parity/update/1.0.0"
MAX_HEADER_BYTES = 4096


@dataclass(frozen=True)
class UpdateOffer:
    session_id: int
    round: int
    cid: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"session": self.session_id, "round": self.round, "cid": self.cid, "size": self.size}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> UpdateOffer:
        if set(raw) != {"session", "round", "cid", "size"}:
            raise BadFrame(UPDATE_PROTOCOL, f"header keys {sorted(raw)} != ['cid', 'round', 'session', 'size']")
        for key in ("session", "round", "size"):
            if type(raw[key]) is not int or raw[key] < 0:
                raise BadFrame(UPDATE_PROTOCOL, f"header {key} must be a non-negative integer")
        cid = raw["cid"]
        if not is_cid_text(cid):
            raise BadFrame(UPDATE_PROTOCOL, "header cid must be 1..128 alphanumeric characters")
        return cls(raw["session"], raw["round"], cid, raw["size"])


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str = ""

    @classmethod
    def accept(cls) -> Verdict:
        return cls(True)

    @classmethod
    def reject(cls, reason: str) -> Verdict:
        return cls(False, reason)


class UpdateSink(Protocol):
    """What the leader does with pushed updates (the node implements it)."""

    async def admit(self, offer: UpdateOffer, peer_id: str) -> Verdict:
        """Before any body byte: is this session/round/sender expected? Is there room?"""
        ...

    async def store(self, offer: UpdateOffer, data: bytes, peer_id: str) -> Verdict:
        """The whole body arrived: validate (hash matches cid, codec) and keep it."""
        ...

    async def release(self, offer: UpdateOffer, peer_id: str) -> None:
        """Once per admitted offer, after `store` answered or when the body never came (stream died, timeout)."""
        ...


EAGER_PUSH_BYTES = 128 * 1024
"""Bodies up to this size are sent without waiting for READY (well within Yamux's 256 KiB initial window)."""


@dataclass(frozen=True)
class UpdateLimits:
    max_update_bytes: int = 256 * 1024 * 1024
    sink_timeout_s: float = 60.0
    """admit/store must answer within this; the sender waits for the verdict as long (plus transfer time)."""


def register_update_handler(host: P2PHost, sink: UpdateSink, limits: UpdateLimits | None = None) -> None:
    limits = limits if limits is not None else UpdateLimits()
    metrics = host.metrics

    async def handle(stream: FramedStream) -> None:
        try:
            offer = UpdateOffer.from_json(await stream.read_json(MAX_HEADER_BYTES, UPDATE_PROTOCOL))
            if offer.size > limits.max_update_bytes:
                verdict = Verdict.reject(f"size {offer.size} exceeds the cap of {limits.max_update_bytes} bytes")
            else:
                verdict = await _ask_sink(sink.admit, offer, stream.peer_id, limits.sink_timeout_s)
            if not verdict.accepted:
                metrics.count("update.rejected")
                await stream.write_json({"status": "REJECTED", "reason": verdict.reason})
                await stream.close_write()  # a FIN keeps the answer readable after the reset (an eager body)
                return
            try:
                await _receive_admitted(stream, sink, offer, limits, metrics)
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(limits.sink_timeout_s):
                    await sink.release(offer, stream.peer_id)
        except StreamProtocolError as exc:
            metrics.count(f"update.failed.{type(exc).__name__}")
            logger.info("update push from %s failed: %s", stream.peer_id, exc)

    host.set_stream_handler(UPDATE_PROTOCOL, handle)


async def _receive_admitted(
    stream: FramedStream, sink: UpdateSink, offer: UpdateOffer, limits: UpdateLimits, metrics: GossipMetrics
) -> None:
    """READY, the body, the sink's verdict on it."""
    await stream.write_json({"status": "READY"})
    data = await stream.read_frame(offer.size)
    if len(data) != offer.size:
        verdict = Verdict.reject(f"announced {offer.size} bytes, sent {len(data)}")
    else:
        body = data  # bound for the closure below

        async def store(offer: UpdateOffer, peer_id: str) -> Verdict:
            return await sink.store(offer, body, peer_id)

        verdict = await _ask_sink(store, offer, stream.peer_id, limits.sink_timeout_s)
    metrics.count("update.accepted" if verdict.accepted else "update.rejected")
    if verdict.accepted:
        metrics.count("update.bytes_received", len(data))
        await stream.write_json({"status": "ACCEPTED"})
    else:
        await stream.write_json({"status": "REJECTED", "reason": verdict.reason})
    await stream.close_write()


async def push_update(
    host: P2PHost,
    peer_id: str,
    *,
    session_id: int,
    round: int,
    cid: str,
    data: bytes,
    verdict_timeout_s: float = 90.0,
) -> None:
    """Push `data` to `peer_id`. Returns when the receiver ACCEPTED; UpdateRejected(reason) if it refused;
    StreamProtocolError (timeouts, closed streams) otherwise."""
    offer = UpdateOffer(session_id, round, cid, len(data))
    UpdateOffer.from_json(offer.to_json())  # the receiver's checks, so a bad cid fails here with the same message
    # A small body goes right behind the offer instead of after READY: one round trip less, and every round trip
    # waits for a busy leader's turn on the CPU. The receiver reads frames in order either way; if it refuses the
    # offer it never reads the body (at most EAGER_PUSH_BYTES, within the stream's initial window).
    eager = len(data) <= EAGER_PUSH_BYTES
    stream = await host.open_stream(peer_id, UPDATE_PROTOCOL)
    try:
        await stream.write_json(offer.to_json())
        if eager:
            with contextlib.suppress(StreamProtocolError):  # a refusal may close the stream: its answer says why
                await stream.write_frame(data)
        answer = await _read_status(stream, verdict_timeout_s)
        if answer["status"] != "READY":
            raise UpdateRejected(str(answer.get("reason", "")))
        if not eager:
            await stream.write_frame(data)
        answer = await _read_status(stream, verdict_timeout_s)
        if answer["status"] != "ACCEPTED":
            raise UpdateRejected(str(answer.get("reason", "")))
        host.metrics.count("update.bytes_sent", len(data))
    finally:
        await stream.aclose()


async def _read_status(stream: FramedStream, timeout_s: float) -> dict[str, Any]:
    # The receiver may take a while to validate and store: a longer patience than a plain read.
    answer = await stream.read_json(MAX_HEADER_BYTES, UPDATE_PROTOCOL, read_timeout_s=timeout_s)
    if answer.get("status") not in ("READY", "ACCEPTED", "REJECTED"):
        raise BadFrame(UPDATE_PROTOCOL, f"unknown status {answer.get('status')!r}")
    return answer


async def _ask_sink(
    method: Callable[[UpdateOffer, str], Awaitable[Verdict]], offer: UpdateOffer, peer_id: str, timeout_s: float
) -> Verdict:
    with trio.move_on_after(timeout_s):
        verdict = await method(offer, peer_id)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"update sink returned {verdict!r}, expected a Verdict")
        return verdict
    return Verdict.reject(f"receiver could not decide within {timeout_s:g} s")
