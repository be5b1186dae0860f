"""The node's session side: follows the chain, joins sessions that match its policy, runs one SessionRunner each.

It also serves the two stream protocols content and updates arrive by: blocks from the local content store, and
pushed updates dispatched to the runner of their session. A runner that fails (chain unreachable, spec missing) is
dropped and started again on a later poll, so a transient fault costs a round at most, not the session.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from parity_p2p.chain import ChainError, SessionStatus, SessionView
from parity_p2p.gossip.block_protocol import register_block_handler
from parity_p2p.gossip.errors import GossipError
from parity_p2p.gossip.update_protocol import UpdateOffer, Verdict, register_update_handler
from parity_p2p.learning.errors import LearningError
from parity_p2p.node.context import NodeContext
from parity_p2p.node.session_runner import ContentUnavailable, SessionRunner, SessionSetupError, read_local_dataset
from parity_p2p.node.work import PrivateDataMismatch, SessionWork
from parity_p2p.session_spec import SessionSpec, SpecError
from parity_p2p.storage.errors import (
    BlockHashMismatch,
    BlockNotFound,
    FetcherError,
    InvalidCid,
    IpfsRpcError,
    StorageError,
    StorageFull,
)
from parity_p2p.storage.multiformats import Cid

if TYPE_CHECKING:
    from trio_typing import TaskStatus

logger = logging.getLogger(__name__)

ENDED = {SessionStatus.COMPLETED, SessionStatus.CANCELLED, SessionStatus.ABANDONED}
NOT_FETCHED_YET = (BlockNotFound, FetcherError, IpfsRpcError, BlockHashMismatch, StorageFull)
"""Content that could not be had now (no peer holds it yet, a lying or slow peer, a full disk) but may be later."""


@dataclass(frozen=True)
class JoinPolicy:
    auto_join: bool = True
    max_concurrent_sessions: int = 2
    # `custom` models run code named by the session creator: a runner must opt in to it.
    accepted_model_types: tuple[str, ...] = ("neural_network", "linear_regression")
    min_reward_per_round: int = 0  # token base units a participant can expect per round (pool / rounds / max)
    spec_fetch_timeout_s: float = 10.0
    dataset_fetch_timeout_s: float = 60.0
    max_dataset_bytes: int = 1 << 30
    content_retry_interval_s: float = 5.0  # an open session whose spec or dataset could not be fetched is retried


@dataclass(frozen=True)
class Refusal:
    """Why this node does not join a session now. Policy refusals are final; content that could not be fetched
    yet (`retry`) is asked for again on later polls while the session is open."""

    reason: str
    retry: bool = False


@dataclass
class SessionService:
    ctx: NodeContext
    policy: JoinPolicy = field(default_factory=JoinPolicy)
    runners: dict[int, SessionRunner] = field(default_factory=dict)
    finished: dict[int, SessionRunner] = field(default_factory=dict)
    declined: dict[int, str] = field(default_factory=dict)
    deferred: dict[int, str] = field(default_factory=dict)  # open sessions whose content is retried on later polls
    _retry_at: dict[int, float] = field(default_factory=dict)
    _watch: set[int] = field(default_factory=set)
    _seen: int = 0

    async def serve(self, *, task_status: TaskStatus[SessionService] = trio.TASK_STATUS_IGNORED) -> None:
        host = self.ctx.network.host
        register_update_handler(host, self)
        register_block_handler(host, self._get_block)
        async with trio.open_nursery() as nursery:
            task_status.started(self)
            while True:
                try:
                    await self._poll(nursery)
                except ChainError as exc:
                    self.ctx.emit("chain.unreachable", {"reason": str(exc)})
                await trio.sleep(self.ctx.poll_interval_s * 2)

    def _get_block(self, cid_text: str) -> bytes | None:
        try:
            cid = Cid.parse(cid_text)
        except InvalidCid:
            return None
        try:
            return self.ctx.store.blockstore.get(cid) if self.ctx.store.blockstore.has(cid) else None
        except StorageError:
            return None

    # ---- following the chain ------------------------------------------------------------------------------------
    async def _poll(self, nursery: trio.Nursery) -> None:
        self.ctx.clock.observe(*await self.ctx.chain.latest_block())  # keeps the shared chain clock anchored
        sessions = self.ctx.chain.sessions
        count = await sessions.session_count()
        self._watch.update(range(self._seen + 1, count + 1))
        self._seen = count
        for session_id in sorted(self._watch):
            if session_id in self.runners:
                continue
            view = await sessions.get_session(session_id)
            if view.status is not SessionStatus.OPEN:
                self._forget_deferral(session_id)  # content is retried only while the session can be joined
            if view.status in ENDED:
                self._watch.discard(session_id)
                continue
            joined = await sessions.is_participant(session_id, self.ctx.address)
            if view.status is SessionStatus.OPEN and not joined and session_id not in self.declined:
                if trio.current_time() >= self._retry_at.get(session_id, -math.inf):
                    await self._maybe_join(view)
            elif view.status is SessionStatus.ACTIVE:
                if not joined:
                    self._watch.discard(session_id)  # started without us
                elif len(self.runners) < self.policy.max_concurrent_sessions:
                    runner = SessionRunner(self.ctx, session_id)
                    self.runners[session_id] = runner
                    nursery.start_soon(self._run, runner)

    async def _maybe_join(self, view: SessionView) -> None:
        sid = view.session_id
        refusal = await self._refusal(view)
        if refusal is not None and refusal.retry:
            # Not fetched *yet*: a peer holding it may connect later. Asked again while the session is open.
            self.deferred[sid] = refusal.reason
            self._retry_at[sid] = trio.current_time() + self.policy.content_retry_interval_s
            self.ctx.emit(
                "session.declined",
                {"session": sid, "reason": f"{refusal.reason}; will retry in {self.policy.content_retry_interval_s:g} s"
                 " while the session is open", "retry": True},
            )  # fmt: skip
            return
        self._forget_deferral(sid)
        if refusal is not None:
            self.declined[sid] = refusal.reason
            self.ctx.emit("session.declined", {"session": sid, "reason": refusal.reason, "retry": False})
            return
        await self.ctx.chain.sessions.join_session(sid)
        self.ctx.emit("session.join_sent", {"session": sid})

    def _forget_deferral(self, session_id: int) -> None:
        self.deferred.pop(session_id, None)
        self._retry_at.pop(session_id, None)

    async def _refusal(self, view: SessionView) -> Refusal | None:
        """Why this node will not join `view` now (None when it will)."""
        if not self.policy.auto_join:
            return Refusal("auto_join is off")
        if len(self.runners) >= self.policy.max_concurrent_sessions:
            return Refusal(f"already in {len(self.runners)} sessions (max_concurrent_sessions)")
        if view.participant_count >= view.params.max_participants:
            return Refusal("the session is full")
        p = view.params
        per_round = p.reward_pool // (p.total_rounds * p.max_participants)
        if per_round < self.policy.min_reward_per_round:
            return Refusal(f"reward {per_round} per runner per round is below policy.min_reward_per_round")
        stake = await self.ctx.chain.registry.stake_of(self.ctx.address)
        if stake < view.params.min_stake:
            return Refusal(f"stake {stake} is below the session minimum {view.params.min_stake}")
        try:
            with trio.fail_after(self.policy.spec_fetch_timeout_s):
                spec = SessionSpec.from_json(await self.ctx.store.aget(view.params.spec_cid, max_size=64 * 1024))
        except trio.TooSlowError:
            return Refusal(f"spec {view.params.spec_cid} not found on any connected peer", retry=True)
        except NOT_FETCHED_YET as exc:
            return Refusal(f"spec not fetched: {exc}", retry=True)
        except (StorageError, SpecError, LearningError) as exc:
            return Refusal(f"spec unusable: {exc}")
        if spec.spec_hash != view.params.spec_hash:
            return Refusal("the spec fetched by CID does not match the on-chain hash")
        if spec.model_config.model_type not in self.policy.accepted_model_types:
            return Refusal(f"model type {spec.model_config.model_type!r} is not accepted by this node's policy")
        if spec.private_data is not None:
            return await self._private_data_refusal(view, spec)
        try:
            # Fetch the dataset now: this node then holds and serves it, so the session does not depend on the
            # creator's node staying up once it starts.
            with trio.fail_after(self.policy.dataset_fetch_timeout_s):
                await self.ctx.store.aget(view.params.dataset_cid, max_size=self.policy.max_dataset_bytes)
        except trio.TooSlowError:
            return Refusal(f"dataset {view.params.dataset_cid} not found on any connected peer", retry=True)
        except NOT_FETCHED_YET as exc:
            return Refusal(f"dataset not fetched: {exc}", retry=True)
        except StorageError as exc:
            return Refusal(f"dataset unusable: {exc}")
        return None

    async def _private_data_refusal(self, view: SessionView, spec: SessionSpec) -> Refusal | None:
        """Join a private-data session only with a local CSV that fits its schema (checked now, not at start)."""
        try:
            local = await trio.to_thread.run_sync(read_local_dataset, self.ctx.local_datasets, spec)
            await trio.to_thread.run_sync(
                SessionWork.prepare_private, view.session_id, spec, local, view.seed or bytes(32), [self.ctx.address],
                self.ctx.address,
            )  # fmt: skip
        except (PrivateDataMismatch, LearningError) as exc:
            return Refusal(f"private data: {exc}")
        return None

    async def _run(self, runner: SessionRunner) -> None:
        # `except*`: the runner raises from inside its nurseries, and strict exception groups wrap even an error
        # raised in a nursery's own body; a plain `except` would let every one escape and end `serve`.
        try:
            await runner.run()
            self.finished[runner.session_id] = runner
            self._watch.discard(runner.session_id)
        except* SessionSetupError as group:
            reason = str(_first_leaf(group))
            self.declined[runner.session_id] = reason
            self._watch.discard(runner.session_id)
            self.ctx.emit("session.failed", {"session": runner.session_id, "reason": reason})
        except* (ChainError, GossipError, StorageError, ContentUnavailable) as group:
            # Transient: forget the runner; the next poll starts a fresh one that resumes at the chain's round.
            self.ctx.emit("session.interrupted", {"session": runner.session_id, "reason": str(_first_leaf(group))})
        finally:
            self.runners.pop(runner.session_id, None)

    # ---- UpdateSink: pushed updates go to their session's runner -------------------------------------------------
    async def admit(self, offer: UpdateOffer, peer_id: str) -> Verdict:
        runner = self.runners.get(offer.session_id)
        if runner is None:
            return Verdict.reject(f"this node is not running session {offer.session_id}")
        return await runner.admit(offer, peer_id)

    async def store(self, offer: UpdateOffer, data: bytes, peer_id: str) -> Verdict:
        runner = self.runners.get(offer.session_id)
        if runner is None:
            return Verdict.reject(f"this node is not running session {offer.session_id}")
        return await runner.store(offer, data, peer_id)

    async def release(self, offer: UpdateOffer, peer_id: str) -> None:
        runner = self.runners.get(offer.session_id)
        if runner is not None:
            runner.release(offer, peer_id)


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception in a (possibly nested) group: the one whose message explains the failure."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
