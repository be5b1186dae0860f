"""Which writes are fsynced: by default every block (file and directory); with durable=False none, for content the
network can give again. A volatile block torn by a power loss never reads as wrong bytes: it counts as missing.
The fsync spy calls the real os.fsync and records which file or directory it was asked for (no power can be pulled
in a test: the recorded calls are the observable part of the guarantee)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity_p2p.storage import BlockNotFound, CorruptBlock, FsBlockstore
from parity_p2p.storage.content import ContentStore
from parity_p2p.storage.multiformats import RAW, Cid


def _block(text: bytes) -> tuple[Cid, bytes]:
    return Cid.for_block(RAW, text), text


def test_a_default_put_fsyncs_the_file_and_its_directory(tmp_path: Path, fsynced: list[str]) -> None:
    store = FsBlockstore(tmp_path)
    cid, data = _block(b"a model that must survive")
    assert store.put(cid, data)
    shard = str(store.path_for(cid).parent)
    assert any(f"{cid}.data." in path for path in fsynced)  # the temp file, before it is linked in
    assert shard in fsynced


def test_a_volatile_put_skips_fsync_and_reads_back_verified(tmp_path: Path, fsynced: list[str]) -> None:
    store = FsBlockstore(tmp_path)
    cid, data = _block(b"a peer's update")
    assert store.put(cid, data, durable=False)
    assert fsynced == []
    assert store.get(cid) == data
    assert list((tmp_path / "tmp").iterdir()) == []  # published by link, nothing left half-written
    # The store-wide default stays durable for the next block.
    other, more = _block(b"our own update")
    store.put(other, more)
    assert any(f"{other}.data." in path for path in fsynced)


def test_a_torn_volatile_block_counts_as_missing_not_as_wrong_bytes(tmp_path: Path) -> None:
    store = FsBlockstore(tmp_path)
    cid, data = _block(b"x" * 4096)
    store.put(cid, data, durable=False)
    store.path_for(cid).write_bytes(b"\0" * 100)  # what a power loss can leave of an unsynced file
    with pytest.raises(CorruptBlock) as caught:
        store.get(cid)
    assert isinstance(caught.value, BlockNotFound)
    assert not store.has(cid)
    assert store.put(cid, data)  # fetched again, it is stored again


def test_content_add_is_durable_unless_asked(tmp_path: Path, fsynced: list[str]) -> None:
    content = ContentStore.open(tmp_path)
    durable_cid = content.add(b"the node's own update")
    assert any(f"{durable_cid}.data." in path for path in fsynced)
    fsynced.clear()
    volatile_cid = content.add(b"someone else's update", durable=False)
    assert fsynced == []
    assert content.get(volatile_cid) == b"someone else's update"


async def test_aget_asks_the_first_source_then_the_fetcher_and_stores_as_asked(
    tmp_path: Path, fsynced: list[str]
) -> None:
    origin = ContentStore.open(tmp_path / "origin")
    cid = Cid.parse(origin.add(b"an announced update"))
    fetcher_asked: list[Cid] = []

    def fetcher(wanted: Cid) -> bytes | None:
        fetcher_asked.append(wanted)
        return origin.blockstore.get(wanted)

    async def announcer(wanted: Cid) -> bytes | None:
        return origin.blockstore.get(wanted)

    fsynced.clear()
    reader = ContentStore.open(tmp_path / "reader", fetcher)
    assert await reader.aget(cid, durable=False, first=announcer) == b"an announced update"
    assert fetcher_asked == []  # the announcer had it
    assert fsynced == []
    assert reader.blockstore.has(cid)

    async def liar(wanted: Cid) -> bytes | None:
        return b"not the update"

    again = ContentStore.open(tmp_path / "again", fetcher)
    assert await again.aget(cid, first=liar) == b"an announced update"
    assert fetcher_asked == [cid]  # the lie was refused and the shared fetcher asked
    assert any(f"{cid}.data." in path for path in fsynced)  # durable by default


async def test_aget_with_only_a_first_source_that_lacks_the_block_says_not_found(tmp_path: Path) -> None:
    cid, _ = _block(b"nobody has this")

    async def empty(wanted: Cid) -> bytes | None:
        return None

    with pytest.raises(BlockNotFound):
        await ContentStore.open(tmp_path).aget(cid, first=empty)
