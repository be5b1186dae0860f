"""`fl submit-update`: a manually trained update, checked like any update, handed to the local node.

The gradients file is safetensors: either a complete update (as a runner writes it, with its metadata) whose
metadata must agree with the flags, or plain tensors that are wrapped with the flags as metadata. Either way the
result is strictly decoded against the session's model before it leaves this machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import safetensors.torch
import torch
from safetensors import SafetensorError

from parity_p2p.chain import ChainClient, SessionStatus
from parity_p2p.client.errors import InvalidInput, WrongState
from parity_p2p.client.model_fetch import HEADER_ALLOWANCE, fetch_spec
from parity_p2p.client.session_view import session_view
from parity_p2p.learning.codec import (
    DecodeLimits,
    UpdateMeta,
    decode_update,
    encode_update,
    peek_update_meta,
    tensor_specs,
)
from parity_p2p.learning.errors import UpdateRejected
from parity_p2p.learning.models import build_model, model_state
from parity_p2p.node.api.client import NodeApiClient

GENESIS = "genesis"  # the base of round 1: the model every runner derives from the session seed


@dataclass(frozen=True)
class UpdateFlags:
    session_id: int
    round: int
    runner: str  # checksummed address
    data: bytes  # the gradients file
    data_size: int
    loss: float
    accuracy: float | None
    steps: int


@dataclass(frozen=True)
class SubmittedResult:
    session_id: int
    round: int
    runner: str
    cid: str
    detail: str


def check_metrics(loss: float, accuracy: float | None, data_size: int, steps: int) -> None:
    if not (math.isfinite(loss) and loss >= 0):
        raise InvalidInput("--loss", f"must be a finite number >= 0, got {loss}")
    if accuracy is not None and not (math.isfinite(accuracy) and 0 <= accuracy <= 1):
        raise InvalidInput("--accuracy", f"must be in [0, 1], got {accuracy}")
    if data_size < 1:
        raise InvalidInput("--data-size", f"must be >= 1, got {data_size}")
    if steps < 1:
        raise InvalidInput("--steps", f"must be >= 1, got {steps}")


async def base_model_cid(chain: ChainClient, session_id: int, round_number: int) -> str:
    if round_number == 1:
        return GENESIS
    return (await chain.sessions.get_round(session_id, round_number - 1)).model_cid


def _update_bytes(flags: UpdateFlags, base: str) -> bytes:
    """The file as an encoded update: kept as is if it already is one (its metadata must match the flags)."""
    try:
        meta = peek_update_meta(flags.data)
    except UpdateRejected:
        meta = None
    if meta is not None:
        given = (flags.session_id, flags.round, flags.runner.lower(), base, flags.data_size)
        found = (meta.session_id, meta.round, meta.runner, meta.base_model_cid, meta.data_size)
        if given != found:
            raise InvalidInput("--gradients-file", f"the file's metadata (session, round, runner, base model, data "
                               f"size) is {found}, the flags and chain say {given}")  # fmt: skip
        return flags.data
    try:
        tensors: dict[str, torch.Tensor] = safetensors.torch.load(flags.data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise InvalidInput("--gradients-file", f"not a safetensors file: {str(exc)[:200]}") from None
    meta = UpdateMeta(
        session_id=flags.session_id, round=flags.round, runner=flags.runner.lower(), base_model_cid=base,
        data_size=flags.data_size, steps=flags.steps, loss=flags.loss, accuracy=flags.accuracy,
    )  # fmt: skip
    try:
        return encode_update(tensors, meta)
    except UpdateRejected as exc:
        raise InvalidInput("--gradients-file", str(exc)) from None


async def submit_update(chain: ChainClient, node: NodeApiClient, flags: UpdateFlags) -> SubmittedResult:
    view = await session_view(chain, flags.session_id)
    if view.status is not SessionStatus.ACTIVE:
        raise WrongState(f"session {flags.session_id} is {view.status.name.lower()}: updates are taken only while "
                         "it is active")  # fmt: skip
    if flags.round != view.current_round:
        raise WrongState(f"session {flags.session_id} is in round {view.current_round}, not {flags.round}")
    if not await chain.sessions.is_participant(flags.session_id, flags.runner):
        raise WrongState(f"{flags.runner} is not a participant of session {flags.session_id}")
    spec = await fetch_spec(chain, node, flags.session_id)
    template = model_state(build_model(spec.model_config, seed=0))
    data = _update_bytes(flags, await base_model_cid(chain, flags.session_id, flags.round))
    raw = sum(t.numel() * t.element_size() for t in template.values())
    try:
        limits = DecodeLimits(max_total_bytes=raw + HEADER_ALLOWANCE)
        decode_update(data, expected=tensor_specs(template), limits=limits)
    except UpdateRejected as exc:
        raise InvalidInput("--gradients-file", f"does not fit session {flags.session_id}'s model: {exc}") from None
    submitted = await node.submit_update(flags.session_id, flags.round, data)
    return SubmittedResult(flags.session_id, flags.round, flags.runner, submitted.cid, submitted.detail)
