"""The on-disk blockstore: verified reads, atomic writes, corruption handling, full disks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from parity_p2p.storage import BlockHashMismatch, BlockNotFound, CorruptBlock, FsBlockstore, StorageFull
from parity_p2p.storage.multiformats import RAW, Cid


def block(i: int, size: int = 1000) -> tuple[Cid, bytes]:
    data = i.to_bytes(4, "big") * (size // 4)
    return Cid.for_block(RAW, data), data


def test_put_get_has_delete_iterate_and_account(tmp_path: Path) -> None:
    store = FsBlockstore(tmp_path)
    blocks = dict(block(i, 100 * (i + 1)) for i in range(5))
    for cid, data in blocks.items():
        assert store.put(cid, data) is True
    assert store.put(*next(iter(blocks.items()))) is False  # deduplicated
    assert set(store) == set(blocks)
    assert all(store.has(cid) and store.get(cid) == data for cid, data in blocks.items())
    assert (store.stats().blocks, store.stats().bytes) == (5, sum(map(len, blocks.values())))

    first = next(iter(blocks))
    assert store.delete(first) is True
    assert store.delete(first) is False
    assert not store.has(first)
    with pytest.raises(BlockNotFound, match="not in the local blockstore"):
        store.get(first)
    assert store.stats().blocks == 4
    # Accounting survives a reopen (it is rebuilt from the files).
    assert FsBlockstore(tmp_path).stats() == store.stats()


def test_layout_is_sharded_by_next_to_last_two_characters(tmp_path: Path) -> None:
    store = FsBlockstore(tmp_path)
    cid, data = block(1)
    store.put(cid, data)
    name = str(cid)
    assert (tmp_path / "blocks" / name[-3:-1] / f"{name}.data").read_bytes() == data
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_block_that_does_not_match_its_cid_is_refused(tmp_path: Path) -> None:
    store = FsBlockstore(tmp_path)
    cid, _ = block(1)
    with pytest.raises(BlockHashMismatch, match="put\\(\\) caller"):
        store.put(cid, b"something else")
    assert not store.has(cid)


def test_corrupt_block_is_reported_quarantined_and_treated_as_missing(tmp_path: Path) -> None:
    reported: list[tuple[Cid, Path]] = []
    store = FsBlockstore(tmp_path, on_corrupt=lambda cid, path: reported.append((cid, path)))
    cid, data = block(7)
    store.put(cid, data)
    path = store.path_for(cid)
    path.write_bytes(b"\xff" + data[1:])  # one changed byte, same length

    with pytest.raises(CorruptBlock) as caught:
        store.get(cid)
    assert isinstance(caught.value, BlockNotFound)
    assert reported == [(cid, caught.value.quarantined_to)]
    assert caught.value.quarantined_to.read_bytes()[0] == 0xFF
    assert not store.has(cid)
    assert store.stats().corrupt_blocks_found == 1
    assert store.stats().blocks == 0
    assert store.put(cid, data) is True  # a good copy can be stored again
    assert store.get(cid) == data


def test_concurrent_puts_of_one_block_store_and_count_it_once(tmp_path: Path) -> None:
    store = FsBlockstore(tmp_path)
    cid, data = block(9, 64 * 1024)
    results: list[bool] = []
    start = threading.Barrier(8)

    def put() -> None:
        start.wait()
        results.append(store.put(cid, data))

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert (store.stats().blocks, store.stats().bytes) == (1, len(data))
    assert list((tmp_path / "tmp").iterdir()) == []


def test_leftover_temp_files_are_removed_at_open(tmp_path: Path) -> None:
    FsBlockstore(tmp_path)
    (tmp_path / "tmp" / "half-written.1234").write_bytes(b"partial")
    FsBlockstore(tmp_path)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_quota_raises_storage_full_and_stores_nothing(tmp_path: Path) -> None:
    store = FsBlockstore(tmp_path, max_bytes=2500)
    kept = [block(i) for i in range(2)]
    for cid, data in kept:
        store.put(cid, data)
    cid, data = block(3)
    with pytest.raises(StorageFull, match="quota of 2500 bytes") as caught:
        store.put(cid, data)
    assert caught.value.needed_bytes == 1000
    assert not store.has(cid)
    assert store.stats().bytes == 2000


def test_full_disk_raises_storage_full_and_leaves_no_partial_block(tiny_tmpfs: Path) -> None:
    store = FsBlockstore(tiny_tmpfs / "store")
    stored: list[tuple[Cid, bytes]] = []
    with pytest.raises(StorageFull, match="No space left on device") as caught:
        for i in range(10):  # 10 x 256 KiB cannot fit in 1 MiB
            cid, data = block(i, 256 * 1024)
            store.put(cid, data)
            stored.append((cid, data))
    failed_cid, _ = block(len(stored), 256 * 1024)
    assert caught.value.needed_bytes == 256 * 1024
    assert len(stored) >= 2
    assert not store.has(failed_cid)
    assert list((tiny_tmpfs / "store" / "tmp").iterdir()) == []
    assert all(store.get(cid) == data for cid, data in stored)
    assert store.stats().blocks == len(stored)

    store.delete(stored[0][0])  # room again: the same put now succeeds
    assert store.put(*block(len(stored), 256 * 1024)) is True
