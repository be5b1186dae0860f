"""Event watcher: typed contract events in chain order, exactly once, across node outages.

Guarantees (see docs/chain-client.md):
- Events come in (block number, log index) order, each at most once: the watcher remembers the position of the
  last event it handed over and drops anything at or before it, also after a retry or a re-scan.
- Only blocks at least `confirmations` deep are scanned, in ranges of at most `max_block_range` blocks.
- When the node is unreachable it retries with exponential backoff (capped) and continues where it stopped.
- Before each scan it checks that the last scanned block still has the hash it had; if not (a reorg deeper than
  `confirmations`, or a devnet restarted without its state) it raises ChainReorgError instead of guessing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from parity_p2p.chain.errors import ChainReorgError, RpcUnavailableError
from parity_p2p.chain.events import ChainEvent, EventDecoder, LogPosition
from parity_p2p.chain.rpc import JsonRpc, hex_to_int

if TYPE_CHECKING:
    # trio-typing's stubs (pulled in by libp2p) shadow trio's inline types and lack trio.TaskStatus.
    from trio_typing import TaskStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatcherConfig:
    from_block: int
    confirmations: int = 0
    max_block_range: int = 1000
    poll_interval: float = 1.0
    request_timeout: float = 5.0
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    resume_after: LogPosition | None = None  # the last position a previous run handed over

    def __post_init__(self) -> None:
        if self.from_block < 0 or self.confirmations < 0 or self.max_block_range < 1:
            raise ValueError(f"invalid watcher config: {self}")


@dataclass(frozen=True)
class _Scan:
    events: list[ChainEvent]
    scanned: tuple[int, str] | None  # (number, hash) of the range's last block; None when nothing was scanned
    caught_up: bool


class EventWatcher:
    """Watches the addresses known to `decoder` on the node at `rpc_url`."""

    def __init__(self, rpc_url: str, decoder: EventDecoder, config: WatcherConfig) -> None:
        self.rpc_url = rpc_url
        self.decoder = decoder
        self.config = config
        self.cursor: LogPosition | None = config.resume_after
        self.next_block = config.from_block if config.resume_after is None else config.resume_after.block_number
        self._scanned: tuple[int, str] | None = None  # (number, hash) of the last fully scanned block
        self.reconnects = 0

    async def events(self) -> AsyncGenerator[ChainEvent, None]:
        """Yields events forever (until cancelled, or ChainReorgError). Use with `contextlib.aclosing`."""
        # One attempt per read: the watcher has its own reconnect loop with backoff (and counts reconnects).
        async with JsonRpc(self.rpc_url, timeout=self.config.request_timeout, read_attempts=1) as rpc:
            backoff = self.config.backoff_initial
            while True:
                try:
                    scan = await self._scan(rpc)
                except RpcUnavailableError as exc:
                    self.reconnects += 1
                    log.warning("event watcher: %s; retrying in %.1f s", exc.reason, backoff)
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, self.config.backoff_max)
                    continue
                backoff = self.config.backoff_initial
                for event in scan.events:
                    self.cursor = event.meta.position
                    yield event
                # Advance only once the whole range was handed over: an interrupted batch is re-scanned and
                # the cursor drops what was already delivered.
                if scan.scanned is not None:
                    self._scanned = scan.scanned
                    self.next_block = scan.scanned[0] + 1
                if scan.caught_up:
                    await trio.sleep(self.config.poll_interval)

    async def serve(
        self,
        send_channel: trio.MemorySendChannel[ChainEvent],
        *,
        task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Forward events into `send_channel` until cancelled; closes the channel on exit."""
        async with send_channel, aclosing(self.events()) as stream:
            task_status.started()
            async for event in stream:
                await send_channel.send(event)

    async def _check_continuity(self, rpc: JsonRpc) -> None:
        if self._scanned is None:
            return
        number, expected = self._scanned
        block = await rpc.get_block(number)
        actual = block["hash"] if block else None
        if actual != expected:
            raise ChainReorgError(number, expected, actual)

    async def _scan(self, rpc: JsonRpc) -> _Scan:
        await self._check_continuity(rpc)
        head = await rpc.block_number()
        safe = head - self.config.confirmations
        if safe < self.next_block:
            return _Scan([], None, caught_up=True)
        to_block = min(safe, self.next_block + self.config.max_block_range - 1)
        block = await rpc.get_block(to_block)
        if block is None:  # the node lost blocks between the two calls: look again next time
            raise RpcUnavailableError(rpc.url, f"block {to_block} vanished while scanning")
        to_hash = str(block["hash"])
        logs: list[dict[str, Any]] = await rpc.request(
            "eth_getLogs",
            [{"fromBlock": hex(self.next_block), "toBlock": hex(to_block), "address": self.decoder.addresses}],
        )
        events: list[ChainEvent] = []
        for entry in logs:
            if entry.get("removed"):
                continue
            if hex_to_int(entry["blockNumber"]) == to_block and entry["blockHash"] != to_hash:
                raise RpcUnavailableError(rpc.url, f"block {to_block} changed while scanning")
            event = self.decoder.decode(entry)
            if event is not None and (self.cursor is None or event.meta.position > self.cursor):
                events.append(event)
        events.sort(key=lambda e: e.meta.position)
        return _Scan(events, (to_block, to_hash), caught_up=to_block >= safe)
