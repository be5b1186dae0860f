"""The node's event bus: what happened, in order, for the control API's live stream (and the TUI behind it).

Publishing never blocks and never fails: a subscriber that does not keep up loses events (counted on the
subscription and on the bus) rather than stalling the session runner. Every event carries a sequence number,
so a reader sees a gap as a jump in `seq` and can re-read the ring buffer with `since`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

DEFAULT_HISTORY = 1024
DEFAULT_SUBSCRIBER_BUFFER = 256


@dataclass(frozen=True)
class Event:
    seq: int
    """1, 2, 3, ... in publication order, per node run."""
    time: float
    """Unix time in seconds."""
    kind: str
    """Dotted name, e.g. "node.started", "session.joined", "round.submitted"."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """JSON-serialisable details."""

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "kind": self.kind, "data": dict(self.data)}


class Subscription:
    """Events after the replay point, in order. Iterate with `async for`; `dropped` counts what was lost."""

    def __init__(self, replay: list[Event], buffer: int) -> None:
        self._replay = deque(replay)
        self._send, self._receive = trio.open_memory_channel[Event](buffer)
        self.dropped = 0

    def _offer(self, event: Event) -> bool:
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.dropped += 1
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    def _close(self) -> None:
        self._send.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        # A class, not an async generator: one abandoned mid-iteration (a cancelled stream) needs no finalizer.
        if self._replay:
            return self._replay.popleft()
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


class EventBus:
    def __init__(self, history: int = DEFAULT_HISTORY, subscriber_buffer: int = DEFAULT_SUBSCRIBER_BUFFER) -> None:
        if history < 1 or subscriber_buffer < 1:
            raise ValueError("history and subscriber_buffer must be positive")
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: set[Subscription] = set()
        self._subscriber_buffer = subscriber_buffer
        self._seq = 0
        self.dropped = 0
        """Events lost by slow subscribers, summed over all of them."""

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, data: Mapping[str, Any] | None = None) -> Event:
        """Record an event and hand it to every subscriber that has room; never blocks."""
        self._seq += 1
        event = Event(self._seq, time.time(), kind, dict(data or {}))
        self._history.append(event)
        for subscription in self._subscribers:
            if not subscription._offer(event):
                self.dropped += 1
        return event

    def recent(self, since: int = 0) -> list[Event]:
        """Events still in the ring buffer with seq > since."""
        return [event for event in self._history if event.seq > since]

    @asynccontextmanager
    async def subscribe(self, since: int | None = None) -> AsyncIterator[Subscription]:
        """Live events from now on; with `since`, first the buffered events with seq > since.

        Snapshot and registration happen without a checkpoint in between, so nothing is missed or repeated.
        """
        replay = self.recent(since) if since is not None else []
        subscription = Subscription(replay, self._subscriber_buffer)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)
            subscription._close()
