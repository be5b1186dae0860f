"""Round messages' payloads: what a node gossips parses back to itself; a bad field is a MessageError."""

from __future__ import annotations

import pytest

from parity_p2p.gossip.topics import KindRegistry
from parity_p2p.node.messages import ROUND_CLOSED_KIND, MessageError, RoundClosedMessage, register_session_kinds
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
