"""One session on one node: the round state machine, with `consensus/` deciding and this module carrying it out.

Per round (docs/protocol.md has the diagram):
  everyone: fetch the global model by CID -> train -> store the update -> gossip an announcement (carrying the
            update when it is small) -> push the bytes to the round's leader over /parity/update/1.0.0;
  leader:   collect (pushed, or fetched by CID from announcements) until all arrived, or the adaptive deadline with
            the quorum (later while its own training runs) -> validate -> aggregate -> store -> gossip a signed
            proposal (carrying a small model) -> gather attestations -> submitRound -> gossip round_closed;
  others:   check the proposal (leader, order, inclusion, sizes), take the included updates from announcements or
            fetch them by CID, recompute the aggregate, and send an attestation to the leader only if it matches.
A silent leader is replaced by the next one in the election order once the chain's round timeout passes; every
signed proposal is kept, and two different ones from one leader for one round are reported on-chain.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import trio
from eth_utils.address import to_checksum_address

from parity_p2p.chain import ChainError, Contribution, RoundResult, SessionStatus, SessionView
from parity_p2p.chain.types import Proposal, RoundRecord
from parity_p2p.consensus.attestation import (
    AttestationInputError,
    RoundStatement,
    SigningDomain,
    recover_attestation_signer,
    recover_proposal_signer,
    sign_attestation,
    sign_proposal,
)
from parity_p2p.consensus.contribution import IncludedUpdate
from parity_p2p.consensus.election import leader_at
from parity_p2p.consensus.equivocation import Evidence, ProposalBook, SignedProposal
from parity_p2p.consensus.merkle import update_digest, updates_root
from parity_p2p.consensus.proposal import (
    RoundProposal,
    decide_attestation,
    light_model_problems,
    models_match,
    usage_problems,
)
from parity_p2p.consensus.timing import Collect, PollBackoff, collect_decision, round_window
from parity_p2p.gossip.block_protocol import fetch_blocks
from parity_p2p.gossip.envelope import Envelope
from parity_p2p.gossip.errors import GossipError, UpdateRejected
from parity_p2p.gossip.pubsub import GossipMessage
from parity_p2p.gossip.topics import session_topic
from parity_p2p.gossip.update_protocol import UpdateOffer, Verdict, push_update
from parity_p2p.learning.errors import LearningError
from parity_p2p.learning.server_state import pack
from parity_p2p.learning.strategies import AggregateResult, State
from parity_p2p.learning.trainer import Metrics, training_threads
from parity_p2p.node.context import NodeContext
from parity_p2p.node.cpu_work import run_sized
from parity_p2p.node.errors import UpdateRefused
from parity_p2p.node.messages import (
    ATTESTATION_KIND,
    INLINE_BODY_MAX_BYTES,
    PROPOSAL_KIND,
    ROUND_CLOSED_KIND,
    UPDATE_KIND,
    AttestationMessage,
    MessageError,
    ProposalMessage,
    RoundClosedMessage,
    UpdateAnnouncement,
    carrying_envelope,
)
from parity_p2p.node.round_state import RoundState, RoundStats
from parity_p2p.node.secagg_round import SECAGG_KIND_NAMES, SecureRounds
from parity_p2p.node.work import (
    PrivateDataMismatch,
    SessionWork,
    UpdateMismatch,
    aggregate,
    encode_global,
    evaluate_state,
    make_update,
    read_global,
    read_update,
    runner_id,
)
from parity_p2p.secagg import SecAggError
from parity_p2p.session_spec import SessionSpec, SpecError
from parity_p2p.storage.content import FirstSource
from parity_p2p.storage.errors import StorageError
from parity_p2p.storage.importer import compute_cid
from parity_p2p.storage.multiformats import Cid
from parity_p2p.storage.write_behind import WriteBehind

logger = logging.getLogger(__name__)

SCALE = 1_000_000  # loss and accuracy go on-chain scaled by 1e6
GENESIS = "genesis"  # base of round 1: the model every runner derives from the session seed
SUBMIT_MARGIN_S = 2.0  # stop gathering attestations this long before failover, to get the transaction mined
PUSH_ATTEMPTS = 20
PUSH_RETRY_S = 0.1  # a leader refuses until it sees the new round open: retry often, ~2 s in all
DIRECT_FANOUT_MAX = 8  # up to this many runners, round messages go to each directly (see _broadcast)
FANOUT_WAIT_S = 1.0  # a direct send not answered by then: the message goes over gossip as well
PUSH_GRACE_S = 1.0  # a leader pulls an announced update itself only if its sender's push has not begun by then
BASE_MODEL_RETRY_S = 0.5


def _signer(
    recover: Callable[[SigningDomain, RoundStatement, bytes], str],
    domain: SigningDomain,
    statement: RoundStatement,
    signature: bytes,
) -> str:
    """Who signed a proposal or attestation; a signature nobody can have made (a junk or mirrored one, sent by a
    participant) is a MessageError like any other bad payload, not an error that ends the session's runner."""
    try:
        return recover(domain, statement, signature)
    except AttestationInputError as exc:
        raise MessageError(str(exc)) from None


class SessionSetupError(RuntimeError):
    """The session cannot be run here: its spec or dataset is invalid (retrying will not help)."""


class ContentUnavailable(RuntimeError):
    """The session's spec or dataset cannot be fetched right now (no connected peer has it): worth retrying."""


def read_local_dataset(datasets: Mapping[str, Path], spec: SessionSpec) -> bytes:
    """This runner's own CSV for a private-data session (config.toml [datasets]); it is never sent anywhere."""
    assert spec.private_data is not None
    name = spec.private_data.name
    path = datasets.get(name)
    if path is None:
        raise PrivateDataMismatch(f'no local dataset {name!r}: add `{name} = "/path/to.csv"` under [datasets]')
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PrivateDataMismatch(f"local dataset {name!r} at {path}: {exc.strerror}") from None


class SessionRunner:
    def __init__(self, ctx: NodeContext, session_id: int) -> None:
        self.ctx = ctx
        self.session_id = session_id
        self.me = runner_id(ctx.address)
        self.topic = session_topic(session_id)
        self.book = ProposalBook()
        self.rounds: dict[int, RoundState] = {}
        self.history: list[RoundStats] = []
        self.train_times: list[float] = []
        self.view: SessionView | None = None
        self.work: SessionWork | None = None
        self.secure: SecureRounds | None = None  # set for sessions with secure aggregation (docs/secagg.md)
        self.participants: list[str] = []
        self.peer_of: dict[str, str] = {}  # runner id -> registered libp2p peer id
        self.runner_of_peer: dict[str, str] = {}
        self.domain = SigningDomain(ctx.chain.deployment.chain_id, ctx.chain.deployment.session_manager)
        self.status = "starting"
        self.current_round = 0
        self.reported: list[Evidence] = []
        self._round_nursery: trio.Nursery | None = None
        self._quorum: int | None = None  # attestations submitRound needs: fixed once the session is active
        self._closed: tuple[int, RoundRecord] | None = None  # the last round seen finalised (the next one's base)
        # (CID, model, server state) of the last model file this node decoded while proposing or checking it: the
        # next round's base when the chain finalises that CID (decoding it again cost a round ~20 ms at 8 nodes).
        self._decoded: tuple[str, State, State] | None = None
        self._write_behind = WriteBehind(
            ctx.store, lambda reason: ctx.emit("update.store_failed", {"session": session_id, "reason": reason})
        )

    # ---- lifecycle ----------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Play every round until the session leaves the Active state; then claim the reward if configured."""
        await self._load()
        async with self.ctx.network.gossip.subscribe(self.topic) as inbox, trio.open_nursery() as nursery:
            nursery.start_soon(self._write_behind.run)
            nursery.start_soon(self._receive, inbox, nursery)
            await self._rounds()
            nursery.cancel_scope.cancel()
        await self._after_end()

    async def _load(self) -> None:
        chain = self.ctx.chain
        self.view = view = await chain.sessions.get_session(self.session_id)
        self.participants = await chain.sessions.participants(self.session_id)
        for address in self.participants:
            peer = (await chain.registry.runner_of(address)).peer_id
            self.peer_of[runner_id(address)] = peer
            self.runner_of_peer[peer] = runner_id(address)
        try:
            with trio.fail_after(60):
                spec_bytes = await self.ctx.store.aget(view.params.spec_cid, max_size=64 * 1024)
                spec = SessionSpec.from_json(spec_bytes)
                if spec.spec_hash != view.params.spec_hash:
                    raise SessionSetupError(f"spec {view.params.spec_cid} does not match the on-chain specHash")
                if spec.private_data is None:
                    dataset = await self.ctx.store.aget(view.params.dataset_cid)
                    self.work = await trio.to_thread.run_sync(
                        SessionWork.prepare, self.session_id, spec, dataset, view.seed, self.participants
                    )
                else:
                    local = await trio.to_thread.run_sync(read_local_dataset, self.ctx.local_datasets, spec)
                    self.work = await trio.to_thread.run_sync(
                        SessionWork.prepare_private, self.session_id, spec, local, view.seed, self.participants,
                        self.ctx.address,
                    )  # fmt: skip
        except trio.TooSlowError:
            raise ContentUnavailable(f"spec or dataset of session {self.session_id} not found within 60 s") from None
        except StorageError as exc:
            raise ContentUnavailable(f"session {self.session_id}: {exc}") from None
        except (SpecError, LearningError, PrivateDataMismatch) as exc:
            raise SessionSetupError(f"session {self.session_id}: {exc}") from None
        work = self.work
        # In a thread: counting builds the model, seconds for a large one.
        parameters = await trio.to_thread.run_sync(lambda: sum(t.numel() for t in work.initial_state().values()))
        threads = training_threads(self.ctx.torch_threads, parameters)
        if threads is not None:
            torch.set_num_threads(threads)  # process-wide: the last session started decides
        if spec.secure_aggregation is not None and spec.secure_aggregation.enabled:
            try:
                self.secure = SecureRounds(self, spec.secure_aggregation)
            except SecAggError as exc:
                raise SessionSetupError(f"session {self.session_id}: {exc}") from None
        self.status = "running"
        self.ctx.emit("session.joined", {"session": self.session_id, "shard": self.work.shard_sizes.get(self.me)})

    async def _rounds(self) -> None:
        view = await self.ctx.chain.sessions.get_session(self.session_id)
        await self._sync_clock()
        while True:
            self.view = view
            if view.status is not SessionStatus.ACTIVE:
                self.status = view.status.name.lower()
                return
            view = await self._play_round(view)  # the view that closed the round opens the next one

    async def _after_end(self) -> None:
        self.ctx.emit("session.ended", {"session": self.session_id, "status": self.status})
        if self.status != "completed" or not self.ctx.auto_claim:
            return
        owed = await self.ctx.chain.sessions.owed(self.ctx.address)
        if owed > 0:
            await self.ctx.chain.sessions.claim()
            self.ctx.emit("rewards.claimed", {"session": self.session_id, "amount": str(owed)})

    # ---- one round ----------------------------------------------------------------------------------------------
    def _round(self, number: int, started_at: int = 0) -> RoundState:
        rs = self.rounds.get(number)
        if rs is None:
            rs = self.rounds[number] = RoundState(number, started_at)
            for old in [r for r in self.rounds if r < number - 1]:
                del self.rounds[old]  # keep the previous round for late messages, drop the rest
        if started_at:
            rs.started_at = started_at
        return rs

    async def _play_round(self, view: SessionView) -> SessionView:
        number = view.current_round
        self.current_round = number
        if self.ctx.membership is not None:
            self.ctx.membership.note_round(self.session_id, number)
        rs = self._round(number, view.round_started_at)
        phases = rs.stats.phases
        phases.opened_at = time.monotonic()  # the state may predate the round (early gossip): open it now
        rs.base_cid, rs.global_state, rs.server_state = await self._base_model(number)
        phases.base_ready = phases.now()
        rs.ready.set()
        self.ctx.emit("round.started", {"session": self.session_id, "round": number})
        rs.own_update_pending = self.secure is None  # set before leading can start: _train_and_send clears it
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._train_and_send, rs)
            nursery.start_soon(self._lead_when_elected, rs)
            self._round_nursery = nursery
            for leader, proposal in list(rs.proposals.items()):  # proposals that came before we were ready
                self._spawn_verification(nursery, rs, leader, proposal)
            for runner in list(rs.announcements):  # announcements that came before we were ready
                self._prefetch(rs, runner)
            closed = await self._wait_finalized(rs)
            nursery.cancel_scope.cancel()
        self._round_nursery = None
        return closed

    async def _base_model(self, number: int) -> tuple[str, State, State]:
        """The round's base: (model CID, model, the strategy's server state kept in that model file)."""
        work = self._work()
        template = work.initial_state()
        if number == 1:
            return GENESIS, template, {}
        if self._closed is not None and self._closed[0] == number - 1:
            record = self._closed[1]
        else:
            record = await self.ctx.chain.sessions.get_round(self.session_id, number - 1)
        decoded = self._decoded
        if decoded is not None and decoded[0] == record.model_cid:
            self._round(number).stats.base_reused = True
            return decoded
        data = await self._fetch_base_model(record.model_cid)
        model, server_state = await trio.to_thread.run_sync(read_global, work, data, template)
        return record.model_cid, model, server_state

    async def _fetch_base_model(self, cid: str) -> bytes:
        """A runner restarted after a crash may look for the last model before any peer is connected again: keep
        asking for a round timeout before giving up (the service then retries the whole runner)."""
        assert self.view is not None
        with trio.move_on_after(self.view.params.round_timeout):
            while True:
                try:
                    return await self.ctx.store.aget(cid)
                except StorageError as exc:
                    logger.info("session %d: base model %s not reachable yet (%s)", self.session_id, cid, exc)
                await trio.sleep(BASE_MODEL_RETRY_S)
        return await self.ctx.store.aget(cid)  # the last try: its error says why

    async def _wait_finalized(self, rs: RoundState) -> SessionView:
        """Watch the chain until the round closes; returns the session view that shows it closed.

        Only a new block can close a round, so each poll reads the latest block (one cheap call) and the session
        only when the block changed. Polls are slow (finalize_poll_s) until a hint says the round closed (our own
        submitRound mined, or the leader's round_closed gossip): then the chain is read at once, and fast while
        the chain does not show it yet (an RPC provider a block behind). A lost hint costs one slow poll."""
        started = time.monotonic()
        backoff = PollBackoff(self.ctx.fast_poll_s, max(self.ctx.fast_poll_s, self.ctx.finalize_poll_s))
        interval = 0.0  # between polls after the hint; 0 until the first poll after it
        seen = -1
        record: RoundRecord | None = None
        while True:
            # No poll as the round opens: the chain was just read to open it.
            if not rs.closed_hint.is_set():
                with trio.move_on_after(backoff.ceiling):
                    await rs.closed_hint.wait()
            elif interval:
                await trio.sleep(interval)
            if rs.closed_hint.is_set():
                # Told the round closed: block, session and round record in one exchange.
                interval = backoff.after(interval) if interval else backoff.floor
                progress = await self.ctx.chain.sessions.round_progress(self.session_id, rs.round)
                self.ctx.clock.observe(progress.block_number, progress.block_timestamp)
                view, record = progress.session, progress.record
                if view.status is not SessionStatus.ACTIVE or view.current_round > rs.round:
                    break
                continue
            number, stamp = await self.ctx.chain.latest_block()
            if number != seen:
                seen = number
                self.ctx.clock.observe(number, stamp)
                view = await self.ctx.chain.sessions.get_session(self.session_id)
                if view.status is not SessionStatus.ACTIVE or view.current_round > rs.round:
                    break
        if record is None:
            record = await self.ctx.chain.sessions.get_round(self.session_id, rs.round)
        if not record.model_cid:
            return view  # the session ended (abandoned) without this round
        self._closed = (rs.round, record)
        stats = rs.stats
        stats.phases.finalized_seen = stats.phases.now()
        stats.wait_seconds = time.monotonic() - started
        stats.leader, stats.model_cid = record.leader, record.model_cid
        stats.loss, stats.accuracy = record.loss / SCALE, record.accuracy / SCALE
        self.history.append(stats)
        self.ctx.emit(
            "round.finalized",
            {"session": self.session_id, "round": rs.round, "leader": record.leader, "model_cid": record.model_cid,
             "loss": stats.loss, "accuracy": stats.accuracy},
        )  # fmt: skip
        return view

    # ---- every participant --------------------------------------------------------------------------------------
    async def _train_and_send(self, rs: RoundState) -> None:
        if self.secure is not None:
            return await self.secure.train_and_send(rs)
        try:
            await self._train_and_send_plain(rs)
        finally:
            rs.own_update_pending = False
            rs.poke()  # a leader waiting for its own update decides again

    async def _train_and_send_plain(self, rs: RoundState) -> None:
        work, state = self._work(), rs.global_state
        assert state is not None
        made = await trio.to_thread.run_sync(make_update, work, self.ctx.address, rs.round, state, rs.base_cid)
        rs.stats.train_seconds = made.metrics.seconds
        rs.stats.phases.trained = rs.stats.phases.now()
        if self.me in rs.updates:
            return  # a manual submission (submit_own_update) came first
        body = made.data if len(made.data) <= INLINE_BODY_MAX_BYTES else None
        # A small update rides in its push and its announcement: neither waits for our disk (its CID takes
        # microseconds), the durable store runs beside them. A large one is stored first: peers fetch it from us.
        cid = compute_cid(made.data) if body is not None else await self.ctx.store.aadd(made.data)
        rs.my_update_cid = cid
        announcement = UpdateAnnouncement(cid, made.metrics.data_size, made.metrics.loss, made.metrics.seconds, body)
        leader = self._leader_now(rs)
        # The push to the leader is on the round's critical path: it starts at once, beside the announcement and
        # the decoding of our own copy (which we need only if we lead or verify). A small update sent straight to
        # every runner reaches the leader inside its announcement: pushing it too would move it twice.
        async with trio.open_nursery() as nursery:
            if body is not None:
                nursery.start_soon(self.ctx.store.aadd, body)
            if leader != self.me and (body is None or not self._fans_out_directly()):
                nursery.start_soon(self._push, rs, leader, cid, made.data)
            # The leader first: it needs every update now, the others only once its proposal comes.
            nursery.start_soon(self._publish_carrying, UPDATE_KIND.kind, announcement, rs.round, leader)
            update, _ = await run_sized(len(made.data), lambda: self._read_update(rs, made.data, self.me))
            rs.updates[self.me] = (update, cid)
            rs.poke()
        self.ctx.emit("update.sent", {"session": self.session_id, "round": rs.round, "cid": cid})
        rs.stats.phases.update_sent = rs.stats.phases.now()

    async def _push(self, rs: RoundState, leader: str, cid: str, data: bytes) -> None:
        """Push our update to the leader. A leader still closing the previous round refuses it for a moment, so a
        refusal is retried briefly; failing that, the leader can fetch it by CID from our announcement."""
        reason = ""
        for _attempt in range(PUSH_ATTEMPTS):
            rs.stats.push_attempts += 1
            try:
                with trio.fail_after(60):
                    await push_update(
                        self.ctx.network.host, self.peer_of[leader], session_id=self.session_id, round=rs.round,
                        cid=cid, data=data,
                    )  # fmt: skip
                rs.stats.bytes_sent += len(data)
                return
            except UpdateRejected as exc:
                reason = str(exc)
                if "already here" in reason:
                    return
            except (GossipError, trio.TooSlowError) as exc:
                reason = str(exc) or type(exc).__name__
            await trio.sleep(PUSH_RETRY_S)
        self.ctx.emit("update.push_failed", {"session": self.session_id, "round": rs.round, "reason": reason})

    async def submit_own_update(self, round_number: int, data: bytes) -> str:
        """A manually made update for this node (`parity-client fl submit-update`), validated like any other and
        then announced and pushed as the node's own. Refused once the node has sent its update for the round."""
        rs = self.rounds.get(round_number)
        if rs is None or round_number != self.current_round or rs.global_state is None:
            raise UpdateRefused(f"round {round_number} is not open (current round {self.current_round})", 409)
        if self.me in rs.updates:
            raise UpdateRefused(f"this node already sent its update for round {round_number}", 409)
        if self.secure is not None:
            raise UpdateRefused("a secure-aggregation session takes no manual updates: the node masks its own", 409)
        try:
            update, meta = await trio.to_thread.run_sync(self._read_update, rs, data, self.me)
        except (LearningError, UpdateMismatch) as exc:
            raise UpdateRefused(str(exc), 400) from None
        cid = await self.ctx.store.aadd(data)
        rs.my_update_cid = cid
        rs.updates[self.me] = (update, cid)
        rs.poke()
        announcement = UpdateAnnouncement(cid, meta.data_size, float(meta.loss or 0.0), 0.0)
        await self._publish(UPDATE_KIND.kind, announcement.payload(), rs.round)
        leader = self._leader_now(rs)
        if leader != self.me:
            await self._push(rs, leader, cid, data)
        return cid

    def _read_update(self, rs: RoundState, data: bytes, sender: str) -> Any:
        assert rs.global_state is not None
        return read_update(
            self._work(), data, round_number=rs.round, sender=sender, global_state=rs.global_state,
            base_model_cid=rs.base_cid,
        )  # fmt: skip

    # UpdateSink, through SessionService: pushed updates for this session
    async def admit(self, offer: UpdateOffer, peer_id: str) -> Verdict:
        verdict = self._admission(offer, peer_id)
        sender = self.runner_of_peer.get(peer_id)
        rs = self.rounds.get(offer.round)
        if verdict.accepted and sender is not None and rs is not None:
            if sender in rs.incoming:
                # One body per sender at a time: a second offer (a retry racing the first, or a flood) waits.
                verdict = Verdict.reject("an update from this runner is already arriving")
            else:
                rs.incoming[sender] = offer.cid
        # Narrated: refusals of a participant's offer for the open round. A stranger's offers, and offers that came
        # before this node opened the round (the sender retries them), are only counted by the update protocol.
        open_round = offer.round == self.current_round and offer.round in self.rounds
        if not verdict.accepted and sender is not None and open_round:
            self._emit_rejected(offer.round, sender, verdict.reason)
        return verdict

    def _admission(self, offer: UpdateOffer, peer_id: str) -> Verdict:
        sender = self.runner_of_peer.get(peer_id)
        rs = self.rounds.get(offer.round)
        if sender is None:
            return Verdict.reject(f"peer {peer_id} is not a participant of session {self.session_id}")
        if rs is None or offer.round != self.current_round or rs.global_state is None:
            return Verdict.reject(f"round {offer.round} is not open here (current {self.current_round})")
        if self.secure is not None:
            return self.secure.admit(rs, sender, offer)
        if sender in rs.updates:
            return Verdict.reject("an update from this runner is already here")
        limit = self._work().decode_limits(rs.global_state).max_total_bytes
        if limit is not None and offer.size > limit:
            return Verdict.reject(f"{offer.size} bytes exceeds this model's update size {limit}")
        return Verdict.accept()

    def release(self, offer: UpdateOffer, peer_id: str) -> None:
        """The admitted push ended (stored, refused or broken off): the sender's slot frees, and if its update is
        still missing the leader may pull it from the announcement."""
        sender = self.runner_of_peer.get(peer_id)
        rs = self.rounds.get(offer.round)
        if sender is not None and rs is not None and rs.incoming.get(sender) == offer.cid:
            del rs.incoming[sender]
            rs.poke()

    async def store(self, offer: UpdateOffer, data: bytes, peer_id: str) -> Verdict:
        sender = self.runner_of_peer.get(peer_id)
        rs = self.rounds.get(offer.round)
        if sender is None or rs is None:
            return Verdict.reject("not expected")
        reason = await self._accept_update(rs, sender, offer.cid, data)
        if reason:
            return Verdict.reject(reason)
        rs.stats.bytes_received += len(data)
        return Verdict.accept()

    async def _accept_update(self, rs: RoundState, sender: str, cid: str, data: bytes) -> str:
        """Validate an update's bytes for `sender`; keep it if good. Returns the reason it was refused, or ""."""
        if self.secure is not None:
            return await self.secure.accept(rs, sender, cid, data)

        def check() -> Any:
            if compute_cid(data) != cid:
                return None
            return self._read_update(rs, data, sender)[0]

        try:
            update = await run_sized(len(data), check)
            if update is None:
                self._emit_rejected(rs.round, sender, "the bytes do not hash to the announced CID")
                return "the bytes do not hash to the announced CID"
        except (LearningError, UpdateMismatch) as exc:
            self._emit_rejected(rs.round, sender, str(exc))
            return str(exc)
        rs.updates.setdefault(sender, (update, cid))
        rs.poke()  # counted before it is stored: a leader waiting for the last update need not wait for our disk
        # Stored behind, not fsynced: a peer's update can be fetched again from its sender (who keeps its own
        # durably) or the leader; a copy torn by a power loss fails its hash check on read and counts as missing.
        await self._write_behind.add(data)
        return ""

    def _emit_rejected(self, round_number: int, sender: str, reason: str) -> None:
        self.ctx.emit(
            "update.rejected", {"session": self.session_id, "round": round_number, "runner": sender, "reason": reason}
        )

    # ---- leader -------------------------------------------------------------------------------------------------
    def _step_now(self, rs: RoundState) -> int:
        assert self.view is not None
        return max(0, int(self._now() - rs.started_at) // self.view.params.round_timeout)

    def _leader_at(self, rs: RoundState, step: int) -> str:
        assert self.view is not None
        return runner_id(leader_at(self.view.seed, rs.round, step, self.participants))

    def _leader_now(self, rs: RoundState) -> str:
        return self._leader_at(rs, self._step_now(rs))

    async def _lead_when_elected(self, rs: RoundState) -> None:
        assert self.view is not None
        timeout = self.view.params.round_timeout
        while True:
            step = self._step_now(rs)
            if self._leader_at(rs, step) == self.me and step not in rs.led_steps:
                rs.led_steps.add(step)
                with trio.move_on_after(max(0.0, rs.started_at + (step + 1) * timeout - self._now())):
                    await self._lead(rs, step)
            boundary = rs.started_at + (self._step_now(rs) + 1) * timeout
            await trio.sleep(max(0.05, boundary - self._now()))

    async def _lead(self, rs: RoundState, step: int) -> None:
        assert self.view is not None
        params = self.view.params
        step_start = rs.started_at + step * params.round_timeout
        window = round_window(step_start, params.round_timeout, self.train_times[-32:], self.ctx.timing)
        rs.stats.led = True
        self.ctx.emit("round.leading", {"session": self.session_id, "round": rs.round, "step": step})
        if self.secure is not None:
            if await self.secure.collect_and_unmask(rs, window):
                await self._propose_and_submit(rs, window.failover_at)
            return
        async with trio.open_nursery() as fetchers:
            while True:
                for runner, announcement in list(rs.announcements.items()):
                    if self._may_pull(rs, runner):
                        rs.fetching.add(runner)
                        fetchers.start_soon(self._pull_update, rs, runner, announcement.update_cid)
                own_pending = rs.own_update_pending and self.me not in rs.updates
                decision = collect_decision(
                    self._now(), window, len(rs.updates), len(self.participants), params.min_participants,
                    own_pending=own_pending,
                )  # fmt: skip
                if decision is not Collect.WAIT:
                    break
                with trio.move_on_after(0.2):
                    await rs.changed.wait()
            fetchers.cancel_scope.cancel()
        rs.stats.phases.collected = rs.stats.phases.now()
        if decision is Collect.GIVE_UP:
            self.ctx.emit(
                "round.no_quorum",
                {"session": self.session_id, "round": rs.round, "updates": len(rs.updates),
                 "needed": params.min_participants},
            )  # fmt: skip
            return
        await self._propose_and_submit(rs, window.failover_at)

    def _prefetch(self, rs: RoundState, runner: str) -> None:
        """Fetch an announced update as soon as it is announced, not when the proposal asks for it: a follower's
        recomputation then finds it here and verification leaves the critical path's transfer. Only when this node
        will recompute (the light check reads no updates), and only for the round being played."""
        nursery, state, announcement = self._round_nursery, rs.global_state, rs.announcements.get(runner)
        if nursery is None or state is None or announcement is None or rs.round != self.current_round:
            return
        if self.secure is not None:
            return  # masked inputs are fetched when a proposal is checked
        if not self._may_pull(rs, runner) or not self._recomputes(state):
            return
        rs.fetching.add(runner)
        nursery.start_soon(self._pull_update, rs, runner, announcement.update_cid)

    def _may_pull(self, rs: RoundState, runner: str) -> bool:
        """Whether to fetch `runner`'s announced update now. Not while its push is arriving, and as the leader
        (whom the runner pushes to) only after PUSH_GRACE_S unless the announcement carries the update: the
        announcement usually comes a moment before the push, and pulling it too would move and validate the same
        bytes twice on the round's critical path."""
        if runner == self.me or runner in rs.updates or runner in rs.fetching or runner in rs.incoming:
            return False
        if self._leader_now(rs) != self.me:
            return True
        announcement = rs.announcements.get(runner)
        if announcement is not None and announcement.body is not None:
            return True  # it came with the announcement: nothing to transfer, no push to wait for
        announced = rs.announced_at.get(runner)
        if announced is None:
            return True
        # From the later of announcement and our opening of the round: pushes are refused until then.
        return time.monotonic() - max(announced, rs.stats.phases.opened_at) >= PUSH_GRACE_S

    def _recomputes(self, state: State) -> bool:
        """Whether followers recompute the aggregate of this model (else the light check runs)."""
        model_bytes = sum(t.numel() * t.element_size() for t in state.values())
        return len(self.participants) * model_bytes <= self.ctx.max_recompute_bytes

    async def _pull_update(self, rs: RoundState, runner: str, cid: str) -> None:
        announcement = rs.announcements.get(runner)
        if announcement is not None and announcement.body is not None and announcement.update_cid == cid:
            try:  # it came with its announcement: no transfer
                if runner not in rs.updates:
                    rs.stats.carried += 1
                    await self._accept_update(rs, runner, cid, announcement.body)
            finally:
                rs.fetching.discard(runner)
            return
        peer = rs.peers.get(runner)
        if peer:
            self.ctx.fetcher.prefer(peer)
        try:
            limit = self._work().decode_limits(rs.global_state).max_total_bytes if rs.global_state else None
            # a peer's update: re-fetchable, so not fsynced
            data = await self.ctx.store.aget(cid, max_size=limit, durable=False, first=self._from_peer(peer))
        except StorageError as exc:
            self.ctx.emit("update.fetch_failed", {"session": self.session_id, "round": rs.round, "reason": str(exc)})
            return
        finally:
            rs.fetching.discard(runner)
        rs.stats.pulled += 1
        if runner not in rs.updates:
            await self._accept_update(rs, runner, cid, data)

    def _from_peer(self, peer: str | None) -> FirstSource | None:
        """Blocks asked of `peer` (an update's announcer) before the shared fetcher, whose hints are one list for
        all concurrent pulls: without this, pulling 7 updates at once asked each announcer for all 7."""
        if not peer:
            return None
        host, timeout = self.ctx.network.host, self.ctx.fetcher.per_peer_timeout_s

        async def ask(cid: Cid) -> bytes | None:
            text = str(cid)
            with trio.move_on_after(timeout):
                try:
                    return (await fetch_blocks(host, peer, [text])).get(text)
                except GossipError:
                    return None
            return None

        return ask

    async def _propose_and_submit(self, rs: RoundState, failover_at: float) -> None:
        work, state = self._work(), rs.global_state
        assert state is not None and self.view is not None
        received = dict(rs.updates)
        updates = [u for u, _ in received.values()]

        def build() -> tuple[AggregateResult, Metrics, bytes, tuple[State, State]]:
            # One thread hop for all: on a busy machine each hop waits for a scheduling turn.
            result = aggregate(work, rs.round, state, updates, rs.server_state)
            metrics = evaluate_state(work, result.state)
            model_bytes = encode_global(work, rs.round, result, metrics)
            return result, metrics, model_bytes, read_global(work, model_bytes, state)

        try:
            result, metrics, model_bytes, decoded = await trio.to_thread.run_sync(build)
        except LearningError as exc:  # e.g. Krum after dropouts left too few updates: no proposal, failover decides
            self.ctx.emit("round.aggregate_failed", {"session": self.session_id, "round": rs.round, "reason": str(exc)})
            return
        for screened in result.screened_out:
            self.ctx.emit(
                "update.screened",
                {"session": self.session_id, "round": rs.round, "runner": screened.runner, "reason": screened.reason},
            )
        model_cid = await self.ctx.store.aadd(model_bytes)
        self._decoded = (model_cid, *decoded)
        phases = rs.stats.phases
        phases.aggregated = phases.now()
        ordered = sorted(received, key=lambda r: int(r, 16))
        used = set(result.included)
        included = tuple(
            IncludedUpdate(to_checksum_address(r), received[r][1], received[r][0].num_examples, i in used)
            for i, r in enumerate(ordered)
        )
        contributions = [Contribution(u.runner, update_digest(u.update_cid), u.data_size, u.points) for u in included]
        root = updates_root(contributions)
        statement = RoundStatement(self.session_id, rs.round, model_cid, root)
        proposal_sig = sign_proposal(self.ctx.account, self.domain, statement)
        carried = model_bytes if len(model_bytes) <= INLINE_BODY_MAX_BYTES else None
        message = ProposalMessage(
            model_cid, root, included, metrics.loss, metrics.accuracy or 0.0, proposal_sig, carried
        )
        self.book.record(SignedProposal(self.session_id, rs.round, self.ctx.address, model_cid, root, proposal_sig))
        votes = rs.attestations.setdefault((model_cid, root), {})
        votes[self.me] = sign_attestation(self.ctx.account, self.domain, statement)
        await self._publish_carrying(PROPOSAL_KIND.kind, message, rs.round)
        phases.proposed = phases.now()
        self.ctx.emit(
            "round.proposed",
            {"session": self.session_id, "round": rs.round, "model_cid": model_cid, "updates": len(included)},
        )
        if self._quorum is None:
            self._quorum = await self.ctx.chain.sessions.quorum(self.session_id)
        quorum = self._quorum
        with trio.move_on_after(max(0.0, failover_at - SUBMIT_MARGIN_S - self._now())):
            while len(votes) < quorum:
                await rs.changed.wait()
        if len(votes) < quorum:
            self.ctx.emit(
                "round.no_attestation_quorum",
                {"session": self.session_id, "round": rs.round, "attestations": len(votes), "quorum": quorum},
            )
            return
        phases.attestation_quorum = phases.now()
        signatures = [votes[s] for s in sorted(votes, key=lambda a: int(a, 16))]
        outcome = RoundResult(
            rs.round, model_cid, round(metrics.loss * SCALE), round((metrics.accuracy or 0.0) * SCALE),
            tuple(contributions),
        )  # fmt: skip
        phases.submitted = phases.now()
        try:
            receipt = await self.ctx.chain.sessions.submit_round(self.session_id, outcome, signatures)
        except ChainError as exc:
            self.ctx.emit("round.submit_failed", {"session": self.session_id, "round": rs.round, "reason": str(exc)})
            return
        phases.receipt = phases.now()
        rs.closed_hint.set()  # the round is closed: our finalisation watch looks at the chain now
        self.ctx.emit("round.submitted", {"session": self.session_id, "round": rs.round, "model_cid": model_cid})
        closed = RoundClosedMessage(model_cid, bytes.fromhex(receipt.tx_hash.removeprefix("0x")), receipt.block_number)
        # Our own receipt ends the round here at once (and cancels this task): the others' hint must still go out.
        with trio.CancelScope(shield=True), trio.move_on_after(2 * FANOUT_WAIT_S):
            await self._publish(ROUND_CLOSED_KIND.kind, closed.payload(), rs.round)

    # ---- follower -----------------------------------------------------------------------------------------------
    def _spawn_verification(self, nursery: trio.Nursery, rs: RoundState, leader: str, p: ProposalMessage) -> None:
        if leader == self.me or leader in rs.verifying:
            return
        rs.verifying.add(leader)
        rs.stats.phases.proposal_received = rs.stats.phases.now()
        nursery.start_soon(self._verify_and_attest, rs, leader, p)

    async def _verify_and_attest(self, rs: RoundState, leader: str, p: ProposalMessage) -> None:
        await rs.ready.wait()
        if p.model is not None:  # it came with the proposal (hash checked on parsing): the checks find it stored
            await self.ctx.store.aadd(p.model)
            rs.stats.model_carried = True
        work, state = self._work(), rs.global_state
        assert state is not None
        self.ctx.fetcher.prefer(self.peer_of.get(leader, ""))
        proposal = RoundProposal(self.session_id, rs.round, to_checksum_address(leader), p.model_cid, p.included)
        eligible = {self._leader_at(rs, s) for s in range(self._step_now(rs) + 1)}
        model_bytes = sum(t.numel() * t.element_size() for t in state.values())
        if len(p.included) * model_bytes > self.ctx.max_recompute_bytes:
            rs.stats.check = "light"
            problems = await self._light_check(rs, p)
        else:
            rs.stats.check = "recomputed"
            problems = await self._recompute_check(rs, p, leader)
        rs.stats.phases.verified = rs.stats.phases.now()
        assert self.view is not None
        decision = decide_attestation(
            proposal,
            eligible_leaders=[to_checksum_address(e) for e in eligible],
            participants=self.participants,
            min_participants=self.view.params.min_participants,
            my_address=self.ctx.address,
            my_update_cid=rs.my_update_cid,
            expected_sizes=work.expected_sizes,
            model_problems=problems,
            max_private_size=work.max_private_size,
        )
        if p.updates_root != updates_root(
            [Contribution(u.runner, update_digest(u.update_cid), u.data_size, u.points) for u in p.included]
        ):
            decision = type(decision)(False, (*decision.reasons, "updates root does not match the included list"))
        rs.stats.attested = decision.attest
        if not decision.attest:
            rs.stats.refusal = "; ".join(decision.reasons)
            self.ctx.emit(
                "attestation.refused",
                {"session": self.session_id, "round": rs.round, "leader": leader, "reasons": list(decision.reasons)},
            )
            return
        statement = RoundStatement(self.session_id, rs.round, p.model_cid, p.updates_root)
        signature = sign_attestation(self.ctx.account, self.domain, statement)
        message = AttestationMessage(to_checksum_address(leader), p.model_cid, p.updates_root, signature)
        await self._send_to_leader(leader, ATTESTATION_KIND.kind, message.payload(), rs.round)
        rs.stats.phases.attested = rs.stats.phases.now()

    async def _recompute_check(self, rs: RoundState, p: ProposalMessage, leader: str = "") -> list[str]:
        """Fetch every included update by CID, aggregate them as the leader should have, compare with its model.
        Updates not prefetched and the model are fetched at once, each from the peer that has it first."""
        if self.secure is not None:
            return await self.secure.recompute_problems(rs, p)
        work, state = self._work(), rs.global_state
        assert state is not None
        limit = work.decode_limits(state).max_total_bytes
        updates: dict[int, Any] = {}
        failures: list[str] = []

        async def fetch_update(index: int, runner: str, cid: str) -> None:
            source = self._from_peer(rs.peers.get(runner))
            try:
                data = await self.ctx.store.aget(cid, max_size=limit, durable=False, first=source)  # re-fetchable
                updates[index] = (await run_sized(len(data), lambda: self._read_update(rs, data, runner)))[0]
            except (StorageError, LearningError, UpdateMismatch) as exc:
                failures.append(f"cannot recompute: {exc}")

        model: list[bytes] = []

        async def fetch_model() -> None:
            try:
                model.append(await self.ctx.store.aget(p.model_cid, first=self._from_peer(self.peer_of.get(leader))))
            except StorageError as exc:
                failures.append(f"cannot recompute: {exc}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(fetch_model)
            for index, item in enumerate(p.included):
                runner = runner_id(item.runner)
                held = rs.updates.get(runner)
                if held is not None and held[1] == item.update_cid:  # prefetched, and validated for this runner
                    updates[index] = held[0]
                    rs.stats.prefetched += item.runner != self.ctx.address
                else:
                    nursery.start_soon(fetch_update, index, runner, item.update_cid)
        if failures:
            return failures[:1]
        ordered_input = [updates[i] for i in range(len(p.included))]

        def recompute() -> tuple[AggregateResult, tuple[State, State]]:
            return aggregate(work, rs.round, state, ordered_input, rs.server_state), read_global(work, model[0], state)

        try:
            result, (proposed, proposed_server) = await trio.to_thread.run_sync(recompute)
        except (LearningError, UpdateMismatch) as exc:
            return [f"cannot recompute: {exc}"]
        self._decoded = (p.model_cid, proposed, proposed_server)  # decoded from bytes that hash to model_cid
        ordered = sorted(ordered_input, key=lambda u: int(u.runner, 16))  # the order `aggregate` indexes `included` by
        used = [ordered[i].runner for i in result.included]
        # The server state is part of the model file (learning/server_state.py): a forged one is a wrong model.
        problems = models_match(
            {k: v.numpy() for k, v in pack(proposed, proposed_server).items()},
            {k: v.numpy() for k, v in pack(result.state, result.server_state).items()},
        )
        return problems + usage_problems(p.included, used)

    async def _light_check(self, rs: RoundState, p: ProposalMessage) -> list[str]:
        """For rounds above max_recompute_bytes: the model must decode strictly (names, shapes, dtypes, finite) and
        must not wreck this runner's held-out loss. The proposal's structure is checked as usual by the caller."""
        work, state = self._work(), rs.global_state
        assert state is not None
        try:
            data = await self.ctx.store.aget(p.model_cid)

            def check() -> tuple[tuple[State, State], Metrics, Metrics]:
                decoded = read_global(work, data, state)
                return decoded, evaluate_state(work, state), evaluate_state(work, decoded[0])

            (proposed, proposed_server), base, after = await trio.to_thread.run_sync(check)
        except (StorageError, LearningError) as exc:
            return [f"cannot check the model: {exc}"]
        self._decoded = (p.model_cid, proposed, proposed_server)
        return light_model_problems(base.loss, after.loss)

    # ---- gossip in ----------------------------------------------------------------------------------------------
    async def _receive(self, inbox: trio.MemoryReceiveChannel[GossipMessage], nursery: trio.Nursery) -> None:
        async for message in inbox:
            envelope = message.envelope
            if not self.current_round or not 0 < envelope.round <= self.current_round + 1:
                continue
            rs = self._round(envelope.round)
            sender = runner_id(envelope.sender)
            try:
                if envelope.kind == UPDATE_KIND.kind:
                    announcement = UpdateAnnouncement.parse(envelope.payload)
                    rs.announcements[sender] = announcement
                    rs.announced_at.setdefault(sender, time.monotonic())
                    rs.peers[sender] = message.origin_peer
                    self.train_times.append(announcement.train_seconds)
                    self._prefetch(rs, sender)
                elif envelope.kind == PROPOSAL_KIND.kind:
                    self._on_proposal(rs, sender, ProposalMessage.parse(envelope.payload), nursery)
                elif envelope.kind == ATTESTATION_KIND.kind:
                    self._on_attestation(rs, sender, AttestationMessage.parse(envelope.payload))
                elif envelope.kind == ROUND_CLOSED_KIND.kind:
                    RoundClosedMessage.parse(envelope.payload)  # well formed; what it claims, the chain will say
                    rs.closed_hint.set()
                elif envelope.kind in SECAGG_KIND_NAMES and self.secure is not None:
                    await self.secure.on_message(rs, sender, envelope.kind, envelope.payload)
            except MessageError as exc:
                self.ctx.emit(
                    "gossip.bad_payload", {"session": self.session_id, "kind": envelope.kind, "reason": str(exc)}
                )
                continue
            rs.poke()

    def _on_proposal(self, rs: RoundState, sender: str, p: ProposalMessage, nursery: trio.Nursery) -> None:
        statement = RoundStatement(self.session_id, rs.round, p.model_cid, p.updates_root)
        signer = runner_id(_signer(recover_proposal_signer, self.domain, statement, p.signature))
        if signer != sender:
            raise MessageError(f"proposal signed by {signer}, sent by {sender}")
        evidence = self.book.record(
            SignedProposal(self.session_id, rs.round, signer, p.model_cid, p.updates_root, p.signature)
        )
        if evidence is not None:
            nursery.start_soon(self._report, evidence)
            return
        rs.proposals.setdefault(sender, p)
        if rs.round == self.current_round and self._round_nursery is not None and rs.ready.is_set():
            self._spawn_verification(self._round_nursery, rs, sender, p)

    def _on_attestation(self, rs: RoundState, sender: str, a: AttestationMessage) -> None:
        if runner_id(a.leader) != self.me:
            return  # only the addressed leader collects; others just relay
        statement = RoundStatement(self.session_id, rs.round, a.model_cid, a.updates_root)
        signer = runner_id(_signer(recover_attestation_signer, self.domain, statement, a.signature))
        if signer != sender:
            raise MessageError(f"attestation signed by {signer}, sent by {sender}")
        rs.attestations.setdefault((a.model_cid, a.updates_root), {})[sender] = a.signature

    async def _report(self, evidence: Evidence) -> None:
        a, b = evidence.first, evidence.second
        self.ctx.emit("equivocation.seen", {"session": self.session_id, "round": a.round, "leader": a.signer})
        try:
            await self.ctx.chain.sessions.report_equivocation(
                self.session_id, a.round, Proposal(a.model_cid, a.updates_root), a.signature,
                Proposal(b.model_cid, b.updates_root), b.signature,
            )  # fmt: skip
        except ChainError as exc:  # someone else reported first, or the session is gone
            self.ctx.emit("equivocation.report_failed", {"session": self.session_id, "reason": str(exc)})
            return
        self.reported.append(evidence)
        self.ctx.emit("equivocation.reported", {"session": self.session_id, "round": a.round, "leader": a.signer})

    # ---- helpers ------------------------------------------------------------------------------------------------
    def _now(self) -> float:
        """The chain's idea of now (NodeContext.clock): devnets can run ahead (evm_increaseTime) or behind."""
        return self.ctx.clock.now()

    async def _sync_clock(self) -> None:
        self.ctx.clock.observe(*await self.ctx.chain.latest_block())

    def _work(self) -> SessionWork:
        if self.work is None:
            raise SessionSetupError("the session is not loaded yet")
        return self.work

    async def _send_to_leader(self, leader: str, kind: str, payload: dict[str, Any], round_number: int) -> None:
        """Only the leader needs it: one stream to it, not a gossip copy at every runner; gossip if that fails."""
        peer = self.peer_of.get(leader)
        if peer and leader != self.me:
            try:
                await self.ctx.network.direct.send_signed(peer, self.topic, kind, payload, round=round_number)
                return
            except GossipError as exc:
                logger.info("session %d: direct %s to %s failed (%s); gossiping it", self.session_id, kind, leader, exc)
        await self._publish(kind, payload, round_number)

    async def _publish_carrying(
        self, kind: str, message: UpdateAnnouncement | ProposalMessage, round_number: int, first: str = ""
    ) -> None:
        gossip = self.ctx.network.gossip

        def sign(payload: Mapping[str, Any], version: int) -> Envelope:
            return gossip.sign(self.topic, kind, payload, round=round_number, version=version)

        try:
            envelope = carrying_envelope(message, sign)
        except GossipError as exc:
            self._publish_failed(kind, exc)
            return
        await self._broadcast(kind, envelope, first)

    async def _publish(self, kind: str, payload: dict[str, Any], round_number: int) -> None:
        try:
            envelope = self.ctx.network.gossip.sign(self.topic, kind, payload, round=round_number)
        except GossipError as exc:
            self._publish_failed(kind, exc)
            return
        await self._broadcast(kind, envelope)

    async def _broadcast(self, kind: str, envelope: Envelope, first: str = "") -> None:
        """`envelope` to every other runner: in a session of up to DIRECT_FANOUT_MAX runners straight to each over
        /parity/direct/1.1.0 (each receives it once, where gossip hands every runner ~7 copies at 8 runners), and
        over gossip when a direct send fails or takes over FANOUT_WAIT_S (the receivers' replay check drops a
        second copy). Larger sessions gossip: a sender's streams grow with the session, gossip's copies stop at
        the mesh degree (at 16 runners direct sending overloaded this 2-core machine: docs/performance.md).
        Runner `first`, if given, gets it before the others are sent theirs."""
        gossip = self.ctx.network.gossip
        peers = [peer for runner, peer in self.peer_of.items() if runner != self.me]
        if peers and self._fans_out_directly():
            direct = self.ctx.network.direct
            head = self.peer_of.get(first, "")
            if len(await direct.fan_out(peers, envelope, first=head, wait_s=FANOUT_WAIT_S)) == len(peers):
                return
        try:
            await gossip.publish_envelope(envelope)
        except GossipError as exc:
            self._publish_failed(kind, exc)

    def _fans_out_directly(self) -> bool:
        return len(self.participants) <= DIRECT_FANOUT_MAX

    def _publish_failed(self, kind: str, exc: GossipError) -> None:
        self.ctx.emit("gossip.publish_failed", {"session": self.session_id, "kind": kind, "reason": str(exc)})
