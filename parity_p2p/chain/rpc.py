"""A small async JSON-RPC client over httpx (runs on trio through anyio).

web3.py's async providers are asyncio-only (aiohttp); the project runs on trio, so the chain layer speaks
JSON-RPC itself and uses eth_abi / eth_account (web3's own building blocks) for encoding and signing.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import httpx
import trio

from parity_p2p.chain.errors import RpcError, RpcUnavailableError
from parity_p2p.chain.http_body import json_post

DEFAULT_TIMEOUT = 10.0
READ_ATTEMPTS = 3
READ_RETRY_BACKOFF_S = 0.25
READ_METHODS = frozenset({
    "eth_call", "eth_chainId", "eth_blockNumber", "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getCode",
    "eth_getBalance", "eth_getLogs", "eth_getTransactionReceipt", "eth_getTransactionByHash",
    "eth_getTransactionCount", "eth_estimateGas", "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_feeHistory",
    "net_version",
})  # fmt: skip
"""Reads: asking twice changes nothing, so a dropped connection is retried here. Anything else (a transaction
broadcast, a devnet control such as evm_mine) is tried once: the sender decides what a lost answer means."""


class _Dropped(Exception):
    """A request whose connection failed before an answer came (refused, reset, closed): safe to retry a read."""

    def __init__(self, error: RpcUnavailableError) -> None:
        super().__init__(str(error))
        self.error = error


class JsonRpc:
    """One HTTP JSON-RPC endpoint. Transport failures raise RpcUnavailableError; JSON-RPC errors RpcError."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, read_attempts: int = READ_ATTEMPTS) -> None:
        if read_attempts < 1:
            raise ValueError(f"read_attempts must be >= 1, got {read_attempts}")
        self.url = url
        self.read_attempts = read_attempts
        self._ids = itertools.count(1)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout))

    async def request(self, method: str, params: list[Any] | None = None) -> Any:
        """One call. A read whose connection was dropped or refused is retried (`read_attempts` in all, a short
        backoff between): one lost packet must not fail a whole round. A read that timed out is not: the node is
        hanging, and waiting again would only double the wait."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        body = await self._exchange_retried(method, payload, self.read_attempts if method in READ_METHODS else 1)
        if not isinstance(body, dict):
            raise RpcUnavailableError(self.url, "answer is not a JSON-RPC object")
        return _result(method, body)

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Several reads in one HTTP exchange (a JSON-RPC 2.0 batch), results in call order; the first call that
        failed raises its RpcError. One round trip and one HTTP request instead of len(calls): on a node busy with
        its round, each httpx exchange costs ~1 ms of CPU besides the wait. Retried like a read. A node that does
        not take batches (some providers refuse them) is asked one call at a time instead."""
        if not all(method in READ_METHODS for method, _ in calls):
            raise ValueError("a batch holds reads only: a lost answer must be safe to ask again")
        ids = [next(self._ids) for _ in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, calls, strict=True)]
        label = "batch of " + ", ".join(m for m, _ in calls)
        body = await self._exchange_retried(label, payload, self.read_attempts)
        answers = {a.get("id"): a for a in body if isinstance(a, dict)} if isinstance(body, list) else {}
        if set(answers) != set(ids):
            return [await self.request(m, p) for m, p in calls]
        return [_result(m, answers[i]) for i, (m, _) in zip(ids, calls, strict=True)]

    async def _exchange_retried(self, method: str, payload: object, attempts: int) -> Any:
        """`_exchange`, asked again (up to `attempts` in all) when the connection dropped before an answer came."""
        for attempt in range(1, attempts + 1):
            try:
                return await self._exchange(method, payload)
            except _Dropped as dropped:
                if attempt == attempts:
                    raise dropped.error from None
                await trio.sleep(READ_RETRY_BACKOFF_S * attempt)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _exchange(self, method: str, payload: object) -> Any:
        """POST one JSON-RPC payload, return the decoded JSON answer."""
        try:
            # Shielded: a trio cancellation in the middle of an httpx request leaves its body generator unclosed (a
            # ResourceWarning when collected). The request is bounded by the client timeout, so finishing it delays
            # a cancellation by one RPC at most; the cancellation is delivered right after.
            with trio.CancelScope(shield=True):
                data = json.dumps(payload, separators=(",", ":")).encode()
                response = await self._http.send(json_post(self._http, self.url, data))
        except httpx.TimeoutException:
            raise RpcUnavailableError(self.url, f"{method} timed out") from None
        except httpx.TransportError as exc:
            raise _Dropped(RpcUnavailableError(self.url, f"{type(exc).__name__}: {exc}")) from None
        await trio.lowlevel.checkpoint_if_cancelled()
        if response.status_code >= 500:
            raise RpcUnavailableError(self.url, f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise RpcUnavailableError(self.url, f"HTTP {response.status_code}, not JSON") from None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> JsonRpc:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # Typed shorthands for the few methods every part needs.
    async def chain_id(self) -> int:
        return int(await self.request("eth_chainId"), 16)

    async def block_number(self) -> int:
        return int(await self.request("eth_blockNumber"), 16)

    async def get_code(self, address: str, block: str = "latest") -> bytes:
        return hex_to_bytes(await self.request("eth_getCode", [address, block]))

    async def get_block(self, block: int | str) -> dict[str, Any] | None:
        tag = hex(block) if isinstance(block, int) else block
        result: dict[str, Any] | None = await self.request("eth_getBlockByNumber", [tag, False])
        return result


def _result(method: str, answer: dict[str, Any]) -> Any:
    error = answer.get("error")
    if error is not None:
        raise RpcError(method, int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
    return answer.get("result")


def hex_to_bytes(value: str | None) -> bytes:
    if not value:
        return b""
    return bytes.fromhex(value.removeprefix("0x"))


def hex_to_int(value: str | int | None) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return int(value, 16)
