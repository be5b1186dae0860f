"""Content by CID over a blockstore: add bytes or files, read them back verified, pin, collect garbage.

Sync methods do blocking disk I/O; from trio use the `a`-prefixed twins, which run that I/O in a worker
thread and can await an async fetcher. Missing blocks are asked of `fetcher(cid)` (the libp2p block
protocol plugs in there), hashed against the CID and only then stored. On the async path an optional
`batch_fetcher(cids)` is asked for all missing children of a node at once (64 per call) before the walk
reaches them; whatever it does not supply falls back to `fetcher`.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio

from parity_p2p.storage.blockstore import FsBlockstore
from parity_p2p.storage.dagwalk import NeedBlock, child_cids, walk_file
from parity_p2p.storage.errors import (
    BlockHashMismatch,
    BlockNotFound,
    FetcherError,
    InvalidCid,
    InvalidDag,
    StorageError,
)
from parity_p2p.storage.importer import import_bytes, import_stream
from parity_p2p.storage.multiformats import DAG_PB, Cid
from parity_p2p.storage.pins import PinSet

Fetcher = Callable[[Cid], bytes | Awaitable[bytes | None] | None]
# Asked before the store's fetcher, for one read: the peer that announced the content. The shared fetcher's peer
# hints are one list for all concurrent reads, so each read would otherwise try the others' announcers first.
FirstSource = Callable[[Cid], Awaitable[bytes | None]]
# Many blocks per request (the libp2p block protocol takes up to 64 CIDs); absent ones map to None or are left out.
BatchFetcher = Callable[[list[Cid]], Mapping[Cid, bytes | None] | Awaitable[Mapping[Cid, bytes | None]]]
BATCH_LIMIT = 64

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GcResult:
    removed_blocks: int
    freed_bytes: int
    kept_blocks: int


def _is_async_callable(fn: object) -> bool:
    """True for `async def` functions and for objects whose `__call__` is one (inspect misses the latter)."""
    return inspect.iscoroutinefunction(fn) or (callable(fn) and inspect.iscoroutinefunction(type(fn).__call__))


def _as_cid(cid: str | Cid) -> Cid:
    return cid if isinstance(cid, Cid) else Cid.parse(cid)


class ContentStore:
    """`add` returns the same CID as `ipfs add --cid-version=1 --raw-leaves`; `get` verifies every block."""

    def __init__(
        self,
        blockstore: FsBlockstore,
        fetcher: Fetcher | None = None,
        *,
        batch_fetcher: BatchFetcher | None = None,
        pins: PinSet | None = None,
    ) -> None:
        self.blockstore = blockstore
        self.fetcher = fetcher
        self.batch_fetcher = batch_fetcher
        self.pins = pins if pins is not None else PinSet(blockstore.root / "pins")
        # add() and gc() exclude each other, so gc never sweeps blocks of a root not yet pinned.
        self._gc_lock = threading.RLock()
        self.blocks_fetched = 0

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        fetcher: Fetcher | None = None,
        *,
        batch_fetcher: BatchFetcher | None = None,
    ) -> ContentStore:
        """A content store whose blocks and pins live under `directory` (e.g. <data-dir>/content)."""
        return cls(FsBlockstore(directory), fetcher, batch_fetcher=batch_fetcher)

    # ---- sync API --------------------------------------------------------------------------------
    def add(self, data: bytes | memoryview, *, pin: bool = True, durable: bool = True) -> str:
        """Store and (by default) pin `data`. durable=False skips the fsyncs, for bytes the network can give again
        (a peer's update): such a block survives a process crash but maybe not a power loss (FsBlockstore.put)."""
        store = self._store_block if durable else self._store_block_volatile
        with self._gc_lock:
            root = import_bytes(data, store).cid
            if pin:
                self.pins.add(root)
        return str(root)

    def add_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        """Import a file chunk by chunk; memory stays at one chunk plus the DAG's frontier."""
        with self._gc_lock, open(path, "rb") as stream:
            root = import_stream(stream, self._store_block).cid
            if pin:
                self.pins.add(root)
        return str(root)

    def get(self, cid: str | Cid, *, max_size: int | None = None) -> bytes:
        return b"".join(self.iter_content(cid, max_size=max_size))

    def iter_content(self, cid: str | Cid, *, max_size: int | None = None) -> Iterator[bytes]:
        """The file's bytes piece by piece, each block verified (fetched if missing)."""
        return self._drive(walk_file(_as_cid(cid), max_size), self._load_block)

    def get_to_file(self, cid: str | Cid, target: str | os.PathLike[str], *, max_size: int | None = None) -> int:
        """Write the content to `target` (via a temp file and rename); returns its size."""
        target = Path(target)
        tmp = target.with_name(f".{target.name}.partial")
        size = 0
        try:
            with open(tmp, "wb") as out:
                for piece in self.iter_content(cid, max_size=max_size):
                    out.write(piece)
                    size += len(piece)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def has(self, cid: str | Cid) -> bool:
        """True if every block of the content is present locally and intact (nothing is fetched)."""
        try:
            for _ in self._drive(walk_file(_as_cid(cid)), self.blockstore.get):
                pass
        except BlockNotFound:
            return False
        return True

    def get_block(self, cid: str | Cid) -> bytes:
        """One verified local block (what the block protocol serves to peers)."""
        return self.blockstore.get(_as_cid(cid))

    def find_block(self, cid: str) -> bytes | None:
        """A verified local block or None (also for a malformed CID): the block protocol's provider hook."""
        try:
            return self.blockstore.get(Cid.parse(cid))
        except (InvalidCid, BlockNotFound):
            return None

    def pin(self, cid: str | Cid) -> None:
        self.pins.add(_as_cid(cid))

    def unpin(self, cid: str | Cid) -> bool:
        return self.pins.remove(_as_cid(cid))

    def pinned(self) -> list[str]:
        return [str(root) for root in self.pins.roots()]

    def gc(self) -> GcResult:
        """Delete every block not reachable from a pinned root (locally present blocks only)."""
        with self._gc_lock:
            keep = self._reachable_from_pins()
            removed = freed = kept = 0
            for cid in list(self.blockstore):
                key = cid.to_v1()
                if key in keep:
                    kept += 1
                    continue
                size = self.blockstore.size_of(cid) or 0
                if self.blockstore.delete(cid):
                    removed += 1
                    freed += size
        return GcResult(removed_blocks=removed, freed_bytes=freed, kept_blocks=kept)

    # ---- async API (trio) ------------------------------------------------------------------------
    async def aadd(self, data: bytes | memoryview, *, pin: bool = True, durable: bool = True) -> str:
        return await trio.to_thread.run_sync(lambda: self.add(data, pin=pin, durable=durable))

    async def aadd_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        return await trio.to_thread.run_sync(lambda: self.add_file(path, pin=pin))

    async def aget(
        self,
        cid: str | Cid,
        *,
        max_size: int | None = None,
        durable: bool = True,
        first: FirstSource | None = None,
    ) -> bytes:
        """The content's bytes, missing blocks fetched (from `first`, if given, then the fetcher); durable=False
        stores fetched blocks without fsync (they came from the network and can come again)."""
        pieces: list[bytes] = []

        async def collect(piece: bytes) -> None:
            pieces.append(piece)

        await self._awalk(_as_cid(cid), max_size, collect, durable=durable, first=first)
        return b"".join(pieces)

    async def aget_to_file(
        self, cid: str | Cid, target: str | os.PathLike[str], *, max_size: int | None = None
    ) -> int:
        """Like get_to_file, from trio: pieces are written as they arrive; returns the size."""
        target = Path(target)
        tmp = target.with_name(f".{target.name}.partial")
        out = await trio.to_thread.run_sync(open, tmp, "wb")
        size = 0

        async def write(piece: bytes) -> None:
            nonlocal size
            size += await trio.to_thread.run_sync(out.write, piece)

        try:
            try:
                await self._awalk(_as_cid(cid), max_size, write)
            finally:
                await trio.to_thread.run_sync(out.close)
            await trio.to_thread.run_sync(os.replace, tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    async def _awalk(
        self,
        root: Cid,
        max_size: int | None,
        sink: Callable[[bytes], Awaitable[None]],
        *,
        durable: bool = True,
        first: FirstSource | None = None,
    ) -> None:
        walk = walk_file(root, max_size)
        try:
            request = next(walk)
            while True:
                if isinstance(request, NeedBlock):
                    block = await self._aload_block(request.cid, durable, first)
                    if self.batch_fetcher is not None and request.cid.codec == DAG_PB:
                        await self._aprefetch_children(request.cid, block, durable)
                    request = walk.send(block)
                else:
                    await sink(request)
                    request = next(walk)
        except StopIteration:
            return

    async def _aprefetch_children(self, cid: Cid, block: bytes, durable: bool) -> None:
        """Ask the batch fetcher for a node's missing children, BATCH_LIMIT at a time, before the walk does."""
        assert self.batch_fetcher is not None
        try:
            children = child_cids(cid, block)
        except InvalidDag:
            return  # the walk reports it with context
        missing = [c for c in children if not await trio.to_thread.run_sync(self.blockstore.has, c)]
        for start in range(0, len(missing), BATCH_LIMIT):
            wanted = missing[start : start + BATCH_LIMIT]
            try:
                replies = self.batch_fetcher(wanted)
                if inspect.isawaitable(replies):
                    replies = await replies
            except StorageError:
                raise
            except Exception as exc:
                raise FetcherError(str(wanted[0]), f"batch of {len(wanted)}: {type(exc).__name__}: {exc}") from exc
            if not isinstance(replies, Mapping):
                kind = type(replies).__name__
                raise FetcherError(str(wanted[0]), f"the batch fetcher returned {kind}, not a mapping")
            for child in wanted:
                fetched = replies.get(child)
                if fetched is None:
                    continue  # left to the single-block fetcher when the walk gets there
                verified = self._check_fetched(child, fetched)
                await trio.to_thread.run_sync(partial(self.blockstore.put, child, verified, durable=durable))
                self.blocks_fetched += 1

    async def ahas(self, cid: str | Cid) -> bool:
        return await trio.to_thread.run_sync(self.has, cid)

    async def agc(self) -> GcResult:
        return await trio.to_thread.run_sync(self.gc)

    # ---- blocks ----------------------------------------------------------------------------------
    def _store_block(self, cid: Cid, block: bytes) -> None:
        self.blockstore.put(cid, block)

    def _store_block_volatile(self, cid: Cid, block: bytes) -> None:
        self.blockstore.put(cid, block, durable=False)

    def _load_block(self, cid: Cid) -> bytes:
        try:
            return self.blockstore.get(cid)
        except BlockNotFound:
            if self.fetcher is None:
                raise
        fetched = self._call_fetcher(cid)
        if inspect.isawaitable(fetched):
            if inspect.iscoroutine(fetched):
                fetched.close()  # never awaited: close it so Python does not warn
            raise FetcherError(str(cid), "the fetcher is async: use aget() from trio")
        return self._accept_fetched(cid, fetched)

    async def _aload_block(self, cid: Cid, durable: bool = True, first: FirstSource | None = None) -> bytes:
        try:
            return await trio.to_thread.run_sync(self.blockstore.get, cid)
        except BlockNotFound:
            if self.fetcher is None and first is None:
                raise
        if first is not None:
            block = await self._afetch_first(first, cid)
            if block is not None:
                await trio.to_thread.run_sync(partial(self.blockstore.put, cid, block, durable=durable))
                self.blocks_fetched += 1
                return block
            if self.fetcher is None:
                raise BlockNotFound(str(cid))
        fetched: object
        if _is_async_callable(self.fetcher):
            fetched = self._call_fetcher(cid)
        else:  # a blocking fetcher (an HTTP client, say) must not stall the trio loop
            fetched = await trio.to_thread.run_sync(self._call_fetcher, cid)
        if inspect.isawaitable(fetched):
            try:
                fetched = await fetched
            except StorageError:
                raise
            except Exception as exc:
                raise FetcherError(str(cid), f"{type(exc).__name__}: {exc}") from exc
        block = self._check_fetched(cid, fetched)
        await trio.to_thread.run_sync(partial(self.blockstore.put, cid, block, durable=durable))
        self.blocks_fetched += 1
        return block

    async def _afetch_first(self, first: FirstSource, cid: Cid) -> bytes | None:
        """The block from `first`, verified; None if it has not got it, failed or lied (the fetcher is next)."""
        try:
            return self._check_fetched(cid, await first(cid))
        except StorageError as exc:
            log.debug("first source for %s: %s", cid, exc)
            return None

    def _call_fetcher(self, cid: Cid) -> bytes | Awaitable[bytes | None] | None:
        assert self.fetcher is not None
        try:
            return self.fetcher(cid)
        except StorageError:
            raise
        except Exception as exc:
            raise FetcherError(str(cid), f"{type(exc).__name__}: {exc}") from exc

    def _accept_fetched(self, cid: Cid, fetched: bytes | None) -> bytes:
        block = self._check_fetched(cid, fetched)
        self.blockstore.put(cid, block)
        self.blocks_fetched += 1
        return block

    @staticmethod
    def _check_fetched(cid: Cid, fetched: object) -> bytes:
        if fetched is None:
            raise BlockNotFound(str(cid), "not local and the fetcher has no copy")
        if not isinstance(fetched, bytes | bytearray | memoryview):
            raise FetcherError(str(cid), f"the fetcher returned {type(fetched).__name__}, not bytes")
        block = bytes(fetched)
        if not cid.verify(block):
            raise BlockHashMismatch(str(cid), hashlib.sha256(block).hexdigest(), source="fetcher")
        return block

    @staticmethod
    def _drive(
        walk: Generator[NeedBlock | bytes, bytes | None, None], load: Callable[[Cid], bytes]
    ) -> Iterator[bytes]:
        try:
            request = next(walk)
            while True:
                if isinstance(request, NeedBlock):
                    request = walk.send(load(request.cid))
                else:
                    yield request
                    request = next(walk)
        except StopIteration:
            return

    def _reachable_from_pins(self) -> set[Cid]:
        reachable: set[Cid] = set()
        for root in self.pins.roots():
            stack = [root.to_v1()]
            while stack:
                cid = stack.pop()
                if cid in reachable:
                    continue
                try:
                    block = self.blockstore.get(cid)
                except BlockNotFound:
                    continue  # a pinned root not (fully) here yet: keep what exists
                reachable.add(cid)
                try:
                    stack.extend(child.to_v1() for child in child_cids(cid, block))
                except InvalidDag:
                    continue  # pinned but not a UnixFS file: keep the block itself, nothing below

        return reachable
