"""Errors of the content store: one base, narrow subclasses that carry what went wrong."""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised by parity_p2p.storage."""

    exit_code = 1


class InvalidCid(StorageError):
    """A CID string or byte form that cannot be parsed, or one this store cannot handle."""

    exit_code = 2

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"invalid CID {text!r}: {reason}")
        self.text = text
        self.reason = reason


class BlockNotFound(StorageError):
    """A block is neither in the local blockstore nor obtainable from the fetcher."""

    def __init__(self, cid: str, reason: str = "not in the local blockstore") -> None:
        super().__init__(f"block {cid} not found: {reason}")
        self.cid = cid
        self.reason = reason


class BlockHashMismatch(StorageError):
    """Bytes that claim to be block `cid` hash to something else (a lying peer or a bad daemon)."""

    def __init__(self, cid: str, actual_digest_hex: str, source: str) -> None:
        super().__init__(f"block {cid} from {source} has sha2-256 {actual_digest_hex}, not the CID's digest")
        self.cid = cid
        self.actual_digest_hex = actual_digest_hex
        self.source = source


class StorageFull(StorageError):
    """The disk (ENOSPC/EDQUOT) or the configured quota has no room for a block; nothing partial was left."""

    def __init__(self, path: str, needed_bytes: int, reason: str) -> None:
        super().__init__(f"no room for {needed_bytes} bytes in {path}: {reason}")
        self.path = path
        self.needed_bytes = needed_bytes
        self.reason = reason


class InvalidDag(StorageError):
    """A block decodes to something that is not a well-formed dag-pb / UnixFS file node."""

    def __init__(self, cid: str, reason: str) -> None:
        super().__init__(f"block {cid} is not a valid UnixFS file node: {reason}")
        self.cid = cid
        self.reason = reason


class ContentTooLarge(StorageError):
    """Content declares or reaches more bytes than the caller's limit allows."""

    def __init__(self, cid: str, limit_bytes: int, declared_bytes: int) -> None:
        super().__init__(f"content {cid} has {declared_bytes} bytes, more than the limit of {limit_bytes}")
        self.cid = cid
        self.limit_bytes = limit_bytes
        self.declared_bytes = declared_bytes


class FetcherError(StorageError):
    """The fetcher callback could not supply a block, or was of the wrong kind for the calling API."""

    def __init__(self, cid: str, reason: str) -> None:
        super().__init__(f"fetching block {cid} failed: {reason}")
        self.cid = cid
        self.reason = reason


class IpfsRpcError(StorageError):
    """An IPFS daemon's RPC API failed, timed out or answered something unexpected."""

    def __init__(self, endpoint: str, reason: str, status_code: int | None = None) -> None:
        status = f" (HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"IPFS RPC {endpoint} failed{status}: {reason}")
        self.endpoint = endpoint
        self.reason = reason
        self.status_code = status_code
