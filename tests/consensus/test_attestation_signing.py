"""EIP-712 attestations/proposals: digest from first principles, sign and recover, tampering detected."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from parity_p2p.consensus.attestation import (
    AttestationInputError,
    RoundStatement,
    SigningDomain,
    attestation_digest,
    proposal_digest,
    recover_attestation_signer,
    recover_proposal_signer,
    sign_attestation,
    sign_proposal,
)

DOMAIN = SigningDomain(31337, "0x" + "ab" * 20)
STATEMENT = RoundStatement(3, 2, "bafkreimodel", keccak(b"root"))
ACCOUNT = Account.from_key(keccak(b"runner key"))


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def manual_digest(primary: str) -> bytes:
    domain_type = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    separator = keccak(
        domain_type + keccak(b"ParityP2P") + keccak(b"1") + word(31337) + word(int(DOMAIN.verifying_contract, 16))
    )
    struct_type = keccak(f"{primary}(uint256 sessionId,uint32 round,string modelCid,bytes32 updatesRoot)".encode())
    struct_hash = keccak(struct_type + word(3) + word(2) + keccak(b"bafkreimodel") + STATEMENT.updates_root)
    return keccak(b"\x19\x01" + separator + struct_hash)


def test_digests_follow_eip712() -> None:
    assert attestation_digest(DOMAIN, STATEMENT) == manual_digest("RoundAttestation")
    assert proposal_digest(DOMAIN, STATEMENT) == manual_digest("RoundProposal")


def test_sign_and_recover() -> None:
    signature = sign_attestation(ACCOUNT, DOMAIN, STATEMENT)
    assert len(signature) == 65
    assert recover_attestation_signer(DOMAIN, STATEMENT, signature) == ACCOUNT.address
    proposal = sign_proposal(ACCOUNT, DOMAIN, STATEMENT)
    assert recover_proposal_signer(DOMAIN, STATEMENT, proposal) == ACCOUNT.address


def test_a_signature_does_not_transfer_to_another_statement_kind_or_domain() -> None:
    signature = sign_attestation(ACCOUNT, DOMAIN, STATEMENT)
    other = RoundStatement(3, 2, "bafkreiother", STATEMENT.updates_root)
    assert recover_attestation_signer(DOMAIN, other, signature) != ACCOUNT.address
    assert recover_proposal_signer(DOMAIN, STATEMENT, signature) != ACCOUNT.address
    assert recover_attestation_signer(SigningDomain(1, DOMAIN.verifying_contract), STATEMENT, signature) != (
        ACCOUNT.address
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: RoundStatement(1, 2**32, "cid", b"\x00" * 32),
        lambda: RoundStatement(1, 1, "cid", b"\x00" * 31),
        lambda: SigningDomain(0, "0x" + "ab" * 20),
        lambda: SigningDomain(1, "0xnotanaddress"),
    ],
)
def test_bad_statement_or_domain(build: object) -> None:
    with pytest.raises(AttestationInputError):
        build()  # type: ignore[operator]


def test_bad_signature_length() -> None:
    with pytest.raises(AttestationInputError, match="65 bytes"):
        recover_attestation_signer(DOMAIN, STATEMENT, b"\x01" * 64)
