"""The network drill's watcher: follows a session on-chain, cuts one host off for a span of rounds, and records
who contributed to each round (from the on-chain `roundsDone` of each runner, read every time a round closes).

It never steers the nodes: it only reads the chain and flips the switch's cut, so what it records is what the
network did by itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import trio

from netlab.errors import NetlabError
from netlab.lab import NetLab
from netlab.runners import Runner
from parity_p2p.chain import ChainClient, SessionStatus
from parity_p2p.consensus.election import leader_at
from parity_p2p.node.api.client import NodeApiClient, endpoint_for
from parity_p2p.node.events import Event

POLL_S = 0.1  # fast enough that the cut lands before the cut host can fetch, train and push (several RTTs)


class DrillTimeout(NetlabError):
    def __init__(self, what: str, seconds: float, seen: list[RoundOutcome]) -> None:
        super().__init__(f"timed out after {seconds:g} s waiting for {what}; rounds so far: {seen}")
        self.rounds = seen


@dataclass(frozen=True)
class RoundOutcome:
    rounds: tuple[int, ...]  # usually one; two if both closed between two polls
    closed_at_s: float  # since the session started
    leader: str  # host name of the leader that posted the (last) round
    failover_step: int
    first_choice: str  # host name of the round's step-0 leader
    contributors: tuple[str, ...]  # host names whose roundsDone rose


@dataclass(frozen=True)
class CutPlan:
    host: Runner
    from_round: int  # cut when this round opens
    until_round: int  # rejoin when this round opens


@dataclass(frozen=True)
class DrillRecord:
    session_id: int
    rounds: tuple[RoundOutcome, ...]
    cut_host: str
    cut_at_s: float
    cut_unix: float
    rejoined_at_s: float
    rejoined_unix: float  # wall clock, to line the node's own events up with the rejoin
    completed_at_s: float
    final_model_cid: str

    def contributions(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.rounds:
            for name in outcome.contributors:
                counts[name] = counts.get(name, 0) + len(outcome.rounds)
        return counts

    def contributors_of(self, number: int) -> tuple[str, ...]:
        return next((o.contributors for o in self.rounds if number in o.rounds), ())


def pick_cut_host(candidates: list[Runner], seed: bytes, participants: list[str], rounds: range) -> Runner:
    """A runner that is not the first-choice leader of `rounds`: cutting a leader costs a whole round timeout of
    failover (tested elsewhere), which would not fit the drill's time budget. Falls back to the first candidate."""
    leaders = {leader_at(seed, r, 0, participants).lower() for r in rounds}
    return next((c for c in candidates if c.address.lower() not in leaders), candidates[0])


async def watch(
    owner: ChainClient, session_id: int, runners: list[Runner], lab: NetLab, plan: CutPlan, timeout: float
) -> DrillRecord:
    names = {r.address.lower(): r.host.name for r in runners}
    view = await owner.sessions.get_session(session_id)
    participants = await owner.sessions.participants(session_id)
    start = time.monotonic()
    seen_round = view.current_round
    done = await _rounds_done(owner, runners)
    outcomes: list[RoundOutcome] = []
    cut_at = cut_unix = rejoined_at = rejoined_unix = 0.0
    with trio.move_on_after(timeout):
        while True:
            view = await owner.sessions.get_session(session_id)
            active = view.status is SessionStatus.ACTIVE
            if active and not cut_at and view.current_round >= plan.from_round:
                lab.cut(plan.host.host)
                cut_at, cut_unix = time.monotonic() - start, time.time()
            if active and cut_at and not rejoined_at and view.current_round >= plan.until_round:
                lab.rejoin(plan.host.host)
                rejoined_at, rejoined_unix = time.monotonic() - start, time.time()
            closed_to = view.current_round if active else view.params.total_rounds + 1
            if closed_to > seen_round:
                now_done = await _rounds_done(owner, runners)
                record = await owner.sessions.get_round(session_id, closed_to - 1)
                step = next(
                    k for k in range(len(participants) + 1)
                    if leader_at(view.seed, closed_to - 1, k, participants) == record.leader
                )  # fmt: skip
                first = leader_at(view.seed, closed_to - 1, 0, participants)
                outcomes.append(RoundOutcome(
                    tuple(range(seen_round, closed_to)), time.monotonic() - start, names[record.leader.lower()], step,
                    names[first.lower()],
                    tuple(sorted(n for n, c in now_done.items() if c > done[n])),
                ))  # fmt: skip
                seen_round, done = closed_to, now_done
            if not active:
                break
            await trio.sleep(POLL_S)
    if view.status is not SessionStatus.COMPLETED:
        raise DrillTimeout(f"session {session_id} to complete (it is {view.status.name})", timeout, outcomes)
    return DrillRecord(
        session_id, tuple(outcomes), plan.host.host.name, cut_at, cut_unix, rejoined_at, rejoined_unix,
        time.monotonic() - start,
        view.final_model_cid,
    )  # fmt: skip


async def _rounds_done(owner: ChainClient, runners: list[Runner]) -> dict[str, int]:
    return {r.host.name: (await owner.sessions.reputation(r.address)).rounds_done for r in runners}


async def replay_events(runner: Runner, *, quiet_s: float = 1.5, limit_s: float = 15.0) -> list[Event]:
    """Every event the runner's node still holds (replayed from seq 0), read until it has been quiet `quiet_s`."""
    events: list[Event] = []
    async with NodeApiClient(*endpoint_for(runner.home)) as node, node.events(since=0) as stream:
        with trio.move_on_after(limit_s):
            while True:
                with trio.move_on_after(quiet_s) as quiet:
                    events.append(await stream.__anext__())
                if quiet.cancelled_caught:
                    break
    return events
