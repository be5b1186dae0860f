"""EIP-712 attestations/proposals: digest from first principles, sign and recover, tampering detected."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from parity_p2p.consensus.attestation import (
    AttestationInputError,
    RoundStatement,
    SigningDomain,
    StatementKind,
    attestation_digest,
    proposal_digest,
    recover_attestation_signer,
    recover_proposal_signer,
    sign_attestation,
    sign_proposal,
    typed_data,
)

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

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


def test_signatures_are_the_bytes_eth_account_makes_for_the_wallet_typed_data() -> None:
    # The digest and signature are built by hand (eth_signing.py); a wallet signing typed_data() must agree.
    for kind, sign in [(StatementKind.ATTESTATION, sign_attestation), (StatementKind.PROPOSAL, sign_proposal)]:
        reference = Account.sign_message(
            encode_typed_data(full_message=typed_data(kind, DOMAIN, STATEMENT)), ACCOUNT.key
        ).signature
        assert sign(ACCOUNT, DOMAIN, STATEMENT) == bytes(reference)


def test_a_mirrored_high_s_signature_is_refused_as_the_contract_refuses_it() -> None:
    # (r, n - s, v ^ 1) recovers the same signer, but OpenZeppelin's ECDSA reverts on it: a leader that took it
    # would see its submitRound revert, so a runner could stall a round with its own mirrored attestation.
    signature = sign_attestation(ACCOUNT, DOMAIN, STATEMENT)
    s = int.from_bytes(signature[32:64], "big")
    mirrored = signature[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    with pytest.raises(AttestationInputError, match="upper half"):
        recover_attestation_signer(DOMAIN, STATEMENT, mirrored)


def test_v_as_0_or_1_recovers_like_27_or_28_and_any_other_v_is_refused() -> None:
    signature = sign_attestation(ACCOUNT, DOMAIN, STATEMENT)
    assert recover_attestation_signer(DOMAIN, STATEMENT, signature[:64] + bytes([signature[64] - 27])) == (
        ACCOUNT.address
    )
    with pytest.raises(AttestationInputError, match="v is 29"):
        recover_attestation_signer(DOMAIN, STATEMENT, signature[:64] + bytes([29]))
