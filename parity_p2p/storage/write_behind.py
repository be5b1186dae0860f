"""Write-behind for content the network can give again (a peer's update): stored after it was counted, many
pieces per thread hop, without fsync.

A leader or verifier keeps every received update in memory as decoded tensors; the stored copy only lets peers
fetch it from us and a restarted node skip a download. Storing each on its own thread hop took ~5% of a node's
CPU per round at 8 runners (docs/performance.md); here the pieces that arrive while one batch is written go
together in the next. Pending bytes are capped: past WRITE_BEHIND_MAX_BYTES, `add` waits for the disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from .content import ContentStore
from .errors import StorageError

logger = logging.getLogger(__name__)

WRITE_BEHIND_MAX_BYTES = 64 * 1024 * 1024


class WriteBehind:
    def __init__(self, store: ContentStore, on_error: Callable[[str], None]) -> None:
        """`on_error(reason)`: a batch could not be stored (e.g. the disk is full); the pieces stay in memory
        where their users hold them, and peers can still fetch them from their senders."""
        self.store = store
        self.on_error = on_error
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._arrived = trio.Event()
        self._drained = trio.Event()
        self.batches_written = 0

    async def add(self, data: bytes) -> None:
        """Queue `data` for storage; returns at once unless WRITE_BEHIND_MAX_BYTES are already waiting."""
        while self._pending and self._pending_bytes + len(data) > WRITE_BEHIND_MAX_BYTES:
            await self._drained.wait()
        self._pending.append(data)
        self._pending_bytes += len(data)
        self._arrived.set()
        await trio.lowlevel.checkpoint()

    async def run(self) -> None:
        """Store what arrives until cancelled; what is pending then is still stored (shielded)."""
        try:
            while True:
                await self._arrived.wait()
                await self._write_pending()
        finally:
            with trio.CancelScope(shield=True):
                await self._write_pending()

    async def _write_pending(self) -> None:
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        self._arrived = trio.Event()
        if batch:
            failures = await trio.to_thread.run_sync(self._store_all, batch)
            self.batches_written += 1
            if failures:
                logger.warning("could not store %d of %d received pieces: %s", len(failures), len(batch), failures[0])
                self.on_error(f"{len(failures)} of {len(batch)} pieces not stored: {failures[0]}")
        self._drained.set()
        self._drained = trio.Event()

    def _store_all(self, batch: list[bytes]) -> list[str]:
        """Store each piece; the reasons of those that failed (one failing, e.g. over a quota, stops no other)."""
        failures = []
        for data in batch:
            try:
                self.store.add(data, durable=False)
            except (StorageError, OSError) as exc:
                failures.append(str(exc))
        return failures
