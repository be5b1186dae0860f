"""`fl get-model`: the session's model fetched by CID through the local node, verified, decoded strictly and
exported. Nothing here trusts the node: the spec must hash to the on-chain specHash, the model bytes must have
the CID the chain names, and the tensors must match the spec's model config exactly."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from eth_utils.crypto import keccak

from parity_p2p.chain import ChainClient, SessionStatus
from parity_p2p.client.errors import IntegrityError, InvalidInput, WrongState
from parity_p2p.client.session_view import METRIC_SCALE, session_view
from parity_p2p.learning.codec import DecodeLimits, decode_model
from parity_p2p.learning.errors import LearningError, UpdateRejected
from parity_p2p.learning.export import export_model_json, export_model_safetensors
from parity_p2p.learning.models import build_model, model_state
from parity_p2p.learning.server_state import model_file_bytes, model_file_specs, unpack
from parity_p2p.node.api.client import NodeApiClient
from parity_p2p.session_spec import SessionSpec, SpecError
from parity_p2p.storage.importer import compute_cid

HEADER_ALLOWANCE = 64 * 1024  # safetensors header + metadata on top of the raw tensor bytes
EXPORT_SUFFIXES = (".json", ".safetensors")


@dataclass(frozen=True)
class FetchedModel:
    session_id: int
    round: int
    model_cid: str
    path: str
    format: str
    loss: float
    accuracy: float
    parameters: int


async def fetch_verified(node: NodeApiClient, cid: str, what: str) -> bytes:
    data = await node.get_content(cid)
    actual = compute_cid(data)
    if actual != cid:
        raise IntegrityError(f"the node returned bytes with CID {actual} for the {what} {cid}")
    return data


async def fetch_spec(chain: ChainClient, node: NodeApiClient, session_id: int) -> SessionSpec:
    """The session's spec by CID, checked against the on-chain specHash."""
    view = await session_view(chain, session_id)
    data = await fetch_verified(node, view.params.spec_cid, "session spec")
    if keccak(data) != view.params.spec_hash:
        raise IntegrityError(f"the spec {view.params.spec_cid} does not hash to session {session_id}'s specHash")
    try:
        return SessionSpec.from_json(data)
    except (SpecError, LearningError) as exc:
        raise IntegrityError(f"session {session_id}'s spec is unusable: {exc}") from None


def export_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InvalidInput("--output", f"{path} must end in .json or .safetensors (the export format)")
    return suffix.removeprefix(".")


async def get_model(
    chain: ChainClient, node: NodeApiClient, session_id: int, out: Path, round_number: int | None
) -> FetchedModel:
    fmt = export_format(out)
    view = await session_view(chain, session_id)
    if round_number is None:
        if view.status is not SessionStatus.COMPLETED:
            raise WrongState(
                f"session {session_id} is {view.status.name.lower()}: it has no final model yet; pass --round R for "
                "a finalized round's model"
            )
        round_number = view.params.total_rounds
    record = await chain.sessions.get_round(session_id, round_number)
    if not record.finalized:
        raise WrongState(f"round {round_number} of session {session_id} is not finalized: no model on-chain")
    spec = await fetch_spec(chain, node, session_id)
    config = spec.model_config
    template = model_state(build_model(config, seed=0))
    data = await fetch_verified(node, record.model_cid, "model")
    strategy = spec.build_strategy()  # its server state (FedAdam's moments) shares the file; only the model is kept
    raw = model_file_bytes(template, strategy)
    try:
        stored, _ = decode_model(
            data,
            expected=model_file_specs(template, strategy),
            limits=DecodeLimits(max_total_bytes=raw + HEADER_ALLOWANCE),
        )
    except UpdateRejected as exc:
        raise IntegrityError(f"model {record.model_cid} refused: {exc}") from None
    tensors, _ = unpack(stored)
    metrics = {"loss": record.loss / METRIC_SCALE, "accuracy": record.accuracy / METRIC_SCALE}
    exporter = export_model_json if fmt == "json" else export_model_safetensors
    _write_atomic(out, exporter(tensors, config, metrics))
    parameters = sum(t.numel() for t in tensors.values())
    return FetchedModel(session_id, round_number, record.model_cid, str(out), fmt, metrics["loss"],
                        metrics["accuracy"], parameters)  # fmt: skip


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidInput("--output", f"cannot write {path}: {exc.strerror or exc}") from None
