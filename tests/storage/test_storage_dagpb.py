"""dag-pb / UnixFS codec: round trips, the spec's strictness, and hostile bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity_p2p.storage import InvalidDag
from parity_p2p.storage.dagpb import (
    DecodeError,
    PbLink,
    PbNode,
    UnixFsData,
    UnixFsType,
    decode_node,
    decode_unixfs,
    encode_file_node,
    encode_node,
    encode_unixfs,
)
from parity_p2p.storage.dagwalk import parse_file_node
from parity_p2p.storage.multiformats import DAG_PB, RAW, Cid

LEAF = Cid.for_block(RAW, b"leaf")

links = st.builds(
    PbLink,
    cid_bytes=st.binary(min_size=1, max_size=40),
    tsize=st.integers(0, 2**40),
    name=st.text(max_size=10),
)


@given(st.lists(links, max_size=5), st.one_of(st.none(), st.binary(max_size=50)))
def test_node_round_trip(node_links: list[PbLink], data: bytes | None) -> None:
    node = PbNode(links=tuple(node_links), data=data)
    assert decode_node(encode_node(node)) == node


@given(st.binary(max_size=40), st.one_of(st.none(), st.integers(0, 2**50)), st.lists(st.integers(0, 2**30)))
def test_unixfs_round_trip(data: bytes, filesize: int | None, sizes: list[int]) -> None:
    meta = UnixFsData(UnixFsType.FILE, data=data, filesize=filesize, blocksizes=tuple(sizes))
    assert decode_unixfs(encode_unixfs(meta)) == meta


def test_internal_node_layout_is_kubos() -> None:
    # links first, each with an empty Name (12 00) and a Tsize; then Data = {Type: File, filesize, blocksizes}
    block = encode_file_node([(LEAF.to_bytes(), 4, 4), (LEAF.to_bytes(), 4, 4)])
    link = b"\x0a\x24" + LEAF.to_bytes() + b"\x12\x00" + b"\x18\x04"
    assert block == (b"\x12\x2a" + link) * 2 + b"\x0a\x08" + b"\x08\x02\x18\x08\x20\x04\x20\x04"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x0a\x00\x12\x00", "a field follows Data"),
        (b"\x0a\x00\x0a\x00", "a field follows Data"),
        (b"\x1a\x00", "unexpected field 3"),
        (b"\x12\x02\x12\x00", "missing Hash"),
        (b"\x12\x04\x12\x00\x0a\x00", "out of order"),
        (b"\x0a\x05abc", "runs past the end"),
        (b"\x12\x80", "truncated varint"),
    ],
)
def test_malformed_nodes_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_node(raw)


def test_packed_blocksizes_are_read() -> None:
    assert decode_unixfs(b"\x08\x02\x22\x02\x05\x06").blocksizes == (5, 6)


@pytest.mark.parametrize(
    ("meta", "links_count", "reason"),
    [
        (UnixFsData(UnixFsType.DIRECTORY), 0, "directory node"),
        (UnixFsData(UnixFsType.FILE, filesize=9, blocksizes=(4,)), 1, "filesize 9"),
        (UnixFsData(UnixFsType.FILE, filesize=4, blocksizes=(4,)), 2, "2 links but 1 blocksizes"),
    ],
)
def test_nodes_that_are_not_consistent_files_are_refused(meta: UnixFsData, links_count: int, reason: str) -> None:
    node = PbNode(links=tuple(PbLink(LEAF.to_bytes(), 4) for _ in range(links_count)), data=encode_unixfs(meta))
    block = encode_node(node)
    with pytest.raises(InvalidDag, match=reason):
        parse_file_node(Cid.for_block(DAG_PB, block), block)


@given(st.binary(max_size=200))
def test_hostile_blocks_raise_invalid_dag_only(block: bytes) -> None:
    try:
        node = parse_file_node(Cid.for_block(DAG_PB, block), block)
    except InvalidDag:
        return
    assert node.declared_size == len(node.data) + sum(size for _, size in node.children)
