"""ContentStore: round trips, verified fetching of missing blocks, hostile DAGs, pins and GC, trio use."""

from __future__ import annotations

import hashlib
import tempfile
import tracemalloc
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_p2p.storage import (
    BlockHashMismatch,
    BlockNotFound,
    ContentStore,
    ContentTooLarge,
    CorruptBlock,
    FetcherError,
    FsBlockstore,
    InvalidDag,
    StorageFull,
    compute_cid,
)
from parity_p2p.storage.dagpb import encode_file_node
from parity_p2p.storage.multiformats import DAG_PB, RAW, Cid

MiB = 1024 * 1024


def pseudo_random(size: int, seed: bytes = b"") -> bytes:
    return hashlib.shake_128(b"content test " + seed).digest(size) if size else b""


class CountingFetcher:
    """A peer holding a copy of the content; counts what it is asked for."""

    def __init__(self, peer: ContentStore) -> None:
        self.peer = peer
        self.asked: list[Cid] = []

    def __call__(self, cid: Cid) -> bytes:
        self.asked.append(cid)
        return self.peer.get_block(cid)


@pytest.fixture
def peer(tmp_path: Path) -> ContentStore:
    return ContentStore(FsBlockstore(tmp_path / "peer"))


CHUNK = 256 * 1024
sizes = st.one_of(st.integers(0, 3 * MiB), st.sampled_from([CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * CHUNK + 3]))
contents = st.one_of(st.binary(max_size=4096), st.builds(pseudo_random, sizes, st.binary(max_size=8)))


@settings(max_examples=25, deadline=None)
@given(contents)
def test_any_bytes_round_trip_with_a_stable_cid(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = ContentStore(FsBlockstore(directory))
        cid = store.add(data)
        assert cid == compute_cid(data)
        assert store.add(data) == cid
        assert store.get(cid) == data
        assert store.has(cid)
        source = Path(directory) / "source.bin"
        source.write_bytes(data)
        assert store.add_file(source) == cid


def test_add_file_streams_without_loading_the_file(store: ContentStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with open(source, "wb") as out:
        for i in range(64):  # 16 MiB
            out.write(pseudo_random(256 * 1024, i.to_bytes(2, "big")))
    tracemalloc.start()
    try:
        cid = store.add_file(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB, f"add_file held {peak} bytes at once for a 16 MiB file"
    assert cid == compute_cid(source.read_bytes())


def test_missing_blocks_are_fetched_verified_and_kept(store: ContentStore, peer: ContentStore) -> None:
    data = pseudo_random(MiB + 5)
    cid = peer.add(data)
    fetcher = CountingFetcher(peer)
    store.fetcher = fetcher
    assert not store.has(cid)
    assert fetcher.asked == []  # has() never fetches
    assert store.get(cid) == data
    assert len(fetcher.asked) == 6 == store.blocks_fetched  # root + 5 leaves
    assert store.get(cid) == data
    assert len(fetcher.asked) == 6  # now local
    assert store.has(cid)


def test_a_fetcher_returning_wrong_bytes_is_refused(store: ContentStore, peer: ContentStore) -> None:
    cid = peer.add(pseudo_random(MiB))
    store.fetcher = lambda _cid: b"not the block you asked for"
    with pytest.raises(BlockHashMismatch, match="from fetcher"):
        store.get(cid)
    assert store.blockstore.stats().blocks == 0


@pytest.mark.parametrize(
    ("fetcher_result", "error", "message"),
    [
        (None, BlockNotFound, "the fetcher has no copy"),
        (ConnectionResetError("peer went away"), FetcherError, "ConnectionResetError: peer went away"),
        ("a string", FetcherError, "returned str, not bytes"),
    ],
)
def test_fetcher_failures_are_typed(
    store: ContentStore, fetcher_result: object, error: type[Exception], message: str
) -> None:
    def fetcher(_cid: Cid) -> object:
        if isinstance(fetcher_result, Exception):
            raise fetcher_result
        return fetcher_result

    store.fetcher = fetcher  # type: ignore[assignment]
    with pytest.raises(error, match=message):
        store.get(compute_cid(b"anything"))


def test_find_block_is_the_providers_view(store: ContentStore) -> None:
    cid = store.add(b"served to peers")
    assert store.find_block(cid) == b"served to peers"
    assert store.find_block(compute_cid(b"not here")) is None
    assert store.find_block("garbage from a peer") is None


def test_missing_block_without_fetcher(store: ContentStore, peer: ContentStore) -> None:
    with pytest.raises(BlockNotFound, match="not in the local blockstore"):
        store.get(peer.add(b"elsewhere"))


def test_corrupt_local_block_is_detected_then_repaired_from_a_peer(
    store: ContentStore, peer: ContentStore
) -> None:
    data = pseudo_random(600_000)
    cid = store.add(data)
    peer.add(data)
    leaf = Cid.for_block(RAW, data[: 256 * 1024])
    path = store.blockstore.path_for(leaf)
    path.write_bytes(b"\x00" * path.stat().st_size)
    with pytest.raises(CorruptBlock):
        store.get(cid)
    assert not store.has(cid)

    path.write_bytes(b"\x01" * 10)  # corrupt again; this time a peer has a good copy
    store.fetcher = CountingFetcher(peer)
    assert store.get(cid) == data
    assert store.blockstore.stats().corrupt_blocks_found == 2
    assert store.blockstore.get(leaf) == data[: 256 * 1024]


def test_a_dag_lying_about_sizes_is_refused(store: ContentStore, peer: ContentStore) -> None:
    leaf = Cid.for_block(RAW, b"four")
    peer.blockstore.put(leaf, b"four")
    lying = encode_file_node([(leaf.to_bytes(), 4, 5), (leaf.to_bytes(), 4, 5)])
    root = Cid.for_block(DAG_PB, lying)
    peer.blockstore.put(root, lying)
    store.fetcher = CountingFetcher(peer)
    with pytest.raises(InvalidDag, match="holds 4 file bytes, its parent says 5"):
        store.get(root)


def test_max_size_stops_before_fetching_the_leaves(store: ContentStore, peer: ContentStore) -> None:
    cid = peer.add(pseudo_random(MiB))
    fetcher = CountingFetcher(peer)
    store.fetcher = fetcher
    with pytest.raises(ContentTooLarge, match=f"has {MiB} bytes, more than the limit of 1000"):
        store.get(cid, max_size=1000)
    assert len(fetcher.asked) == 1
    with pytest.raises(ContentTooLarge):
        store.get(store.add(b"x" * 2000, pin=False), max_size=1000)


def test_gc_keeps_what_pinned_roots_reach(store: ContentStore) -> None:
    first_chunk = pseudo_random(256 * 1024, b"shared")
    kept = store.add(first_chunk + pseudo_random(300_000))
    shared_leaf = store.add(first_chunk, pin=False)  # the same block as kept's first leaf
    dropped = store.add(pseudo_random(700_000, b"dropped"), pin=False)
    assert store.pinned() == [kept]

    result = store.gc()
    # kept: root + 3 leaves (the first shared with shared_leaf); dropped: root + 3 leaves
    assert (result.removed_blocks, result.kept_blocks) == (4, 4)
    assert store.has(kept) and store.has(shared_leaf) and not store.has(dropped)
    assert result.freed_bytes > 700_000

    assert store.unpin(kept) is True
    assert store.unpin(kept) is False
    assert store.gc().removed_blocks == 4
    assert store.blockstore.stats().blocks == 0


async def test_trio_api_with_an_async_fetcher(store: ContentStore, peer: ContentStore) -> None:
    data = pseudo_random(MiB + 1)
    cid = await peer.aadd(data)
    asked: list[Cid] = []

    async def fetch_from_peer(block_cid: Cid) -> bytes:
        asked.append(block_cid)
        await trio.sleep(0)
        return await trio.to_thread.run_sync(peer.get_block, block_cid)

    store.fetcher = fetch_from_peer
    assert await store.aget(cid) == data
    assert len(asked) == 6
    assert await store.ahas(cid)
    assert (await store.agc()).removed_blocks == 6  # fetched, never pinned
    with pytest.raises(FetcherError, match="the fetcher is async: use aget"):
        store.get(cid)


async def test_an_object_with_an_async_call_is_awaited_not_run_in_a_thread(
    store: ContentStore, peer: ContentStore
) -> None:
    data = pseudo_random(1000)
    cid = await peer.aadd(data)

    class PeerFetcher:
        async def __call__(self, block_cid: Cid) -> bytes:
            return await trio.to_thread.run_sync(peer.get_block, block_cid)

    store.fetcher = PeerFetcher()
    assert await store.aget(cid) == data


async def test_trio_api_with_a_blocking_fetcher(store: ContentStore, peer: ContentStore, tmp_path: Path) -> None:
    source = tmp_path / "file.bin"
    source.write_bytes(pseudo_random(300_000))
    cid = await peer.aadd_file(source)
    store.fetcher = CountingFetcher(peer)
    assert await store.aget(cid) == source.read_bytes()


class BatchPeer:
    """A peer answering many CIDs per request, like the libp2p block protocol; may withhold or forge some."""

    def __init__(self, peer: ContentStore, withhold: int = 0, forge: bool = False) -> None:
        self.peer = peer
        self.withhold = withhold
        self.forge = forge
        self.requests: list[int] = []

    async def __call__(self, cids: list[Cid]) -> dict[Cid, bytes | None]:
        self.requests.append(len(cids))
        await trio.sleep(0)
        answer: dict[Cid, bytes | None] = {cid: self.peer.find_block(str(cid)) for cid in cids}
        for cid in cids[: self.withhold]:
            answer[cid] = None
        if self.forge:
            answer[cids[-1]] = b"forged"
        return answer


async def test_batch_fetcher_gets_a_nodes_children_64_at_a_time(store: ContentStore, peer: ContentStore) -> None:
    data = pseudo_random(100 * 256 * 1024 + 1)  # a root over 101 leaves
    cid = await peer.aadd(data)
    single = CountingFetcher(peer)
    batch = BatchPeer(peer, withhold=2)
    store.fetcher, store.batch_fetcher = single, batch
    assert await store.aget(cid) == data
    assert batch.requests == [64, 37]
    assert len(single.asked) == 1 + 2 * 2  # the root, then the 2 blocks withheld from each batch
    assert store.blocks_fetched == 102


async def test_forged_block_in_a_batch_is_refused(store: ContentStore, peer: ContentStore) -> None:
    cid = await peer.aadd(pseudo_random(3 * 256 * 1024))
    store.fetcher, store.batch_fetcher = CountingFetcher(peer), BatchPeer(peer, forge=True)
    with pytest.raises(BlockHashMismatch, match="from fetcher"):
        await store.aget(cid)


async def test_aget_to_file(store: ContentStore, peer: ContentStore, tmp_path: Path) -> None:
    data = pseudo_random(700_000)
    cid = await peer.aadd(data)
    store.fetcher = CountingFetcher(peer)
    target = tmp_path / "out.bin"
    assert await store.aget_to_file(cid, target) == len(data)
    assert target.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(ContentTooLarge):
        await store.aget_to_file(cid, tmp_path / "small.bin", max_size=10)
    assert not (tmp_path / "small.bin").exists()


async def test_a_batch_fetcher_must_return_a_mapping(store: ContentStore, peer: ContentStore) -> None:
    cid = await peer.aadd(pseudo_random(3 * 256 * 1024))
    store.fetcher = CountingFetcher(peer)
    store.batch_fetcher = lambda cids: [peer.find_block(str(c)) for c in cids]  # type: ignore[assignment,return-value]
    with pytest.raises(FetcherError, match="returned list, not a mapping"):
        await store.aget(cid)


def test_add_on_a_full_disk_pins_nothing_and_gc_reclaims(tiny_tmpfs: Path) -> None:
    store = ContentStore(FsBlockstore(tiny_tmpfs / "content"))
    with pytest.raises(StorageFull):
        store.add(pseudo_random(2 * MiB))  # 1 MiB of tmpfs
    assert store.pinned() == []
    leftover = store.blockstore.stats().blocks
    assert leftover > 0  # the leaves that fitted before the disk filled
    assert store.gc().removed_blocks == leftover
    assert store.blockstore.stats().blocks == 0
    assert store.add(b"small things still fit") == compute_cid(b"small things still fit")
