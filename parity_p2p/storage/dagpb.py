"""dag-pb nodes and UnixFS file metadata, encoded and decoded by hand (no protobuf dependency).

Wire layout (dag-pb spec, https://ipld.io/specs/codecs/dag-pb/spec/):
    PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }   Links are written BEFORE Data
    PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
UnixFS (unixfs.proto) in PBNode.Data:
    Data { required Type Type = 1; optional bytes Data = 2; optional uint64 filesize = 3;
           repeated uint64 blocksizes = 4; ... }

Encoding matches Kubo/js-ipfs byte for byte: every link carries an empty Name, internal file nodes carry
Type=File, filesize and one blocksize per child, and no Data field. Decoding is strict where the dag-pb spec
is strict (field order, no unknown fields in PBNode/PBLink) because blocks come from untrusted peers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from parity_p2p.storage.multiformats import VarintError, decode_varint, encode_varint

_WIRE_VARINT = 0
_WIRE_I64 = 1
_WIRE_LEN = 2
_WIRE_I32 = 5


class UnixFsType(IntEnum):
    RAW = 0
    DIRECTORY = 1
    FILE = 2
    METADATA = 3
    SYMLINK = 4
    HAMT_SHARD = 5


class DecodeError(ValueError):
    """Bytes that are not a well-formed dag-pb node or UnixFS Data message."""


@dataclass(frozen=True, slots=True)
class PbLink:
    cid_bytes: bytes
    tsize: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class PbNode:
    links: tuple[PbLink, ...]
    data: bytes | None


@dataclass(frozen=True, slots=True)
class UnixFsData:
    type: UnixFsType
    data: bytes = b""
    filesize: int | None = None
    blocksizes: tuple[int, ...] = field(default=())


def _key(field_number: int, wire_type: int) -> bytes:
    return encode_varint(field_number << 3 | wire_type)


def _len_field(field_number: int, payload: bytes) -> bytes:
    return _key(field_number, _WIRE_LEN) + encode_varint(len(payload)) + payload


def encode_link(link: PbLink) -> bytes:
    return (
        _len_field(1, link.cid_bytes)
        + _len_field(2, link.name.encode("utf-8"))
        + _key(3, _WIRE_VARINT)
        + encode_varint(link.tsize)
    )


def encode_node(node: PbNode) -> bytes:
    parts = [_len_field(2, encode_link(link)) for link in node.links]
    if node.data is not None:
        parts.append(_len_field(1, node.data))
    return b"".join(parts)


def encode_unixfs(meta: UnixFsData) -> bytes:
    parts = [_key(1, _WIRE_VARINT) + encode_varint(int(meta.type))]
    if meta.data:
        parts.append(_len_field(2, meta.data))
    if meta.filesize is not None:
        parts.append(_key(3, _WIRE_VARINT) + encode_varint(meta.filesize))
    parts.extend(_key(4, _WIRE_VARINT) + encode_varint(size) for size in meta.blocksizes)
    return b"".join(parts)


def encode_file_node(children: list[tuple[bytes, int, int]]) -> bytes:
    """An internal UnixFS file node over `children` given as (cid bytes, tsize, file bytes below)."""
    meta = UnixFsData(
        type=UnixFsType.FILE,
        filesize=sum(size for _, _, size in children),
        blocksizes=tuple(size for _, _, size in children),
    )
    links = tuple(PbLink(cid_bytes, tsize) for cid_bytes, tsize, _ in children)
    return encode_node(PbNode(links=links, data=encode_unixfs(meta)))


class _Reader:
    """Walks protobuf fields of one message, turning varint errors into DecodeError."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def done(self) -> bool:
        return self.pos >= len(self.data)

    def varint(self) -> int:
        try:
            value, self.pos = decode_varint(self.data, self.pos)
        except VarintError as exc:
            raise DecodeError(f"{self.what}: {exc} at byte {self.pos}") from None
        return value

    def key(self) -> tuple[int, int]:
        key = self.varint()
        return key >> 3, key & 7

    def length_delimited(self) -> bytes:
        length = self.varint()
        end = self.pos + length
        if end > len(self.data):
            raise DecodeError(f"{self.what}: field of {length} bytes runs past the end of the message")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def skip(self, wire_type: int) -> None:
        if wire_type == _WIRE_VARINT:
            self.varint()
        elif wire_type == _WIRE_LEN:
            self.length_delimited()
        elif wire_type in (_WIRE_I64, _WIRE_I32):
            self.pos += 8 if wire_type == _WIRE_I64 else 4
            if self.pos > len(self.data):
                raise DecodeError(f"{self.what}: fixed-width field runs past the end")
        else:
            raise DecodeError(f"{self.what}: unsupported wire type {wire_type}")


def _decode_link(raw: bytes) -> PbLink:
    reader = _Reader(raw, "PBLink")
    cid_bytes: bytes | None = None
    name = ""
    tsize = 0
    last_field = 0
    while not reader.done():
        number, wire = reader.key()
        if number <= last_field:
            raise DecodeError(f"PBLink: field {number} out of order or repeated")
        last_field = number
        if number == 1 and wire == _WIRE_LEN:
            cid_bytes = reader.length_delimited()
        elif number == 2 and wire == _WIRE_LEN:
            try:
                name = reader.length_delimited().decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError("PBLink: Name is not UTF-8") from None
        elif number == 3 and wire == _WIRE_VARINT:
            tsize = reader.varint()
        else:
            raise DecodeError(f"PBLink: unexpected field {number} with wire type {wire}")
    if cid_bytes is None:
        raise DecodeError("PBLink: missing Hash")
    return PbLink(cid_bytes=cid_bytes, tsize=tsize, name=name)


def decode_node(raw: bytes) -> PbNode:
    """Decode a dag-pb block strictly: Links (field 2) first, then at most one Data (field 1)."""
    reader = _Reader(raw, "PBNode")
    links: list[PbLink] = []
    data: bytes | None = None
    while not reader.done():
        number, wire = reader.key()
        if wire != _WIRE_LEN or number not in (1, 2):
            raise DecodeError(f"PBNode: unexpected field {number} with wire type {wire}")
        if data is not None:
            raise DecodeError("PBNode: a field follows Data (Data must be last and appear once)")
        if number == 2:
            links.append(_decode_link(reader.length_delimited()))
        else:
            data = reader.length_delimited()
    return PbNode(links=tuple(links), data=data)


def decode_unixfs(raw: bytes) -> UnixFsData:
    """Decode UnixFS Data; fields this store does not use (mode, mtime, fanout...) are skipped."""
    reader = _Reader(raw, "UnixFS Data")
    type_value: int | None = None
    data = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    while not reader.done():
        number, wire = reader.key()
        if number == 1 and wire == _WIRE_VARINT:
            type_value = reader.varint()
        elif number == 2 and wire == _WIRE_LEN:
            data = reader.length_delimited()
        elif number == 3 and wire == _WIRE_VARINT:
            filesize = reader.varint()
        elif number == 4 and wire == _WIRE_VARINT:
            blocksizes.append(reader.varint())
        elif number == 4 and wire == _WIRE_LEN:  # a packed encoder; accepted for reading
            packed = _Reader(reader.length_delimited(), "UnixFS blocksizes")
            while not packed.done():
                blocksizes.append(packed.varint())
        else:
            reader.skip(wire)
    if type_value is None:
        raise DecodeError("UnixFS Data: missing Type")
    try:
        unixfs_type = UnixFsType(type_value)
    except ValueError:
        raise DecodeError(f"UnixFS Data: unknown Type {type_value}") from None
    return UnixFsData(type=unixfs_type, data=data, filesize=filesize, blocksizes=tuple(blocksizes))
