"""Revert data -> ContractRevert: custom errors of every contract, Error(string) and Panic(uint256)."""

from __future__ import annotations

import functools

from parity_p2p.chain.abi import CONTRACT_NAMES, ErrorAbi, decode_values, error_selector, load_contract
from parity_p2p.chain.errors import AbiNotFoundError, ChainError, ContractRevert
from parity_p2p.chain.types import SessionStatus

_ERROR_STRING = ErrorAbi("Error", ("reason",), ({"name": "reason", "type": "string"},))
_PANIC = ErrorAbi("Panic", ("code",), ({"name": "code", "type": "uint256"},))

# What a user can do about the errors they will meet most; the rest show their decoded arguments only.
_HINTS: dict[str, str] = {
    "NotLeader": "only the current eligible leader may post this round (ask eligibleLeader, or wait for failover)",
    "WrongRound": "the session is at another round: re-read getSession and post the current round",
    "NotEnoughAttestations": "collect attestations from at least quorum(sessionId) participants",
    "UnsortedAttestations": "attestations must be ordered by signer address, ascending, without repeats",
    "UnsortedContributions": "contributions must be ordered by runner address, ascending, without repeats",
    "NotParticipant": "that account did not join this session",
    "RoundExpired": "every participant had its turn: only abandonSession is left",
    "StakeTooLow": "add stake in the RunnerRegistry (addStake) before joining",
    "RunnerNotRegistered": "register in the RunnerRegistry first",
    "StakeBelowMinimum": "register with at least the registry's minStake",
    "NotEnoughParticipants": "wait for more runners to join before starting",
    "SessionFull": "the session reached maxParticipants",
    "NotCreator": "only the session's creator may do this",
    "AbandonTooEarly": "wait until the session is abandonable",
    "StakeLocked": "the unstake cooldown has not passed yet",
    "NothingToClaim": "nothing is owed to this account",
    "FaucetDisabled": "the mock token's faucet only works on devnets (chain id 31337 or 1337)",
    "ERC20InsufficientAllowance": "approve the contract to spend your tokens first",
    "ERC20InsufficientBalance": "the account does not hold enough tokens",
    "AlreadyRegistered": "this account is already a runner",
    "AlreadyJoined": "this runner already joined the session",
    "AlreadySlashed": "this equivocation was already reported",
}

PANIC_REASONS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x32: "array index out of bounds",
    0x41: "out of memory",
}


@functools.cache
def _known_errors() -> dict[bytes, ErrorAbi]:
    known = {error_selector(e): e for e in (_ERROR_STRING, _PANIC)}
    for name in CONTRACT_NAMES:
        try:
            contract = load_contract(name)
        except AbiNotFoundError:
            continue
        for error in contract.errors():
            known[error_selector(error)] = error
    return known


def decode_revert(data: bytes) -> ContractRevert:
    """Decode revert return data. Unknown selectors become `UnknownError(0x<selector>, 0x<rest>)`."""
    if len(data) < 4:
        return ContractRevert("EmptyRevert", (), hint="reverted without data (require without message, or out of gas)")
    error = _known_errors().get(data[:4])
    if error is None:
        return ContractRevert(
            "UnknownError", (data[:4], data[4:]), arg_names=("selector", "data"), hint="not in any exported ABI",
            raw=data,
        )
    try:
        args = decode_values(error.inputs, data[4:])
    except ChainError:
        return ContractRevert("MalformedError", (error.name, data), hint="revert data does not match the ABI", raw=data)
    # Enum arguments come as integers: name them (SessionStatus.CANCELLED compares equal to 4).
    args = tuple(
        SessionStatus(value) if param.get("internalType") == "enum SessionStatus" else value
        for param, value in zip(error.inputs, args, strict=True)
    )
    hint = _HINTS.get(error.name, "")
    if error is _PANIC:
        hint = PANIC_REASONS.get(int(args[0]), "panic")
    return ContractRevert(error.name, args, arg_names=error.arg_names, hint=hint, raw=data)

