"""Reading a UnixFS file DAG back, as a generator that asks its driver for blocks.

The walk is written once and driven either synchronously (blockstore + sync fetcher) or from trio
(blocking reads in a thread, async fetcher awaited): it yields NeedBlock(cid) and expects the verified
block bytes to be sent back, and yields file bytes (bytes) in order. Every size a node declares is checked
against what its children deliver, so a peer cannot make a small CID expand into an unbounded stream.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from parity_p2p.storage.dagpb import DecodeError, UnixFsType, decode_node, decode_unixfs
from parity_p2p.storage.errors import ContentTooLarge, InvalidCid, InvalidDag
from parity_p2p.storage.multiformats import DAG_PB, RAW, Cid

MAX_DEPTH = 32  # 174**32 chunks is far beyond any file; deeper DAGs are adversarial


@dataclass(frozen=True, slots=True)
class NeedBlock:
    cid: Cid


@dataclass(frozen=True, slots=True)
class FileNode:
    """One block of a file: its inline bytes, then its children with the file bytes each must yield."""

    data: bytes
    children: tuple[tuple[Cid, int], ...]
    declared_size: int


def parse_file_node(cid: Cid, block: bytes) -> FileNode:
    """Interpret a verified block as part of a UnixFS file; InvalidDag for anything else."""
    if cid.codec == RAW:
        return FileNode(data=block, children=(), declared_size=len(block))
    if cid.codec != DAG_PB:
        raise InvalidDag(str(cid), f"codec {cid.codec:#x} cannot be part of a UnixFS file")
    try:
        node = decode_node(block)
        if node.data is None:
            raise InvalidDag(str(cid), "dag-pb node without UnixFS Data")
        meta = decode_unixfs(node.data)
    except DecodeError as exc:
        raise InvalidDag(str(cid), str(exc)) from None
    if meta.type not in (UnixFsType.FILE, UnixFsType.RAW):
        raise InvalidDag(str(cid), f"UnixFS {meta.type.name.lower()} node: this store reads files only")
    if len(meta.blocksizes) != len(node.links):
        raise InvalidDag(str(cid), f"{len(node.links)} links but {len(meta.blocksizes)} blocksizes")
    children = []
    for link, size in zip(node.links, meta.blocksizes, strict=True):
        try:
            children.append((Cid.from_bytes(link.cid_bytes), size))
        except InvalidCid as exc:
            raise InvalidDag(str(cid), f"link to an unusable CID: {exc.reason}") from None
    total = len(meta.data) + sum(meta.blocksizes)
    if meta.filesize is not None and meta.filesize != total:
        raise InvalidDag(str(cid), f"filesize {meta.filesize} but data + blocksizes add up to {total}")
    return FileNode(data=meta.data, children=tuple(children), declared_size=total)


def walk_file(root: Cid, max_size: int | None = None) -> Generator[NeedBlock | bytes, bytes | None, None]:
    """Yield NeedBlock(cid) (send the block back) or a piece of file content (send None)."""
    # Depth-first, left to right; each entry carries the size its parent promised (None for the root).
    stack: list[tuple[Cid, int | None, int]] = [(root, None, 0)]
    produced = 0
    while stack:
        cid, promised, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidDag(str(root), f"DAG deeper than {MAX_DEPTH} levels")
        block = yield NeedBlock(cid)
        assert block is not None, "the driver must send the block it was asked for"
        node = parse_file_node(cid, block)
        if promised is not None and node.declared_size != promised:
            raise InvalidDag(str(cid), f"holds {node.declared_size} file bytes, its parent says {promised}")
        if promised is None and max_size is not None and node.declared_size > max_size:
            raise ContentTooLarge(str(root), max_size, node.declared_size)
        if node.data:
            produced += len(node.data)
            if max_size is not None and produced > max_size:
                raise ContentTooLarge(str(root), max_size, produced)
            sent = yield node.data
            assert sent is None
        stack.extend((child, size, depth + 1) for child, size in reversed(node.children))


def child_cids(cid: Cid, block: bytes) -> list[Cid]:
    """The blocks a file block links to (for garbage collection)."""
    return [child for child, _ in parse_file_node(cid, block).children]
