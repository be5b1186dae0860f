"""Secure aggregation on the runner node: the session runner hands a secure session's rounds to this module.

Per round (docs/secagg.md has the diagram), on the wire:
  everyone: gossip secagg_keys -> (train meanwhile) -> gossip secagg_shares once every neighbour's keys are in (or a
            short grace after training) -> mask the delta once every neighbour's shares are in (or a grace) -> store
            the masked vector by CID, announce it with the usual `update` kind, push it over /parity/update/1.0.0;
  leader:   collect masked vectors (pushed, or by CID) as for plain updates -> gossip secagg_survivors -> gather
            secagg_reveal answers until the sum unmasks -> hand the session runner one update per survivor carrying
            the unmasked weighted mean, so proposal, attestation and submission run unchanged;
  everyone: answer an eligible leader's survivor set with secagg_reveal (the library refuses what would expose one
            runner); followers verify a proposal by unmasking the same masked vectors with the same reveals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from parity_p2p.consensus.proposal import models_match
from parity_p2p.consensus.timing import Collect, RoundWindow, collect_decision
from parity_p2p.gossip.update_protocol import UpdateOffer, Verdict
from parity_p2p.learning.errors import LearningError
from parity_p2p.learning.seeding import derive_seed
from parity_p2p.learning.server_state import pack
from parity_p2p.node.messages import (
    SECAGG_KEYS_KIND,
    SECAGG_KINDS,
    SECAGG_REVEAL_KIND,
    SECAGG_SHARES_KIND,
    SECAGG_SURVIVORS_KIND,
    UPDATE_KIND,
    ProposalMessage,
    UpdateAnnouncement,
)
from parity_p2p.node.round_state import RoundState
from parity_p2p.node.secagg_vectors import flatten, mean_updates, unflatten, vector_length
from parity_p2p.node.work import aggregate, make_update, read_global, runner_id
from parity_p2p.secagg import (
    KeyAdvert,
    MaskedInput,
    NotEnoughShares,
    Reveal,
    RoundContext,
    RunnerRound,
    SecAggConfigError,
    SecAggError,
    SecAggParams,
    SharePacket,
    SurvivorSet,
    UnmaskedSum,
    choose_survivors,
    unmask,
)
from parity_p2p.secagg.runner import Phase
from parity_p2p.storage.errors import StorageError
from parity_p2p.storage.importer import compute_cid

if TYPE_CHECKING:
    from parity_p2p.node.session_runner import SessionRunner

GRACE_S = 4.0  # after training (keys) or sharing (shares), how long to wait for missing neighbours before going on
REPUBLISH_S = 1.0  # while waiting, our own keys or shares are published again this often
REVEAL_WAIT_S = 30.0  # how long a follower waits for the survivor set and enough reveals to check a proposal
REVEAL_RETRY_S = 2.0  # a leader missing reveals asks again this often (answered sets are re-sent, not re-decided)
MASKED_HEADER_ALLOWANCE = 64 * 1024
SECAGG_KIND_NAMES = frozenset(k.kind for k in SECAGG_KINDS)


@dataclass
class SecureRound:
    """What this node knows of one round's secure aggregation."""

    ctx: RoundContext
    runner: RunnerRound | None = None
    adverts: dict[str, KeyAdvert] = field(default_factory=dict)
    packets: dict[str, SharePacket] = field(default_factory=dict)
    inputs: dict[str, tuple[MaskedInput, str]] = field(default_factory=dict)  # runner -> (masked input, CID)
    fetching: set[str] = field(default_factory=set)
    survivor_sets: dict[str, SurvivorSet] = field(default_factory=dict)  # leader -> its survivor set
    reveals: dict[tuple[str, SurvivorSet], Reveal] = field(default_factory=dict)  # (revealer, set) -> answer
    answered: set[SurvivorSet] = field(default_factory=set)
    waiting: str = ""  # why the leader cannot pick survivors yet (reported once per reason)

    def reveals_for(self, survivor_set: SurvivorSet) -> dict[str, Reveal]:
        return {who: r for (who, s), r in self.reveals.items() if s == survivor_set}

    def masked(self) -> dict[str, MaskedInput]:
        return {r: m for r, (m, _) in self.inputs.items()}


class SecureRounds:
    def __init__(self, runner: SessionRunner, params: SecAggParams) -> None:
        """Raises SecAggConfigError when the session's data could overflow the ring (e.g. a 32-bit ring and more
        samples than it holds): better refused at setup than failing every round."""
        self.node = runner
        self.params = params
        self.rounds: dict[int, SecureRound] = {}
        work = runner._work()
        sizes, cap = work.expected_sizes, work.max_private_size
        most = sum(sizes.values()) if sizes is not None else (cap or 0) * len(work.participants)
        if most > params.max_total_weight:
            raise SecAggConfigError(
                "ring_bits", f"up to {most} samples per round, the {params.ring_bits}-bit ring with {params.bits} "
                f"bits holds {params.max_total_weight}",
            )  # fmt: skip

    def round(self, rs: RoundState) -> SecureRound:
        sr = self.rounds.get(rs.round)
        if sr is None:
            work = self.node._work()
            seed = derive_seed(work.seed, "secagg-graph", round=rs.round)
            ctx = RoundContext.create(self.node.session_id, rs.round, work.participants, seed, self.params)
            sr = self.rounds[rs.round] = SecureRound(ctx)
            for old in [r for r in self.rounds if r < rs.round - 1]:
                del self.rounds[old]
        return sr

    # ---- every participant --------------------------------------------------------------------------------------
    async def train_and_send(self, rs: RoundState) -> None:
        node, me = self.node, self.node.me
        sr = self.round(rs)
        runner = sr.runner = RunnerRound(sr.ctx, me)
        sr.adverts[me] = advert = runner.advertise()
        await node._publish(SECAGG_KEYS_KIND.kind, advert.to_payload(), rs.round)
        work, state = node._work(), rs.global_state
        assert state is not None
        made = await trio.to_thread.run_sync(make_update, work, node.ctx.address, rs.round, state, rs.base_cid)
        rs.stats.train_seconds = made.metrics.seconds
        rs.stats.phases.trained = rs.stats.phases.now()
        holders = sr.ctx.graph.neighbours[me]
        need = sr.ctx.threshold(me)

        async def republish_keys() -> None:
            await node._publish(SECAGG_KEYS_KIND.kind, advert.to_payload(), rs.round)

        await self._gather(
            rs, lambda: holders <= set(sr.adverts), lambda: len(holders & set(sr.adverts)) + 1 >= need, republish_keys
        )
        packet = runner.share({r: a for r, a in sr.adverts.items() if r in holders})

        async def republish_shares() -> None:
            await node._publish(SECAGG_SHARES_KIND.kind, packet.to_payload(), rs.round)

        await republish_shares()
        for sender, received in list(sr.packets.items()):
            self._take_shares(rs, sr, sender, received)
        await self._gather(rs, lambda: runner.recipients <= set(runner.held), lambda: True, republish_shares)
        update, _ = await trio.to_thread.run_sync(node._read_update, rs, made.data, me)
        masked = await trio.to_thread.run_sync(runner.mask, flatten(update.delta), update.num_examples)
        data = masked.encode()
        cid = await node.ctx.store.aadd(data)
        rs.my_update_cid = cid
        sr.inputs[me] = (masked, cid)
        rs.poke()
        for survivor_set in list(sr.survivor_sets.values()):  # a leader may have asked already
            await self._answer(rs, sr, survivor_set)
        announcement = UpdateAnnouncement(cid, made.metrics.data_size, made.metrics.loss, made.metrics.seconds)
        leader = node._leader_now(rs)
        async with trio.open_nursery() as nursery:  # the push is on the critical path: beside the announcement
            if leader != me:
                nursery.start_soon(node._push, rs, leader, cid, data)
            nursery.start_soon(node._publish, UPDATE_KIND.kind, announcement.payload(), rs.round)
        self._emit("update.sent", rs, cid=cid, secure=True)
        rs.stats.phases.update_sent = rs.stats.phases.now()

    def _take_shares(self, rs: RoundState, sr: SecureRound, sender: str, packet: SharePacket) -> None:
        if sr.runner is None or sr.runner.phase is Phase.KEYS:
            return
        try:
            sr.runner.receive_shares(sender, packet)
        except SecAggError as exc:
            self._emit("secagg.bad_message", rs, kind="shares", sender=sender, reason=str(exc))

    async def _answer(self, rs: RoundState, sr: SecureRound, survivor_set: SurvivorSet) -> None:
        runner = sr.runner
        if runner is None or runner.phase is Phase.KEYS:
            return
        if survivor_set in sr.answered:  # asked again: our reveal may have been lost on the way (a peer died)
            given = sr.reveals[(self.node.me, survivor_set)]
            await self.node._publish(SECAGG_REVEAL_KIND.kind, given.to_payload(), rs.round)
            return
        try:
            reveal = runner.reveal(survivor_set)
        except SecAggError as exc:
            self._emit("secagg.reveal_refused", rs, reason=str(exc))
            return
        sr.answered.add(survivor_set)
        sr.reveals[(self.node.me, survivor_set)] = reveal
        rs.poke()
        await self.node._publish(SECAGG_REVEAL_KIND.kind, reveal.to_payload(), rs.round)
        self._emit("secagg.revealed", rs, shares=len(reveal.shares), survivors=len(survivor_set.survivors))

    # ---- gossip in ----------------------------------------------------------------------------------------------
    async def on_message(self, rs: RoundState, sender: str, kind: str, payload: Mapping[str, Any]) -> None:
        """A secagg_* message from `sender` (the envelope's signer). Bad ones are reported and dropped."""
        sr = self.round(rs)
        if sender not in sr.ctx.participants:
            return
        try:
            if kind == SECAGG_KEYS_KIND.kind:
                advert = sr.adverts.setdefault(sender, KeyAdvert.from_payload(payload))
                if sr.runner is not None:
                    sr.runner.add_advert(sender, advert)
                    late = sr.runner.late_shares(sender)  # we shared before its keys came: its share, now
                    if late is not None:
                        await self.node._publish(SECAGG_SHARES_KIND.kind, late.to_payload(), rs.round)
            elif kind == SECAGG_SHARES_KIND.kind:
                packet = SharePacket.from_payload(payload)
                known = sr.packets.get(sender)  # a runner may send a packet, then late shares for late holders
                sr.packets[sender] = SharePacket({**packet.sealed, **(known.sealed if known else {})})
                self._take_shares(rs, sr, sender, packet)
            elif kind == SECAGG_SURVIVORS_KIND.kind:
                survivor_set = SurvivorSet.from_payload(payload)
                eligible = {self.node._leader_at(rs, s) for s in range(self.node._step_now(rs) + 1)}
                if sender not in eligible:
                    self._emit("secagg.bad_message", rs, kind=kind, sender=sender, reason="not an eligible leader")
                    return
                if sr.survivor_sets.setdefault(sender, survivor_set) == survivor_set:
                    await self._answer(rs, sr, survivor_set)
            elif kind == SECAGG_REVEAL_KIND.kind:
                reveal = Reveal.from_payload(payload)
                sr.reveals.setdefault((sender, reveal.survivor_set), reveal)
        except SecAggError as exc:
            self._emit("secagg.bad_message", rs, kind=kind, sender=sender, reason=str(exc))
        rs.poke()

    # ---- the update stream protocol -----------------------------------------------------------------------------
    def admit(self, rs: RoundState, sender: str, offer: UpdateOffer) -> Verdict:
        """The update protocol's first check, for a masked input: once per runner, within the masked size."""
        sr = self.round(rs)
        if sender in sr.inputs:
            return Verdict.reject("an update from this runner is already here")
        assert rs.global_state is not None
        limit = 8 * vector_length(rs.global_state) + MASKED_HEADER_ALLOWANCE
        if offer.size > limit:
            return Verdict.reject(f"{offer.size} bytes exceeds this model's masked size {limit}")
        return Verdict.accept()

    async def accept(self, rs: RoundState, sender: str, cid: str, data: bytes) -> str:
        """Keep a masked input for `sender` if its bytes hash to `cid`, decode, and carry the sender's data size.
        Returns why it was refused, or ""."""
        checked = await self._check(rs, sender, cid, data)
        if isinstance(checked, str):
            return checked
        await self.node.ctx.store.aadd(data)
        self.round(rs).inputs.setdefault(sender, (checked, cid))
        rs.poke()
        return ""

    async def _check(self, rs: RoundState, sender: str, cid: str, data: bytes) -> MaskedInput | str:
        """The decoded masked input, or why it is refused."""
        assert rs.global_state is not None
        length = vector_length(rs.global_state)
        if await trio.to_thread.run_sync(compute_cid, data) != cid:
            return "the bytes do not hash to the announced CID"
        try:
            masked = MaskedInput.decode(data, expected_length=length, dtype=self.params.word_dtype)
        except SecAggError as exc:
            self._emit("update.rejected", rs, runner=sender, reason=str(exc))
            return str(exc)
        work = self.node._work()
        sizes, cap = work.expected_sizes, work.max_private_size
        expected = sizes.get(sender) if sizes is not None else None
        if (expected is not None and masked.weight != expected) or (cap is not None and masked.weight > cap):
            reason = f"masked input claims {masked.weight} samples (shard {expected}, cap {cap})"
            self._emit("update.rejected", rs, runner=sender, reason=reason)
            return reason
        return masked

    async def _pull(self, rs: RoundState, sr: SecureRound, sender: str, cid: str) -> None:
        assert rs.global_state is not None
        try:
            data = await self.node.ctx.store.aget(cid, max_size=8 * vector_length(rs.global_state) + 65536)
        except StorageError as exc:
            self._emit("update.fetch_failed", rs, reason=str(exc))
            return
        finally:
            sr.fetching.discard(sender)
        if sender not in sr.inputs:
            await self.accept(rs, sender, cid, data)

    # ---- leader -------------------------------------------------------------------------------------------------
    async def collect_and_unmask(self, rs: RoundState, window: RoundWindow) -> bool:
        """Collect masked inputs like plain updates, pick the survivors, gather reveals and unmask. On success
        `rs.updates` holds one update per survivor carrying the weighted mean (see `mean_updates`)."""
        node = self.node
        sr = self.round(rs)
        assert node.view is not None and rs.global_state is not None
        params = node.view.params
        # Below the share threshold nothing can be unmasked (and honest runners refuse to reveal): wait for more.
        needed = max(params.min_participants, min(sr.ctx.threshold(r) for r in sr.ctx.participants))
        survivor_set: SurvivorSet | None = None
        async with trio.open_nursery() as fetchers:
            while survivor_set is None:
                for sender, announcement in list(rs.announcements.items()):
                    if sender not in sr.inputs and sender not in sr.fetching:
                        sr.fetching.add(sender)
                        fetchers.start_soon(self._pull, rs, sr, sender, announcement.update_cid)
                decision = collect_decision(node._now(), window, len(sr.inputs), len(node.participants), needed)
                if decision is Collect.GIVE_UP:
                    break
                if decision is Collect.AGGREGATE:
                    survivor_set = self._survivors(rs, sr)
                if survivor_set is None:
                    with trio.move_on_after(0.2):
                        await rs.changed.wait()
            fetchers.cancel_scope.cancel()
        rs.stats.phases.collected = rs.stats.phases.now()
        if survivor_set is None:
            self._emit("round.no_quorum", rs, updates=len(sr.inputs), needed=needed)
            return False
        sr.survivor_sets[node.me] = survivor_set

        async def ask() -> None:  # again while reveals are missing: a message can be lost when a peer dies
            await node._publish(SECAGG_SURVIVORS_KIND.kind, survivor_set.to_payload(), rs.round)

        await ask()
        self._emit("secagg.survivors", rs, survivors=len(survivor_set.survivors), dropped=len(survivor_set.dropped))
        await self._answer(rs, sr, survivor_set)
        timeout = window.failover_at - node._now()
        result = await self._unmask_when_revealed(rs, sr, survivor_set, timeout, sr.inputs, ask)
        if isinstance(result, str):
            self._emit("secagg.failed", rs, step="unmask", reason=result)
            return False
        rs.updates = self._updates(rs, sr, result, sr.inputs)
        self._emit("secagg.unmasked", rs, survivors=len(result.survivors), dropped=len(result.dropped))
        return True

    def _survivors(self, rs: RoundState, sr: SecureRound) -> SurvivorSet | None:
        """The survivor set of the inputs at hand, or None while some neighbourhood is below its threshold."""
        assert self.node.view is not None
        try:
            survivor_set = choose_survivors(sr.ctx, sr.masked())
            if len(survivor_set.survivors) >= self.node.view.params.min_participants:
                return survivor_set
            reason = f"{len(survivor_set.survivors)} survivors, below min_participants"
        except SecAggError as exc:
            reason = str(exc)
        if reason != sr.waiting:  # once per new reason: it is what a stalled leader is waiting for
            sr.waiting = reason
            self._emit("secagg.waiting", rs, inputs=len(sr.inputs), reason=reason)
        return None

    async def _unmask_when_revealed(
        self,
        rs: RoundState,
        sr: SecureRound,
        survivor_set: SurvivorSet,
        timeout: float,
        inputs: Mapping[str, tuple[MaskedInput, str]],
        ask_again: Callable[[], Any] | None = None,
    ) -> UnmaskedSum | str:
        """The unmasked sum as soon as enough reveals are in; the last reason it failed when time runs out. A leader
        passes `ask_again`, called after every REVEAL_RETRY_S without news."""
        reason = "no reveals arrived"
        with trio.move_on_after(max(0.0, timeout)):
            while True:
                masked = {r: inputs[r][0] for r in survivor_set.survivors if r in inputs}
                try:
                    return await trio.to_thread.run_sync(
                        unmask, sr.ctx, sr.adverts, masked, survivor_set, sr.reveals_for(survivor_set)
                    )
                except NotEnoughShares as exc:
                    if str(exc) != reason:
                        self._emit("secagg.waiting", rs, reveals=len(sr.reveals_for(survivor_set)), reason=str(exc))
                    reason = str(exc)
                except SecAggError as exc:
                    return str(exc)
                with trio.move_on_after(REVEAL_RETRY_S) as quiet:
                    await rs.changed.wait()
                if quiet.cancelled_caught and ask_again is not None:
                    await ask_again()
        return reason

    def _updates(
        self, rs: RoundState, sr: SecureRound, result: UnmaskedSum, inputs: Mapping[str, tuple[MaskedInput, str]]
    ) -> dict[str, Any]:
        assert rs.global_state is not None
        mean = unflatten(result.mean(sr.ctx), rs.global_state)
        weights = {r: inputs[r][0].weight for r in result.survivors}
        return {u.runner: (u, inputs[u.runner][1]) for u in mean_updates(mean, weights)}

    # ---- follower -----------------------------------------------------------------------------------------------
    async def recompute_problems(self, rs: RoundState, p: ProposalMessage) -> list[str]:
        """Unmask the included masked inputs with the reveals for the leader's survivor set, aggregate as the
        leader should have, and compare with its model."""
        node = self.node
        leader = next((who for who, q in rs.proposals.items() if q is p), "")
        sr = self.round(rs)
        work, state = node._work(), rs.global_state
        assert state is not None
        with trio.move_on_after(REVEAL_WAIT_S):
            while leader not in sr.survivor_sets:
                await rs.changed.wait()
        survivor_set = sr.survivor_sets.get(leader)
        if survivor_set is None:
            return ["the leader's survivor set never arrived"]
        included = {runner_id(u.runner): u for u in p.included}
        if set(included) != set(survivor_set.survivors):
            return ["the included runners are not the leader's survivor set"]
        try:
            chosen: dict[str, tuple[MaskedInput, str]] = {}  # exactly the masked inputs the proposal names
            for runner, item in included.items():
                known = sr.inputs.get(runner)
                if known is not None and known[1] == item.update_cid:
                    chosen[runner] = known
                    continue
                data = await node.ctx.store.aget(item.update_cid, max_size=8 * vector_length(state) + 65536)
                checked = await self._check(rs, runner, item.update_cid, data)
                if isinstance(checked, str):
                    return [f"masked input of {runner}: {checked}"]
                chosen[runner] = (checked, item.update_cid)
            if any(chosen[r][0].weight != item.data_size for r, item in included.items()):
                return ["a masked input carries another data size than the proposal lists"]
            result = await self._unmask_when_revealed(rs, sr, survivor_set, REVEAL_WAIT_S, chosen)
            if isinstance(result, str):
                return [f"cannot unmask: {result}"]
            updates = [u for u, _ in self._updates(rs, sr, result, chosen).values()]
            recomputed = await trio.to_thread.run_sync(aggregate, work, rs.round, state, updates, rs.server_state)
            data = await node.ctx.store.aget(p.model_cid)
            proposed, proposed_server = await trio.to_thread.run_sync(read_global, work, data, state)
        except (StorageError, LearningError) as exc:
            return [f"cannot recompute: {exc}"]
        return models_match(
            {k: v.numpy() for k, v in pack(proposed, proposed_server).items()},
            {k: v.numpy() for k, v in pack(recomputed.state, recomputed.server_state).items()},
        )

    # ---- helpers ------------------------------------------------------------------------------------------------
    async def _gather(
        self, rs: RoundState, complete: Callable[[], bool], enough: Callable[[], bool], republish: Callable[[], Any]
    ) -> None:
        """Wait until `complete()`, or until GRACE_S passed and `enough()`. Meanwhile our own message is published
        again every REPUBLISH_S: a node that had not opened the round yet dropped the first copy (receivers keep the
        first copy of each, so repeats are harmless). Bounded by the round, which cancels this at its end."""
        deadline = trio.current_time() + GRACE_S
        while not complete():
            if trio.current_time() >= deadline and enough():
                return
            await republish()
            with trio.move_on_after(REPUBLISH_S):
                while not complete():
                    await rs.changed.wait()

    def _emit(self, event: str, rs: RoundState, **data: Any) -> None:
        self.node.ctx.emit(event, {"session": self.node.session_id, "round": rs.round, **data})
