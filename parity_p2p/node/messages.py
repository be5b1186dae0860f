"""The round messages a node gossips on a session topic, with their schemas and typed forms.

The envelope (gossip/envelope.py) already carries and signs sender, session and round; these payloads add what
each step needs. Proposals carry the leader's EIP-712 RoundProposal signature as well, because only that signature
can be checked on-chain as equivocation evidence.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from parity_p2p.consensus.contribution import IncludedUpdate
from parity_p2p.gossip.envelope import Envelope
from parity_p2p.gossip.errors import GossipError
from parity_p2p.gossip.topics import FieldType, KindRegistry, KindSpec, Scope
from parity_p2p.storage.errors import InvalidCid
from parity_p2p.storage.importer import compute_cid
from parity_p2p.storage.multiformats import Cid

MAX_INCLUDED = 128  # the contract's MAX_PARTICIPANTS

UPDATE_KIND = KindSpec(
    "update",
    1,
    Scope.SESSION,
    {
        "update_cid": FieldType.STR,
        "data_size": FieldType.INT,
        "loss": FieldType.NUMBER,
        "train_seconds": FieldType.NUMBER,
    },
)
PROPOSAL_KIND = KindSpec(
    "proposal",
    1,
    Scope.SESSION,
    {
        "model_cid": FieldType.STR,
        "updates_root": FieldType.STR,
        "included": FieldType.LIST,
        "loss": FieldType.NUMBER,
        "accuracy": FieldType.NUMBER,
        "signature": FieldType.STR,
    },
)
ATTESTATION_KIND = KindSpec(
    "attestation",
    1,
    Scope.SESSION,
    {"leader": FieldType.STR, "model_cid": FieldType.STR, "updates_root": FieldType.STR, "signature": FieldType.STR},
)
# The leader's word that its submitRound was mined: a hint that makes the others read the chain now instead of
# polling it fast all round. The chain stays the only truth: a hint only triggers a read.
ROUND_CLOSED_KIND = KindSpec(
    "round_closed", 1, Scope.SESSION, {"model_cid": FieldType.STR, "tx_hash": FieldType.STR, "block": FieldType.INT}
)
# Secure aggregation (docs/secagg.md): payloads are parity_p2p.secagg.messages wire forms; the masked vector itself
# rides the update stream protocol and is announced with UPDATE_KIND like a plain update.
SECAGG_KEYS_KIND = KindSpec(
    "secagg_keys", 1, Scope.SESSION, {"channel": FieldType.STR, "mask": FieldType.STR, "seed": FieldType.STR}
)
SECAGG_SHARES_KIND = KindSpec("secagg_shares", 1, Scope.SESSION, {"shares": FieldType.LIST})
SECAGG_SURVIVORS_KIND = KindSpec(
    "secagg_survivors", 1, Scope.SESSION, {"survivors": FieldType.STR_LIST, "dropped": FieldType.STR_LIST}
)
SECAGG_REVEAL_KIND = KindSpec(
    "secagg_reveal",
    1,
    Scope.SESSION,
    {"survivors": FieldType.STR_LIST, "dropped": FieldType.STR_LIST, "shares": FieldType.LIST},
)
SECAGG_KINDS = (SECAGG_KEYS_KIND, SECAGG_SHARES_KIND, SECAGG_SURVIVORS_KIND, SECAGG_REVEAL_KIND)

# Small content rides inside the message that announces it (version 2 of update and proposal): an Iris-size update
# or model (~11 kB) then reaches every runner with the gossip that announces it, where each follower used to open a
# stream per update and one for the model (49 + 7 fetches a round at 8 runners). Base64 makes 16 KiB 21.8 kB, so
# with the rest of the payload an envelope stays under MAX_ENVELOPE_BYTES (32 KiB); a sender whose envelope would
# not fit sends version 1 and the content is fetched by CID as before.
INLINE_BODY_MAX_BYTES = 16 * 1024
UPDATE_WITH_BODY_KIND = KindSpec("update", 2, Scope.SESSION, {**UPDATE_KIND.fields, "body": FieldType.STR})
PROPOSAL_WITH_MODEL_KIND = KindSpec("proposal", 2, Scope.SESSION, {**PROPOSAL_KIND.fields, "model": FieldType.STR})

SESSION_KINDS = (
    UPDATE_KIND, UPDATE_WITH_BODY_KIND, PROPOSAL_KIND, PROPOSAL_WITH_MODEL_KIND, ATTESTATION_KIND, ROUND_CLOSED_KIND,
    *SECAGG_KINDS,
)  # fmt: skip


class MessageError(ValueError):
    """A payload that passed the schema but not the meaning checks (bad CID, address, hex)."""


def register_session_kinds(registry: KindRegistry) -> KindRegistry:
    for spec in SESSION_KINDS:
        registry.register(spec)
    return registry


def _hex(text: str, length: int, name: str) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise MessageError(f"{name} is not hex") from None
    if len(raw) != length:
        raise MessageError(f"{name} has {len(raw)} bytes, expected {length}")
    return raw


def _cid(text: str, name: str) -> str:
    try:
        Cid.parse(text)
    except InvalidCid as exc:
        raise MessageError(f"{name}: {exc}") from None
    return text


def _carried(p: Mapping[str, Any], name: str, cid: str) -> bytes | None:
    """The content a version-2 message carries in field `name`, checked against the CID it must hash to."""
    text = p.get(name)
    if text is None:
        return None
    if len(text) > (INLINE_BODY_MAX_BYTES + 2) // 3 * 4:
        raise MessageError(f"{name} is larger than {INLINE_BODY_MAX_BYTES} bytes")
    try:
        body = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MessageError(f"{name} is not base64") from None
    if len(body) > INLINE_BODY_MAX_BYTES:
        raise MessageError(f"{name} is larger than {INLINE_BODY_MAX_BYTES} bytes")
    if compute_cid(body) != cid:
        raise MessageError(f"{name} does not hash to {cid}")
    return body


def _b64(body: bytes) -> str:
    return base64.b64encode(body).decode("ascii")


def _address(text: object, name: str) -> str:
    if not isinstance(text, str) or not is_address(text):
        raise MessageError(f"{name} is not an address")
    return to_checksum_address(text)


@dataclass(frozen=True)
class UpdateAnnouncement:
    update_cid: str
    data_size: int
    loss: float
    train_seconds: float
    body: bytes | None = None  # the update itself, when small enough to ride along (version 2)

    @property
    def version(self) -> int:
        return 1 if self.body is None else 2

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "update_cid": self.update_cid,
            "data_size": self.data_size,
            "loss": self.loss,
            "train_seconds": self.train_seconds,
        }
        if self.body is not None:
            payload["body"] = _b64(self.body)
        return payload

    def bare(self) -> UpdateAnnouncement:
        return replace(self, body=None)

    @classmethod
    def parse(cls, p: Mapping[str, Any]) -> UpdateAnnouncement:
        if p["data_size"] <= 0 or p["train_seconds"] < 0:
            raise MessageError("data_size must be > 0 and train_seconds >= 0")
        cid = _cid(p["update_cid"], "update_cid")
        return cls(cid, p["data_size"], float(p["loss"]), float(p["train_seconds"]), _carried(p, "body", cid))


@dataclass(frozen=True)
class ProposalMessage:
    model_cid: str
    updates_root: bytes
    included: tuple[IncludedUpdate, ...]
    loss: float
    accuracy: float
    signature: bytes
    model: bytes | None = None  # the model itself, when small enough to ride along (version 2)

    @property
    def version(self) -> int:
        return 1 if self.model is None else 2

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model_cid": self.model_cid,
            "updates_root": "0x" + self.updates_root.hex(),
            "included": [[u.runner, u.update_cid, u.data_size, u.used_by_strategy] for u in self.included],
            "loss": self.loss,
            "accuracy": self.accuracy,
            "signature": "0x" + self.signature.hex(),
        }
        if self.model is not None:
            payload["model"] = _b64(self.model)
        return payload

    def bare(self) -> ProposalMessage:
        return replace(self, model=None)

    @classmethod
    def parse(cls, p: Mapping[str, Any]) -> ProposalMessage:
        raw = p["included"]
        if not 0 < len(raw) <= MAX_INCLUDED:
            raise MessageError(f"included must list 1..{MAX_INCLUDED} updates")
        included = []
        for item in raw:
            if not (isinstance(item, list) and len(item) == 4 and type(item[2]) is int and type(item[3]) is bool):
                raise MessageError("each included entry is [runner, update_cid, data_size, used]")
            runner, cid, size, used = item
            if size < 0:
                raise MessageError("data_size must be >= 0")
            included.append(IncludedUpdate(_address(runner, "runner"), _cid(cid, "update_cid"), size, used))
        model_cid = _cid(p["model_cid"], "model_cid")
        return cls(
            model_cid,
            _hex(p["updates_root"], 32, "updates_root"),
            tuple(included),
            float(p["loss"]),
            float(p["accuracy"]),
            _hex(p["signature"], 65, "signature"),
            _carried(p, "model", model_cid),
        )


@dataclass(frozen=True)
class AttestationMessage:
    leader: str
    model_cid: str
    updates_root: bytes
    signature: bytes

    def payload(self) -> dict[str, Any]:
        return {
            "leader": self.leader,
            "model_cid": self.model_cid,
            "updates_root": "0x" + self.updates_root.hex(),
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def parse(cls, p: Mapping[str, Any]) -> AttestationMessage:
        return cls(
            _address(p["leader"], "leader"),
            _cid(p["model_cid"], "model_cid"),
            _hex(p["updates_root"], 32, "updates_root"),
            _hex(p["signature"], 65, "signature"),
        )


@dataclass(frozen=True)
class RoundClosedMessage:
    model_cid: str
    tx_hash: bytes
    block: int

    def payload(self) -> dict[str, Any]:
        return {"model_cid": self.model_cid, "tx_hash": "0x" + self.tx_hash.hex(), "block": self.block}

    @classmethod
    def parse(cls, p: Mapping[str, Any]) -> RoundClosedMessage:
        if p["block"] < 0:
            raise MessageError("block must be >= 0")
        return cls(_cid(p["model_cid"], "model_cid"), _hex(p["tx_hash"], 32, "tx_hash"), p["block"])


def carrying_envelope(
    message: UpdateAnnouncement | ProposalMessage, sign: Callable[[Mapping[str, Any], int], Envelope]
) -> Envelope:
    """`message` signed (sign(payload, version)) with its content riding along when the envelope has room for it,
    else without: the content is then fetched by CID (e.g. a model beside 128 included updates)."""
    if message.version == 2:
        # Signing encodes it: too large is a GossipError. If the trouble is not the size, signing bare says so.
        with contextlib.suppress(GossipError):
            return sign(message.payload(), 2)
    return sign(message.bare().payload(), 1)
