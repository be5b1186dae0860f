"""Signing and sending transactions from one LocalAccount: nonces, fees, broadcast retries, receipts.

Policy (see docs/chain-client.md):
- Nonces are allocated locally under a lock, starting from `eth_getTransactionCount(pending)`; a nonce is
  consumed only once the node accepted the signed transaction.
- A transaction is signed once. A broadcast that fails in transport (timeout, connection lost) is retried
  with the *same signed bytes* after asking the node for the transaction's hash, so it can never be sent as
  two transactions. When the outcome stays unknown, the local nonce is dropped and re-read from the node.
- Gas is estimated first, so most reverts surface before anything is sent, as ContractRevert.
- Receipts are polled at once, then at doubling intervals up to `poll_interval`, until `receipt_timeout`; a mined
  failure is replayed with eth_call to decode the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trio
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from parity_p2p.chain.errors import (
    ChainError,
    ContractRevert,
    ReceiptTimeoutError,
    RpcError,
    RpcUnavailableError,
    TransactionFailedError,
)
from parity_p2p.chain.events import ChainEvent, EventDecoder
from parity_p2p.chain.revert import decode_revert
from parity_p2p.chain.rpc import JsonRpc, hex_to_bytes, hex_to_int

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TxPolicy:
    receipt_timeout: float = 120.0
    poll_interval: float = 0.5  # the slowest receipt polling; the first poll is immediate (automining devnets)
    first_poll_interval: float = 0.005
    """Then polls double from this up to poll_interval. An automining devnet can answer the broadcast before it
    has mined the block (1 of 30 here on an idle machine, often under a local network's load) and mines it within
    milliseconds: from 50 ms, a round's submission took ~65 ms instead of ~15 ms then. A chain with block times of
    seconds pays ~4 more polls."""
    broadcast_attempts: int = 4
    retry_backoff: float = 0.5
    gas_margin_percent: int = 25  # added to the estimate: state can move between estimate and inclusion
    default_priority_fee: int = 10**9  # when the node has no eth_maxPriorityFeePerGas


@dataclass(frozen=True)
class TxReceipt:
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    contract_address: str | None
    events: tuple[ChainEvent, ...]

    def events_of(self, kind: type[ChainEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def revert_from_rpc_error(error: RpcError) -> ContractRevert | None:
    """The decoded revert if the node reported one (anvil/hardhat/geth put the return data in `data`)."""
    data: Any = error.data
    if isinstance(data, Mapping):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return decode_revert(hex_to_bytes(data))
    if "revert" in error.rpc_message.lower():
        return decode_revert(b"")
    return None


class TransactionSender:
    """Sends transactions for one account. Safe to share between trio tasks."""

    def __init__(
        self, rpc: JsonRpc, account: LocalAccount, chain_id: int, decoder: EventDecoder, policy: TxPolicy
    ) -> None:
        self.rpc = rpc
        self.account = account
        self.address = to_checksum_address(account.address)
        self.chain_id = chain_id
        self.decoder = decoder
        self.policy = policy
        self._lock = trio.Lock()
        self._next_nonce: int | None = None

    async def send(self, to: str | None, data: bytes, *, value: int = 0, gas: int | None = None) -> TxReceipt:
        """Sign, broadcast and wait for the receipt. Raises ContractRevert if it reverts (before or after)."""
        call: dict[str, Any] = {"from": self.address, "data": "0x" + data.hex(), "value": hex(value)}
        if to is not None:
            call["to"] = to_checksum_address(to)
        async with self._lock:
            if gas is None:
                gas = await self._estimate_gas(call)
            try:
                tx_hash = await self._sign_and_broadcast(call, gas)
            except BaseException:
                # Failed, or cancelled mid-broadcast: the node may hold the tx, so re-read the nonce next time
                # rather than reuse it (a same-nonce tx with other bytes could replace a pending one).
                self._next_nonce = None
                raise
        receipt = await self.wait_for_receipt(tx_hash)
        if hex_to_int(receipt["status"]) != 1:
            raise await self._failure_reason(call, receipt)
        return self._to_receipt(receipt)

    async def _estimate_gas(self, call: dict[str, Any]) -> int:
        try:
            estimate = hex_to_int(await self.rpc.request("eth_estimateGas", [call]))
        except RpcError as exc:
            revert = revert_from_rpc_error(exc)
            if revert is not None:
                raise revert from None
            raise
        return estimate + estimate * self.policy.gas_margin_percent // 100

    async def _fees(self) -> dict[str, int]:
        block = await self.rpc.get_block("latest")
        base_fee = block.get("baseFeePerGas") if block else None
        if base_fee is None:  # pre-London chain: legacy pricing
            return {"gasPrice": hex_to_int(await self.rpc.request("eth_gasPrice"))}
        try:
            tip = hex_to_int(await self.rpc.request("eth_maxPriorityFeePerGas"))
        except RpcError:
            tip = self.policy.default_priority_fee
        # Twice the base fee survives several full blocks of base-fee growth before the tx gets stuck.
        return {"maxFeePerGas": 2 * hex_to_int(base_fee) + tip, "maxPriorityFeePerGas": tip}

    async def _nonce(self) -> int:
        if self._next_nonce is None:
            self._next_nonce = hex_to_int(
                await self.rpc.request("eth_getTransactionCount", [self.address, "pending"])
            )
        return self._next_nonce

    def _sign(self, call: dict[str, Any], gas: int, nonce: int, fees: dict[str, int]) -> tuple[bytes, str]:
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": gas,
            "value": hex_to_int(call["value"]),
            "data": call["data"],
            **fees,
        }
        if "to" in call:
            tx["to"] = call["to"]
        if "maxFeePerGas" in fees:
            tx["type"] = 2
        raw = bytes(self.account.sign_transaction(tx).raw_transaction)
        return raw, "0x" + keccak(raw).hex()

    async def _known(self, tx_hash: str) -> bool:
        """Whether the node has this transaction (pending or mined)."""
        try:
            return await self.rpc.request("eth_getTransactionByHash", [tx_hash]) is not None
        except RpcUnavailableError:
            return False

    async def _sign_and_broadcast(self, call: dict[str, Any], gas: int) -> str:
        fees = await self._fees()
        nonce = await self._nonce()
        raw, tx_hash = self._sign(call, gas, nonce, fees)
        resigned = False
        for attempt in range(self.policy.broadcast_attempts):
            try:
                await self.rpc.request("eth_sendRawTransaction", ["0x" + raw.hex()])
            except RpcUnavailableError as exc:
                # The node may or may not have it: ask by hash before sending the same bytes again.
                log.warning("broadcast of %s (nonce %d) failed: %s; checking", tx_hash, nonce, exc.reason)
                await trio.sleep(self.policy.retry_backoff * 2**attempt)
                if await self._known(tx_hash):
                    break
                continue
            except RpcError as exc:
                message = exc.rpc_message.lower()
                if "already known" in message or "known transaction" in message:
                    break
                if "nonce too low" in message:
                    if await self._known(tx_hash):
                        break  # our exact bytes are already in (a lost answer from an earlier attempt)
                    if not resigned:
                        # Another sender used this key: our signed tx can never be mined, so re-signing is safe.
                        self._next_nonce = None
                        nonce = await self._nonce()
                        raw, tx_hash = self._sign(call, gas, nonce, fees)
                        resigned = True
                        continue
                revert = revert_from_rpc_error(exc)
                if revert is not None:
                    raise revert from None
                raise
            else:
                break
        else:
            raise RpcUnavailableError(self.rpc.url, f"could not broadcast {tx_hash} (nonce {nonce})")
        self._next_nonce = nonce + 1
        return tx_hash

    async def wait_for_receipt(self, tx_hash: str, timeout: float | None = None) -> dict[str, Any]:
        """The raw receipt, polling until `timeout` (default: policy). Survives a node hiccup while waiting."""
        limit = self.policy.receipt_timeout if timeout is None else timeout
        interval = min(self.policy.first_poll_interval, self.policy.poll_interval)
        with trio.move_on_after(limit):
            while True:
                try:
                    receipt: dict[str, Any] | None = await self.rpc.request("eth_getTransactionReceipt", [tx_hash])
                except RpcUnavailableError:
                    receipt = None
                if receipt is not None and receipt.get("blockNumber") is not None:
                    return receipt
                await trio.sleep(interval)
                interval = min(2 * interval, self.policy.poll_interval)
        raise ReceiptTimeoutError(tx_hash, limit)

    async def _failure_reason(self, call: dict[str, Any], receipt: dict[str, Any]) -> ChainError:
        block = hex_to_int(receipt["blockNumber"])
        try:
            # Re-run against the state before that block: close enough to reproduce a revert's reason.
            await self.rpc.request("eth_call", [call, hex(max(block - 1, 0))])
        except RpcError as exc:
            revert = revert_from_rpc_error(exc)
            if revert is not None:
                return revert
        return TransactionFailedError(str(receipt["transactionHash"]), block)

    def _to_receipt(self, receipt: dict[str, Any]) -> TxReceipt:
        events = tuple(e for e in (self.decoder.decode(entry) for entry in receipt.get("logs", [])) if e)
        created = receipt.get("contractAddress")
        return TxReceipt(
            tx_hash=str(receipt["transactionHash"]),
            block_number=hex_to_int(receipt["blockNumber"]),
            block_hash=str(receipt["blockHash"]),
            gas_used=hex_to_int(receipt["gasUsed"]),
            contract_address=to_checksum_address(created) if created else None,
            events=events,
        )
