"""Errors of the chain layer: one base, narrow subclasses that carry what went wrong."""

from __future__ import annotations

from enum import Enum
from typing import Any


class ChainError(Exception):
    """Base of every error raised by parity_p2p.chain."""


class AbiNotFoundError(ChainError):
    """A contract's exported ABI is missing from the package (run `node scripts/export_abi.js`)."""

    def __init__(self, contract: str) -> None:
        super().__init__(
            f"no ABI for {contract!r} in parity_p2p/chain/abi/: run `npx hardhat compile` and "
            "`node scripts/export_abi.js`"
        )
        self.contract = contract


class AbiEncodingError(ChainError):
    """Arguments that do not fit a function's ABI types."""


class RpcUnavailableError(ChainError):
    """The node could not be reached or did not answer in time (connection refused, timeout, HTTP 5xx)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"chain node at {url} unavailable: {reason}")
        self.url = url
        self.reason = reason


class RpcError(ChainError):
    """The node answered with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed: [{code}] {message}")
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


class ContractRevert(ChainError):
    """A call or transaction reverted. `name` and `args` are the decoded custom error (or `Error`/`Panic`),
    e.g. `ContractRevert(name="NotEnoughAttestations", args=(1, 2, 3))`; `str()` adds a hint a user can act on."""

    def __init__(
        self,
        name: str,
        args: tuple[Any, ...],
        *,
        arg_names: tuple[str, ...] = (),
        hint: str = "",
        raw: bytes = b"",
    ) -> None:
        super().__init__(name, *args)
        self.name = name
        # Exception.args holds the custom error's arguments, so `exc.args == (2, 3)` reads naturally.
        self.args = args
        self.arg_names = arg_names if len(arg_names) == len(args) else ("",) * len(args)
        self.hint = hint
        self.raw = raw

    @property
    def signature(self) -> str:
        """`Name(arg=value, ...)` as decoded."""
        shown = ", ".join(f"{n}={_show(v)}" if n else _show(v) for n, v in zip(self.arg_names, self.args, strict=True))
        return f"{self.name}({shown})"

    def __str__(self) -> str:
        message = f"reverted with {self.signature}"
        return f"{message}: {self.hint}" if self.hint else message

    def __repr__(self) -> str:
        return f"ContractRevert(name={self.name!r}, args={self.args!r})"


def _show(value: Any) -> str:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


class TransactionFailedError(ChainError):
    """A transaction was mined with status 0 and its revert reason could not be recovered."""

    def __init__(self, tx_hash: str, block_number: int) -> None:
        super().__init__(f"transaction {tx_hash} failed in block {block_number} (no revert data)")
        self.tx_hash = tx_hash
        self.block_number = block_number


class ReceiptTimeoutError(ChainError):
    """No receipt in time. The transaction may still be mined: check `tx_hash` before sending anything else."""

    def __init__(self, tx_hash: str, timeout: float) -> None:
        super().__init__(f"no receipt for {tx_hash} after {timeout:.1f} s; it may still be mined")
        self.tx_hash = tx_hash
        self.timeout = timeout


class NoSignerError(ChainError):
    """A transaction was requested from a read-only client."""

    def __init__(self) -> None:
        super().__init__("this client has no account: pass a LocalAccount to send transactions")


class DeploymentError(ChainError):
    """A deployment file is unreadable, or does not match the chain it is used with."""


class ChainIdMismatchError(DeploymentError):
    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"deployment is for chain id {expected} but the node reports chain id {actual}: wrong RPC URL or "
            "wrong deployment file"
        )
        self.expected = expected
        self.actual = actual


class MissingCodeError(DeploymentError):
    def __init__(self, contract: str, address: str) -> None:
        super().__init__(
            f"no contract code at {address} ({contract}): the chain was reset (in-memory devnets forget everything "
            "on restart) or the deployment file is stale; redeploy"
        )
        self.contract = contract
        self.address = address


class WiringMismatchError(DeploymentError):
    def __init__(self, contract: str, view: str, expected: str, found: str | None) -> None:
        super().__init__(
            f"{contract}.{view}() is {found or 'not callable'}, the deployment says {expected}: the addresses do "
            "not belong to one deployment (a devnet redeployed differently?); redeploy or fix the file"
        )
        self.contract = contract
        self.view = view
        self.expected = expected
        self.found = found


class KeyLoadError(ChainError):
    """A private key could not be loaded (missing variable, malformed hex, wrong keystore password)."""


class WatcherError(ChainError):
    """Base of event-watcher failures that it cannot recover from by retrying."""


class ChainReorgError(WatcherError):
    """A block the watcher already handed events from changed or vanished (reorg deeper than the
    confirmations, or a devnet reset). Events already handed over may be void: resynchronise from chain state."""

    def __init__(self, block_number: int, expected_hash: str, actual_hash: str | None) -> None:
        now = actual_hash if actual_hash is not None else "no such block (chain is shorter)"
        super().__init__(f"block {block_number} was {expected_hash}, is now {now}: reorg or chain reset")
        self.block_number = block_number
        self.expected_hash = expected_hash
        self.actual_hash = actual_hash
