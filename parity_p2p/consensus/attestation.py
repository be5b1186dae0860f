"""EIP-712 round attestations and round proposals: build, sign with a LocalAccount, recover the signer.

Domain: name "ParityP2P", version "1", chainId, verifyingContract = the SessionManager. Both structs carry
(uint256 sessionId, uint32 round, string modelCid, bytes32 updatesRoot). A participant signs a
`RoundAttestation` for a proposal it re-computed; a leader signs a `RoundProposal` (two different ones for one
round are slashable). Pure: no chain connection needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from parity_p2p.eth_signing import SignatureError, domain_separator, recover_address, sign_digest, typed_digest, word

DOMAIN_NAME = "ParityP2P"
DOMAIN_VERSION = "1"


class AttestationInputError(ValueError):
    """A statement, domain or signature that cannot be encoded or checked (wrong sizes, bad address)."""


class StatementKind(Enum):
    """The two EIP-712 struct types; the value is the primary type name."""

    ATTESTATION = "RoundAttestation"
    PROPOSAL = "RoundProposal"


@dataclass(frozen=True)
class SigningDomain:
    """The SessionManager's EIP-712 domain on one chain."""

    chain_id: int
    verifying_contract: str

    def __post_init__(self) -> None:
        if self.chain_id <= 0:
            raise AttestationInputError(f"chain id must be positive, got {self.chain_id}")
        if not is_address(self.verifying_contract):
            raise AttestationInputError(f"not an address: {self.verifying_contract!r}")


@dataclass(frozen=True)
class RoundStatement:
    """What is signed: this session's round `round` produced `model_cid` from the updates under `updates_root`."""

    session_id: int
    round: int
    model_cid: str
    updates_root: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.session_id < 2**256:
            raise AttestationInputError(f"session id must fit uint256, got {self.session_id}")
        if not 0 <= self.round < 2**32:
            raise AttestationInputError(f"round must fit uint32, got {self.round}")
        if len(self.updates_root) != 32:
            raise AttestationInputError(f"updates root must be 32 bytes, got {len(self.updates_root)}")


_STATEMENT_FIELDS = [
    {"name": "sessionId", "type": "uint256"},
    {"name": "round", "type": "uint32"},
    {"name": "modelCid", "type": "string"},
    {"name": "updatesRoot", "type": "bytes32"},
]


def typed_data(kind: StatementKind, domain: SigningDomain, statement: RoundStatement) -> dict[str, Any]:
    """The full EIP-712 typed-data message (the shape wallets and `eth_signTypedData_v4` take)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            kind.value: _STATEMENT_FIELDS,
        },
        "primaryType": kind.value,
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": domain.chain_id,
            "verifyingContract": to_checksum_address(domain.verifying_contract),
        },
        "message": {
            "sessionId": statement.session_id,
            "round": statement.round,
            "modelCid": statement.model_cid,
            "updatesRoot": statement.updates_root,
        },
    }


_TYPE_HASHES = {
    kind: keccak(text=f"{kind.value}(uint256 sessionId,uint32 round,string modelCid,bytes32 updatesRoot)")
    for kind in StatementKind
}


def digest(kind: StatementKind, domain: SigningDomain, statement: RoundStatement) -> bytes:
    """The 32-byte EIP-712 digest (what the contract's `attestationDigest` / `proposalDigest` return); the struct
    hash is built by hand (eth_signing.py says why), `typed_data` gives the same message for wallets."""
    struct_hash = keccak(
        _TYPE_HASHES[kind]
        + word(statement.session_id)
        + word(statement.round)
        + keccak(text=statement.model_cid)
        + statement.updates_root
    )
    separator = domain_separator(DOMAIN_NAME, DOMAIN_VERSION, domain.chain_id, domain.verifying_contract)
    return typed_digest(separator, struct_hash)


def sign(kind: StatementKind, account: LocalAccount, domain: SigningDomain, statement: RoundStatement) -> bytes:
    """A 65-byte r||s||v signature (v = 27/28, low s) over the statement."""
    return sign_digest(account, digest(kind, domain, statement))


def recover(kind: StatementKind, domain: SigningDomain, statement: RoundStatement, signature: bytes) -> str:
    """Checksummed address that produced `signature` over the statement."""
    if len(signature) != 65:
        raise AttestationInputError(f"a signature is 65 bytes (r||s||v), got {len(signature)}")
    try:
        return recover_address(digest(kind, domain, statement), signature)
    except SignatureError as exc:  # v, r or s out of range, or s not canonical
        raise AttestationInputError(f"signature does not recover: {exc}") from None


def attestation_digest(domain: SigningDomain, statement: RoundStatement) -> bytes:
    return digest(StatementKind.ATTESTATION, domain, statement)


def proposal_digest(domain: SigningDomain, statement: RoundStatement) -> bytes:
    return digest(StatementKind.PROPOSAL, domain, statement)


def sign_attestation(account: LocalAccount, domain: SigningDomain, statement: RoundStatement) -> bytes:
    return sign(StatementKind.ATTESTATION, account, domain, statement)


def sign_proposal(account: LocalAccount, domain: SigningDomain, statement: RoundStatement) -> bytes:
    return sign(StatementKind.PROPOSAL, account, domain, statement)


def recover_attestation_signer(domain: SigningDomain, statement: RoundStatement, signature: bytes) -> str:
    return recover(StatementKind.ATTESTATION, domain, statement, signature)


def recover_proposal_signer(domain: SigningDomain, statement: RoundStatement, signature: bytes) -> str:
    return recover(StatementKind.PROPOSAL, domain, statement, signature)
