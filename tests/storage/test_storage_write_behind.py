"""Write-behind of re-fetchable content: everything queued is stored, in few thread hops, and failures are told."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from parity_p2p.storage import ContentStore, FsBlockstore, write_behind
from parity_p2p.storage.write_behind import WriteBehind


def _piece(index: int, size: int = 11_000) -> bytes:
    return bytes([index % 251]) * size


async def test_queued_pieces_are_all_stored_many_per_batch(store: ContentStore) -> None:
    errors: list[str] = []
    spool = WriteBehind(store, errors.append)
    pieces = [_piece(i) for i in range(40)]
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(spool.run)
            for piece in pieces:
                await spool.add(piece)
            while spool.batches_written == 0 or spool._pending:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    cids = [store.add(piece, pin=False) for piece in pieces]  # the CIDs (already there: nothing rewritten)
    assert all(store.has(cid) for cid in cids) and errors == []
    assert spool.batches_written < len(pieces) / 2, spool.batches_written  # pieces arrive while a batch is written


async def test_what_is_pending_when_cancelled_is_still_stored(store: ContentStore) -> None:
    spool = WriteBehind(store, lambda reason: None)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(spool.run)
            for i in range(5):
                await spool.add(_piece(i))
            nursery.cancel_scope.cancel()
    assert all(store.has(store.add(_piece(i), pin=False)) for i in range(5))


async def test_adds_wait_for_the_disk_past_the_cap(store: ContentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write_behind, "WRITE_BEHIND_MAX_BYTES", 30_000)  # two 11 kB pieces may wait, not three
    spool = WriteBehind(store, lambda reason: None)
    added: list[int] = []

    async def add_all() -> None:
        for i in range(6):
            await spool.add(_piece(i))
            added.append(i)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(add_all)
            await trio.sleep(0.2)  # nothing writes yet: the third add must be waiting
            assert added == [0, 1] and spool._pending_bytes == 22_000
            nursery.start_soon(spool.run)
            while len(added) < 6 or spool._pending:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    assert all(store.has(store.add(_piece(i), pin=False)) for i in range(6))


async def test_a_piece_the_disk_refuses_is_reported_and_the_others_are_stored(tmp_path: Path) -> None:
    store = ContentStore(FsBlockstore(tmp_path / "content", max_bytes=25_000))  # room for two 11 kB pieces
    errors: list[str] = []
    spool = WriteBehind(store, errors.append)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for i in range(3):
                await spool.add(_piece(i))  # all three in one batch: the run task starts after them
            nursery.start_soon(spool.run)
            while spool.batches_written == 0:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    assert len(errors) == 1 and "1 of 3 pieces not stored" in errors[0] and "quota" in errors[0], errors
    assert store.blockstore.stats().blocks == 2
