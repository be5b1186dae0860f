"""Optional backend: an IPFS daemon's Kubo-compatible RPC API (/api/v0), spoken over plain httpx.

Why not `ipfshttpclient` (the design's first choice): its last release (0.7.0, 2021) refuses any daemon
>= 0.8 in `connect()` (VersionMismatch) and is unmaintained. These few endpoints over httpx work against
Kubo and js-ipfs, with explicit timeouts and streaming in both directions.

Every request is a POST (the RPC API rejects GET). Content lookups also pass the daemon-side `timeout`
argument, because a daemon asked for a CID nobody has would otherwise search forever.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import httpx

from parity_p2p.storage.errors import (
    BlockHashMismatch,
    BlockNotFound,
    ContentTooLarge,
    InvalidCid,
    IpfsRpcError,
)
from parity_p2p.storage.multiformats import Cid

DEFAULT_API_URL = "http://127.0.0.1:5001"
# Messages daemons use when the `timeout` argument expired or the content is unknown
# (js-ipfs: "request timed out"; Kubo: "context deadline exceeded", "block was not found locally").
_NOT_FOUND_MARKERS = ("timed out", "deadline exceeded", "not found")
_ADD_PARAMS = {"cid-version": "1", "raw-leaves": "true", "cid-base": "base32", "chunker": "size-262144"}


class IpfsRpcClient:
    """A synchronous client; from trio call it through trio.to_thread.run_sync."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        *,
        request_timeout_s: float = 30.0,
        content_timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.content_timeout_s = content_timeout_s
        # The read timeout bounds each socket read, not the whole transfer: large files still stream.
        timeout = httpx.Timeout(request_timeout_s, connect=min(5.0, request_timeout_s))
        self._http = httpx.Client(base_url=self.api_url + "/api/v0", timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IpfsRpcClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- endpoints -------------------------------------------------------------------------------
    def version(self) -> str:
        reply = self._json("version", {})
        version = reply.get("Version")
        if not isinstance(version, str):
            raise IpfsRpcError("version", f"no Version in the reply: {reply!r}")
        return version

    def add(self, data: bytes, *, pin: bool = True, name: str = "data") -> str:
        """Add bytes; returns the CIDv1 (same rules as ContentStore.add)."""
        return self._add_stream(name, data, pin)

    def add_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        """Add a file, streamed from disk in the multipart body."""
        with open(path, "rb") as stream:
            return self._add_stream(Path(path).name, stream, pin)

    def cat(self, cid: str | Cid, *, max_size: int | None = None) -> bytes:
        """The content of a file CID; IPFS verifies blocks, `max_size` bounds what we accept."""
        parsed = _parse(cid)
        pieces: list[bytes] = []
        received = 0
        with self._stream("cat", {"arg": str(parsed), "timeout": self._daemon_timeout()}, cid=parsed) as reply:
            for piece in reply.iter_bytes():
                received += len(piece)
                if max_size is not None and received > max_size:
                    raise ContentTooLarge(str(parsed), max_size, received)
                pieces.append(piece)
        return b"".join(pieces)

    def block_get(self, cid: str | Cid) -> bytes:
        """One raw block, hashed against its CID (usable as a ContentStore fetcher)."""
        parsed = _parse(cid)
        with self._stream(
            "block/get", {"arg": str(parsed), "timeout": self._daemon_timeout()}, cid=parsed
        ) as reply:
            block = reply.read()
        if not parsed.verify(block):
            raise BlockHashMismatch(str(parsed), hashlib.sha256(block).hexdigest(), source=self.api_url)
        return block

    def __call__(self, cid: Cid) -> bytes:
        return self.block_get(cid)

    def pin_rm(self, cid: str | Cid) -> None:
        self._json("pin/rm", {"arg": str(_parse(cid))})

    # ---- plumbing --------------------------------------------------------------------------------
    def _add_stream(self, name: str, content: bytes | BinaryIO, pin: bool) -> str:
        params = {**_ADD_PARAMS, "pin": "true" if pin else "false"}
        try:
            response = self._http.post("/add", params=params, files={"file": (name, content)})
        except httpx.HTTPError as exc:
            raise IpfsRpcError("add", f"{type(exc).__name__}: {exc}") from exc
        _raise_for_error("add", response)
        # One JSON object per line (progress lines have no Hash); the file's entry is the last with a Hash.
        hashes = [line["Hash"] for line in _json_lines("add", response.text) if "Hash" in line]
        if not hashes:
            raise IpfsRpcError("add", f"no Hash in the reply: {response.text[:200]!r}")
        try:
            return str(Cid.parse(hashes[-1]).to_v1())
        except InvalidCid as exc:
            raise IpfsRpcError("add", f"the daemon returned an unusable CID: {exc.reason}") from None

    def _json(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            response = self._http.post("/" + endpoint, params=params)
        except httpx.HTTPError as exc:
            raise IpfsRpcError(endpoint, f"{type(exc).__name__}: {exc}") from exc
        _raise_for_error(endpoint, response)
        lines = _json_lines(endpoint, response.text)
        return lines[-1] if lines else {}

    @contextmanager
    def _stream(self, endpoint: str, params: dict[str, str], *, cid: Cid) -> Iterator[httpx.Response]:
        try:
            with self._http.stream("POST", "/" + endpoint, params=params) as response:
                if response.status_code != 200:
                    response.read()
                    _raise_for_error(endpoint, response, cid=cid)
                yield response
        except httpx.HTTPError as exc:
            raise IpfsRpcError(endpoint, f"{type(exc).__name__}: {exc}") from exc

    def _daemon_timeout(self) -> str:
        return f"{self.content_timeout_s:g}s"


def _parse(cid: str | Cid) -> Cid:
    return cid if isinstance(cid, Cid) else Cid.parse(cid)


def _raise_for_error(endpoint: str, response: httpx.Response, *, cid: Cid | None = None) -> None:
    if response.status_code == 200:
        return
    try:
        message = str(json.loads(response.text).get("Message", response.text))
    except (json.JSONDecodeError, AttributeError):
        message = response.text[:200]
    if cid is not None and any(marker in message.lower() for marker in _NOT_FOUND_MARKERS):
        raise BlockNotFound(str(cid), f"the IPFS daemon at {response.url.host} could not find it: {message}")
    raise IpfsRpcError(endpoint, message, status_code=response.status_code)


def _json_lines(endpoint: str, text: str) -> list[dict[str, Any]]:
    objects = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            raise IpfsRpcError(endpoint, f"reply is not JSON lines: {line[:200]!r}") from None
        if not isinstance(value, dict):
            raise IpfsRpcError(endpoint, f"expected a JSON object, got {line[:200]!r}")
        objects.append(value)
    return objects
