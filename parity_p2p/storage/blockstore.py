"""An on-disk blockstore: one file per block, sharded directories, atomic and verified.

Layout under `root`:
    blocks/<shard>/<cid>.data   cid = CIDv1 base32 string, shard = its next-to-last two characters
                                (the flatfs "next-to-last/2" scheme Kubo uses, so shards fill evenly)
    tmp/                        blocks being written; emptied at open (leftovers of a crash)
    quarantine/                 blocks whose bytes no longer match their CID, kept for inspection

Guarantees: a block file appears complete or not at all (temp file, fsync, link/rename, fsync of the directory);
every read is hashed against the CID, and a mismatch is reported, quarantined and treated as missing;
a put with durable=False skips both fsyncs: for content the network can give again (a peer's update). A process
crash still leaves it complete or absent (temp file + link); after a power loss it may be gone or torn, and a torn
file fails the hash check on read, so it counts as missing and is fetched again: never read as wrong bytes;
a full disk or an exhausted quota raises StorageFull and leaves no partial file behind.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from parity_p2p.storage.errors import BlockHashMismatch, BlockNotFound, InvalidCid, StorageFull
from parity_p2p.storage.multiformats import Cid

log = logging.getLogger(__name__)

_SUFFIX = ".data"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}

CorruptionHandler = Callable[[Cid, Path], None]


class CorruptBlock(BlockNotFound):
    """The stored copy of a block failed its hash check; it was quarantined and counts as missing."""

    def __init__(self, cid: str, quarantined_to: Path) -> None:
        super().__init__(cid, f"the stored copy was corrupt and was moved to {quarantined_to}")
        self.quarantined_to = quarantined_to


@dataclass(frozen=True, slots=True)
class BlockstoreStats:
    blocks: int
    bytes: int
    max_bytes: int | None
    corrupt_blocks_found: int


class FsBlockstore:
    """Blocks on disk, keyed by CIDv1. Thread-safe, so trio code can call it through trio.to_thread."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        durable: bool = True,
        on_corrupt: CorruptionHandler | None = None,
    ) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._durable = durable
        self._on_corrupt = on_corrupt
        self._blocks_dir = self.root / "blocks"
        self._tmp_dir = self.root / "tmp"
        self._quarantine_dir = self.root / "quarantine"
        for directory in (self._blocks_dir, self._tmp_dir, self._quarantine_dir):
            directory.mkdir(parents=True, exist_ok=True)
        for leftover in self._tmp_dir.iterdir():
            leftover.unlink(missing_ok=True)
        self._lock = threading.Lock()
        self._count, self._bytes = self._scan()
        self._reserved = 0
        self._corrupt_found = 0

    # ---- queries -------------------------------------------------------------------------------
    def path_for(self, cid: Cid) -> Path:
        name = str(cid.to_v1())
        return self._blocks_dir / name[-3:-1] / (name + _SUFFIX)

    def has(self, cid: Cid) -> bool:
        """True if a file for the block exists (not hashed here: get() verifies)."""
        return self.path_for(cid).is_file()

    def get(self, cid: Cid) -> bytes:
        """The verified block; BlockNotFound if absent, CorruptBlock (a BlockNotFound) if it fails its hash."""
        path = self.path_for(cid)
        try:
            block = path.read_bytes()
        except FileNotFoundError:
            raise BlockNotFound(str(cid)) from None
        if not cid.verify(block):
            raise CorruptBlock(str(cid), self._quarantine(cid, path, len(block)))
        return block

    def size_of(self, cid: Cid) -> int | None:
        try:
            return self.path_for(cid).stat().st_size
        except FileNotFoundError:
            return None

    def __iter__(self) -> Iterator[Cid]:
        """Every stored block's CID (order unspecified)."""
        for shard in sorted(self._blocks_dir.iterdir()):
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard):
                if not entry.name.endswith(_SUFFIX):
                    continue
                try:
                    yield Cid.parse(entry.name[: -len(_SUFFIX)])
                except InvalidCid:
                    log.warning("ignoring a foreign file in the blockstore: %s", entry.path)

    def stats(self) -> BlockstoreStats:
        with self._lock:
            return BlockstoreStats(self._count, self._bytes, self.max_bytes, self._corrupt_found)

    # ---- changes -------------------------------------------------------------------------------
    def put(self, cid: Cid, block: bytes, *, durable: bool | None = None) -> bool:
        """Store `block` under `cid` after checking its hash; False if it was already there. `durable` overrides
        the store's default for this block: False for re-fetchable content (see the module's guarantees)."""
        if not cid.verify(block):
            raise BlockHashMismatch(str(cid), _sha256_hex(block), source="put() caller")
        path = self.path_for(cid)
        if path.is_file():
            return False
        self._reserve(len(block))
        try:
            created = self._write_atomically(path, block, self._durable if durable is None else durable)
        finally:
            with self._lock:
                self._reserved -= len(block)
        if created:
            with self._lock:
                self._count += 1
                self._bytes += len(block)
        return created

    def delete(self, cid: Cid) -> bool:
        """Remove a block; False if it was not there."""
        path = self.path_for(cid)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return False
        with self._lock:
            self._count -= 1
            self._bytes -= size
        return True

    # ---- internals -----------------------------------------------------------------------------
    def _reserve(self, size: int) -> None:
        with self._lock:
            if self.max_bytes is not None and self._bytes + self._reserved + size > self.max_bytes:
                used = self._bytes + self._reserved
                raise StorageFull(
                    str(self.root), size, f"quota of {self.max_bytes} bytes would be exceeded ({used} in use)"
                )
            self._reserved += size

    def _write_atomically(self, path: Path, block: bytes, durable: bool) -> bool:
        tmp = self._tmp_dir / f"{path.name}.{secrets.token_hex(6)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(block)
                while view:
                    view = view[os.write(fd, view) :]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            shard = path.parent
            new_shard = not shard.is_dir()
            shard.mkdir(exist_ok=True)
            created = _publish(tmp, path)
            if not created:  # another writer stored the same bytes first
                return False
            if durable:
                _fsync_dir(shard)
                if new_shard:
                    _fsync_dir(self._blocks_dir)
            return True
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno in _FULL_ERRNOS:
                raise StorageFull(str(self.root), len(block), os.strerror(exc.errno or 0)) from exc
            raise

    def _quarantine(self, cid: Cid, path: Path, size: int) -> Path:
        target = self._quarantine_dir / path.name
        try:
            os.replace(path, target)
        except FileNotFoundError:  # a concurrent reader quarantined it first
            return target
        with self._lock:
            self._count -= 1
            self._bytes -= size
            self._corrupt_found += 1
        log.warning("block %s failed its hash check; quarantined to %s", cid, target)
        if self._on_corrupt is not None:
            self._on_corrupt(cid, target)
        return target

    def _scan(self) -> tuple[int, int]:
        count = total = 0
        for shard in self._blocks_dir.iterdir():
            if shard.is_dir():
                for entry in os.scandir(shard):
                    if entry.name.endswith(_SUFFIX):
                        count += 1
                        total += entry.stat().st_size
        return count, total


def _publish(tmp: Path, path: Path) -> bool:
    """Move a complete temp file to its final name atomically; False if the block was already there."""
    try:
        # link() refuses an existing target, so two writers of one block count it once.
        os.link(tmp, path)
    except FileExistsError:
        tmp.unlink()
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
        os.replace(tmp, path)  # a filesystem without hard links: rename, last writer wins
        return True
    tmp.unlink()
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_hex(block: bytes) -> str:
    return hashlib.sha256(block).hexdigest()
