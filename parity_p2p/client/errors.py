"""Errors of `parity-client`: one base with the exit code, narrow subclasses, and the translation of library errors.

Exit codes (docs/cli.md): 0 success, 1 unexpected failure (a bug: it keeps its traceback), 2 invalid input (flags,
files, CIDs, configs; also Typer's own usage errors), 3 account/key, 4 deployment file or contracts, 5 chain node
unreachable, 6 transaction reverted or failed, 7 not enough tokens or allowance, 8 local node unreachable,
9 local node refused the request, 10 content failed verification, 11 no such session, 12 wrong state for the action
(e.g. too few runners to start, faucet off a devnet).
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from parity_p2p.chain.errors import (
    ChainError,
    ContractRevert,
    DeploymentError,
    KeyLoadError,
    NoSignerError,
    ReceiptTimeoutError,
    RpcError,
    RpcUnavailableError,
    TransactionFailedError,
)
from parity_p2p.learning.errors import ExportError, LearningError, UpdateRejected
from parity_p2p.node.errors import (
    ApiRequestError,
    DataDirError,
    KeystoreError,
    NodeError,
    NodeNotRunningError,
    UpdateRefused,
)
from parity_p2p.session_spec import SpecError
from parity_p2p.storage.errors import InvalidCid, StorageError


class ClientError(Exception):
    """Base of every error `parity-client` reports; `exit_code` is what the process exits with."""

    exit_code: ClassVar[int] = 1


class InvalidInput(ClientError):
    """A flag, file or value that cannot be used; `option` names the flag (or file) at fault."""

    exit_code = 2

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


class AccountError(ClientError):
    exit_code = 3


class DeploymentProblem(ClientError):
    exit_code = 4


class ChainUnavailable(ClientError):
    exit_code = 5


class TransactionRejected(ClientError):
    exit_code = 6


class InsufficientFunds(ClientError):
    """Balance or allowance below what an action needs (amounts in base units)."""

    exit_code = 7

    def __init__(self, what: str, have: int, need: int, fix: str) -> None:
        super().__init__(f"{what}: have {format_tokens(have)}, need {format_tokens(need)}; {fix}")
        self.what = what
        self.have = have
        self.need = need


class NodeUnavailable(ClientError):
    exit_code = 8


class NodeRefused(ClientError):
    exit_code = 9


class IntegrityError(ClientError):
    """Content that does not match its CID or on-chain hash, or that fails strict decoding."""

    exit_code = 10


class SessionNotFound(ClientError):
    exit_code = 11

    def __init__(self, session_id: int, count: int | None = None) -> None:
        known = "" if count is None else f" ({f'ids run from 1 to {count}' if count else 'no session exists yet'})"
        super().__init__(f"session {session_id} does not exist{known}; see `parity-client fl list-sessions`")
        self.session_id = session_id


class WrongState(ClientError):
    """The action does not apply now (session state, chain kind)."""

    exit_code = 12


class InsufficientRunners(WrongState):
    def __init__(self, session_id: int, joined: int, needed: int) -> None:
        super().__init__(
            f"insufficient online runners: {joined} joined, {needed} needed (session {session_id}); wait for runners "
            "to join (they need to be registered, staked and online), or create a session with a lower "
            "--min-participants"
        )
        self.session_id = session_id
        self.joined = joined
        self.needed = needed


TOKEN_DECIMALS = 18


def format_tokens(units: int) -> str:
    """Base units as a decimal token amount without trailing zeros, e.g. 1500000000000000000 -> '1.5 USDFC'."""
    whole, frac = divmod(abs(units), 10**TOKEN_DECIMALS)
    sign = "-" if units < 0 else ""
    text = f"{whole}.{frac:0{TOKEN_DECIMALS}d}".rstrip("0").rstrip(".")
    return f"{sign}{text} USDFC"


# Custom errors whose meaning a user acts on differently: a missing session, or a state that forbids the action.
_STATE_REVERTS = frozenset(
    {"SessionNotOpen", "SessionNotActive", "SessionNotStarted", "NotCreator", "NotEnoughParticipants",
     "FaucetDisabled", "StakeLocked", "NothingToWithdraw", "NothingToClaim", "AlreadyRegistered", "NotRegistered",
     "RunnerNotRegistered", "AlreadyJoined", "SessionFull", "NotParticipant"}
)  # fmt: skip


def translate(exc: BaseException) -> ClientError | None:
    """The ClientError a library error means to a user, or None for anything that is not a user-facing error."""
    if isinstance(exc, ClientError):
        return exc
    if isinstance(exc, ContractRevert):
        if exc.name == "UnknownSession" and exc.args:
            return SessionNotFound(int(exc.args[0]))
        cls = WrongState if exc.name in _STATE_REVERTS else TransactionRejected
        return cls(f"the contract refused: {exc}")
    if isinstance(exc, KeyLoadError | NoSignerError | KeystoreError):
        return AccountError(str(exc))
    if isinstance(exc, DeploymentError):
        return DeploymentProblem(str(exc))
    if isinstance(exc, RpcUnavailableError):
        return ChainUnavailable(f"{exc} (is the chain node running? check --rpc-url)")
    if isinstance(exc, TransactionFailedError | ReceiptTimeoutError):
        return TransactionRejected(str(exc))
    if isinstance(exc, RpcError):
        return TransactionRejected(f"the chain node refused: {exc}")
    if isinstance(exc, ChainError):
        return TransactionRejected(str(exc))
    if isinstance(exc, NodeNotRunningError | DataDirError):
        return NodeUnavailable(str(exc))
    if isinstance(exc, ApiRequestError | UpdateRefused):
        return NodeRefused(f"the local node refused: {exc}")
    if isinstance(exc, NodeError):
        return NodeRefused(str(exc))
    if isinstance(exc, httpx.HTTPError):
        return NodeUnavailable(f"local node request failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, InvalidCid):
        return InvalidInput("CID", str(exc))
    if isinstance(exc, StorageError):
        return IntegrityError(str(exc))
    if isinstance(exc, UpdateRejected | ExportError):
        return IntegrityError(str(exc))
    if isinstance(exc, LearningError | SpecError):
        return InvalidInput("input", str(exc))
    return None
