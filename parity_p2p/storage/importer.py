"""Build the UnixFS file DAG that `ipfs add --cid-version=1 --raw-leaves` builds (Kubo's balanced layout).

Every chunk becomes a raw leaf (codec 0x55). One chunk (or an empty file) is the file itself. More chunks
are grouped left to right under dag-pb nodes of at most 174 links; those nodes are grouped the same way,
level by level, until one root remains. The builder is streaming: it keeps at most 174 pending links per
level, so a file of any size is imported with memory bounded by one chunk plus the tree's frontier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

from parity_p2p.storage.chunker import chunk_bytes, chunk_stream
from parity_p2p.storage.dagpb import encode_file_node
from parity_p2p.storage.multiformats import DAG_PB, RAW, Cid

MAX_LINKS_PER_NODE = 174

BlockSink = Callable[[Cid, bytes], None]


@dataclass(frozen=True, slots=True)
class ImportedFile:
    """The root of an imported file. `dag_size` is the root's cumulative Tsize (all blocks' bytes)."""

    cid: Cid
    size: int
    blocks: int
    dag_size: int


@dataclass(frozen=True, slots=True)
class _Child:
    cid: Cid
    tsize: int  # bytes of this block and everything below it
    file_size: int  # file bytes below it


def _discard(_cid: Cid, _block: bytes) -> None:
    return None


class BalancedDagBuilder:
    """Feed chunks in order with add_chunk(), then finish(); every block is handed to `sink` once built."""

    def __init__(self, sink: BlockSink = _discard, max_links: int = MAX_LINKS_PER_NODE) -> None:
        if max_links < 2:
            raise ValueError(f"max_links must be at least 2, got {max_links}")
        self._sink = sink
        self._max_links = max_links
        self._levels: list[list[_Child]] = [[]]
        self._blocks = 0
        self._finished = False

    def add_chunk(self, chunk: bytes) -> None:
        if self._finished:
            raise RuntimeError("add_chunk() after finish()")
        cid = Cid.for_block(RAW, chunk)
        self._emit(cid, chunk)
        self._push(0, _Child(cid, len(chunk), len(chunk)))

    def finish(self) -> ImportedFile:
        if self._finished:
            raise RuntimeError("finish() called twice")
        if not self._levels[0]:
            self.add_chunk(b"")  # no chunks at all: the empty file is one empty raw block
        self._finished = True
        level = 0
        while True:
            above_empty = all(not pending for pending in self._levels[level + 1 :])
            if above_empty and len(self._levels[level]) == 1:
                root = self._levels[level][0]
                return ImportedFile(root.cid, size=root.file_size, blocks=self._blocks, dag_size=root.tsize)
            self._flush(level)
            level += 1

    def _push(self, level: int, child: _Child) -> None:
        # A full group is closed only when a further sibling arrives, so that exactly 174 chunks
        # stay one node instead of gaining a needless parent.
        if len(self._levels[level]) == self._max_links:
            self._flush(level)
        self._levels[level].append(child)

    def _flush(self, level: int) -> None:
        children = self._levels[level]
        self._levels[level] = []
        block = encode_file_node([(c.cid.to_bytes(), c.tsize, c.file_size) for c in children])
        cid = Cid.for_block(DAG_PB, block)
        self._emit(cid, block)
        if level + 1 == len(self._levels):
            self._levels.append([])
        node = _Child(cid, len(block) + sum(c.tsize for c in children), sum(c.file_size for c in children))
        self._push(level + 1, node)

    def _emit(self, cid: Cid, block: bytes) -> None:
        self._blocks += 1
        self._sink(cid, block)


def import_chunks(chunks: Iterable[bytes], sink: BlockSink = _discard) -> ImportedFile:
    builder = BalancedDagBuilder(sink)
    for chunk in chunks:
        builder.add_chunk(chunk)
    return builder.finish()


def import_bytes(data: bytes | memoryview, sink: BlockSink = _discard) -> ImportedFile:
    return import_chunks(chunk_bytes(data), sink)


def import_stream(stream: BinaryIO, sink: BlockSink = _discard) -> ImportedFile:
    return import_chunks(chunk_stream(stream), sink)


def compute_cid(data: bytes | memoryview) -> str:
    """The CID `ipfs add --cid-version=1 --raw-leaves` gives these bytes, without storing anything."""
    return str(import_bytes(data).cid)
