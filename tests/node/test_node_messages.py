"""Round messages' payloads: what a node gossips parses back to itself; a bad field is a MessageError; small
content rides inside its message when the envelope has room, checked against its CID."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from eth_account import Account

from parity_p2p.consensus.contribution import IncludedUpdate
from parity_p2p.gossip.envelope import MAX_ENVELOPE_BYTES, Envelope, SigningDomain, decode_envelope, sign_envelope
from parity_p2p.gossip.topics import KindRegistry, session_topic
from parity_p2p.node.messages import (
    INLINE_BODY_MAX_BYTES,
    MAX_INCLUDED,
    PROPOSAL_KIND,
    ROUND_CLOSED_KIND,
    UPDATE_KIND,
    MessageError,
    ProposalMessage,
    RoundClosedMessage,
    UpdateAnnouncement,
    carrying_envelope,
    register_session_kinds,
)
from parity_p2p.storage.importer import compute_cid

CID = compute_cid(b"model")


def test_a_round_closed_hint_round_trips_and_passes_its_schema() -> None:
    message = RoundClosedMessage(CID, bytes(range(32)), 17)
    payload = message.payload()
    ROUND_CLOSED_KIND.check_payload(payload)
    assert RoundClosedMessage.parse(payload) == message
    assert register_session_kinds(KindRegistry()).lookup(ROUND_CLOSED_KIND.kind, 1) == ROUND_CLOSED_KIND


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("model_cid", "not a cid", "model_cid"), ("tx_hash", "0x1234", "tx_hash"), ("tx_hash", "zz" * 32, "tx_hash"),
     ("block", -1, "block")],
)  # fmt: skip
def test_a_malformed_round_closed_hint_is_refused(field: str, value: object, message: str) -> None:
    payload = {**RoundClosedMessage(CID, bytes(32), 1).payload(), field: value}
    with pytest.raises(MessageError, match=message):
        RoundClosedMessage.parse(payload)


# ---- content riding along (version 2 of update and proposal) ------------------------------------------------------
ACCOUNT = Account.from_key("0x" + "11" * 32)
DOMAIN = SigningDomain(31337, "0x" + "22" * 20)
TOPIC = session_topic(7)
REGISTRY = register_session_kinds(KindRegistry())


def _signer(kind: str) -> Callable[[Mapping[str, Any], int], Envelope]:
    def sign(payload: Mapping[str, Any], version: int) -> Envelope:
        return sign_envelope(ACCOUNT, DOMAIN, kind=kind, topic=TOPIC, payload=payload, version=version, session_id=7)

    return sign


def _proposal(model: bytes, included: int) -> ProposalMessage:
    entries = tuple(
        IncludedUpdate("0x" + f"{i + 1:040x}", compute_cid(i.to_bytes(4, "big")), 30, True) for i in range(included)
    )
    return ProposalMessage(compute_cid(model), bytes(32), entries, 0.5, 0.9, bytes(65), model)


def test_a_small_update_rides_in_its_announcement_and_parses_back_checked_against_its_cid() -> None:
    body = bytes(range(256)) * 40  # ~10 kB: an Iris-size update
    message = UpdateAnnouncement(compute_cid(body), 40, 0.7, 0.02, body)
    envelope = carrying_envelope(message, _signer(UPDATE_KIND.kind))
    assert envelope.version == 2
    REGISTRY.lookup(UPDATE_KIND.kind, 2).check_payload(envelope.payload)
    decoded = decode_envelope(envelope.encode())
    assert UpdateAnnouncement.parse(decoded.payload) == message
    bare = UpdateAnnouncement.parse(message.bare().payload())
    assert (bare.body, bare.version) == (None, 1)
    UPDATE_KIND.check_payload(message.bare().payload())


def test_a_small_model_rides_in_its_proposal_unless_the_envelope_has_no_room_for_it() -> None:
    model = bytes(range(256)) * 60  # 15 kB, under INLINE_BODY_MAX_BYTES
    few = carrying_envelope(_proposal(model, 4), _signer(PROPOSAL_KIND.kind))
    assert few.version == 2 and ProposalMessage.parse(few.payload).model == model
    REGISTRY.lookup(PROPOSAL_KIND.kind, 2).check_payload(few.payload)
    # Beside the contract's 128 included updates the model would burst the envelope: it goes without, and decodes.
    many = carrying_envelope(_proposal(model, MAX_INCLUDED), _signer(PROPOSAL_KIND.kind))
    assert many.version == 1 and "model" not in many.payload
    assert len(many.encode()) <= MAX_ENVELOPE_BYTES
    assert ProposalMessage.parse(decode_envelope(many.encode()).payload).model is None


@pytest.mark.parametrize(
    ("body", "message"),
    [("not base64!", "not base64"), (base64.b64encode(b"other bytes").decode(), "does not hash"),
     (base64.b64encode(bytes(INLINE_BODY_MAX_BYTES + 1)).decode(), "larger than")],
)  # fmt: skip
def test_carried_content_that_is_not_what_its_cid_says_is_refused(body: str, message: str) -> None:
    payload = {**UpdateAnnouncement(CID, 1, 0.1, 0.0).payload(), "body": body}
    with pytest.raises(MessageError, match=message):
        UpdateAnnouncement.parse(payload)
    proposal = {**_proposal(b"model", 1).bare().payload(), "model": body}
    with pytest.raises(MessageError, match=message):
        ProposalMessage.parse(proposal)
