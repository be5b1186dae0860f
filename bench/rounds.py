"""Round overhead: the Iris session on the local network (anvil + N real parity-node processes), per round.

Wall time per round is taken by this process polling the chain every 50 ms (block timestamps have 1 s
resolution: too coarse for rounds of a second or two; they are reported beside it as a cross-check). Training
time is what the nodes report (GET /v1/sessions/{id}/rounds, `local.train_seconds`); nodes train in parallel, so
the round's training time is the slowest node's. Non-training overhead = wall time - that.

The split comes from the nodes' own phase marks (`local.phases`: seconds since the node opened the round, plus the
raw `time.monotonic()` of the opening; that clock is system-wide on Linux, so marks of all node processes line up).
The leader's view follows the critical path from the previous round's receipt to this round's receipt; its parts
add up exactly to that span (`span_seconds`):

  notice       previous receipt -> the slowest trainer opened the round (chain polling, the base-model lookup)
  base_model   it fetched and decoded the base model
  training     it trained
  transfer     its update announced and pushed -> the leader closed collection
  aggregation  aggregate, evaluate, encode, store
  attestation  proposal gossiped, followers verified and attested -> the leader held a quorum
  chain        submitRound sent -> receipt

The followers' view is each follower's own sequence, median over followers: notice, base_model, training, send,
wait_proposal (sent -> proposal here), verify, attest, finalize_seen (attested -> it saw the round closed; polling).

    .venv/bin/python bench/rounds.py [--runners 4 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import trio
from eth_account import Account

from parity_p2p.chain import ChainClient, Deployment, SessionStatus
from parity_p2p.devnet.demo import DemoOptions, create_iris_session, wait_for_view
from parity_p2p.devnet.network import Devnet, DevnetState
from parity_p2p.node.api.client import NodeApiClient, endpoint_for

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RESULTS = Path(__file__).resolve().parent / "results"
UNIT = 10**18
POLL_S = 0.05


LEADER_PHASES = ("notice", "base_model", "training", "transfer", "aggregation", "attestation", "chain")
FOLLOWER_PHASES = (
    "notice", "base_model", "training", "send", "wait_proposal", "verify", "attest", "finalize_seen",
)  # fmt: skip


@dataclass(frozen=True)
class RoundTiming:
    round: int
    wall_seconds: float
    chain_seconds: int
    train_seconds_max: float
    train_seconds_median: float
    overhead_seconds: float
    span_seconds: float = 0.0  # previous receipt -> this receipt, from the nodes' marks (0 when marks are missing)
    leader_phases: dict[str, float] = field(default_factory=dict)  # LEADER_PHASES, summing to span_seconds
    follower_phases: dict[str, float] = field(default_factory=dict)  # FOLLOWER_PHASES, median over followers


@dataclass(frozen=True)
class RoundsResult:
    runners: int
    rounds: list[RoundTiming]
    median_wall_seconds: float
    median_train_seconds: float
    median_overhead_seconds: float
    final_accuracy: float
    devnet_up_seconds: float
    median_span_seconds: float = 0.0
    median_leader_phases: dict[str, float] = field(default_factory=dict)
    median_follower_phases: dict[str, float] = field(default_factory=dict)
    median_phase_overhead_seconds: float = 0.0  # span - training on the critical path
    session_seed: str = ""  # the session's on-chain seed (hex): with `participants`, its data split can be replayed
    participants: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SessionRun:
    timings: list[RoundTiming]
    final_accuracy: float
    session_id: int
    seed: str  # hex
    participants: list[str]


Marks = dict[str, float | None]


def _at(marks: Marks, name: str) -> float | None:
    """The absolute monotonic time of a mark, or None."""
    value, opened = marks.get(name), marks.get("opened_at")
    return None if value is None or opened is None else opened + value


def _steps(points: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(points)]


def leader_split(previous_end: float, nodes: list[Marks]) -> tuple[float, dict[str, float]] | None:
    """The leader's critical path of one round (see the module docstring); None when a mark is missing."""
    leader = next((m for m in nodes if m.get("receipt") is not None), None)
    trained = [(t, m) for m in nodes if (t := _at(m, "trained")) is not None]
    if leader is None or not trained:
        return None
    slowest_trained, slowest = max(trained, key=lambda pair: pair[0])
    path = [previous_end, slowest.get("opened_at"), _at(slowest, "base_ready"), slowest_trained]
    path += [_at(leader, k) for k in ("collected", "aggregated", "attestation_quorum", "receipt")]
    if any(t is None for t in path):
        return None
    points = [float(t) for t in path if t is not None]
    return points[-1] - points[0], dict(zip(LEADER_PHASES, _steps(points), strict=True))


def follower_split(previous_end: float, nodes: list[Marks]) -> dict[str, float]:
    """Each follower's own sequence of marks, as durations, median over the followers that have them all."""
    keys = ("base_ready", "trained", "update_sent", "proposal_received", "verified", "attested", "finalized_seen")
    rows: list[list[float]] = []
    for marks in nodes:
        if marks.get("receipt") is not None:
            continue
        points = [_at(marks, k) for k in keys]
        opened = marks.get("opened_at")
        if opened is None or any(t is None for t in points):
            continue
        series = [previous_end, opened, *(float(t) for t in points if t is not None)]
        rows.append(_steps(series))
    if not rows:
        return {}
    return {name: statistics.median(row[i] for row in rows) for i, name in enumerate(FOLLOWER_PHASES)}


async def run_session(options: DemoOptions, state: DevnetState, *, sample: object = None) -> SessionRun:
    """One Iris session on a running devnet: per-round timings, the final accuracy and the session id. `sample`, if
    callable, is called once per poll while rounds run (bench/scale.py reads the nodes' memory with it)."""
    deployment = Deployment.load(state.deployment_file)
    async with (
        await ChainClient.connect(deployment, account=Account.from_key(state.creator_key)) as owner,
        NodeApiClient(*endpoint_for(state.nodes[0].data_dir)) as node,
    ):
        session_id, *_ = await create_iris_session(options, owner, node, options.runners)
        await wait_for_view(
            lambda v: v.participant_count == options.runners, owner, session_id, 120, "the nodes to join"
        )
        await owner.sessions.start_session(session_id)
        session_started = time.monotonic()
        # Round k ends when the chain shows round k+1 open (or the session completed): seen by polling.
        ends: dict[int, float] = {}
        started = time.monotonic()
        with trio.fail_after(options.rounds * options.round_timeout * 2 + 60):
            while True:
                view = await owner.sessions.get_session(session_id)
                now = time.monotonic()
                done = options.rounds if view.status is not SessionStatus.ACTIVE else view.current_round - 1
                for number in range(1, done + 1):
                    ends.setdefault(number, now)
                if view.status is not SessionStatus.ACTIVE:
                    break
                if callable(sample):
                    sample()
                await trio.sleep(POLL_S)
        if view.status is not SessionStatus.COMPLETED:
            raise RuntimeError(f"session {session_id} ended as {view.status.name}: see the node logs")
        await trio.sleep(1.0)  # the nodes' own round records settle after they see the finalisation
        local: dict[int, list[float]] = {}
        marks: dict[int, list[Marks]] = {}
        for devnet_node in state.nodes:
            async with NodeApiClient(*endpoint_for(devnet_node.data_dir)) as api:
                for info in await api.rounds(session_id):
                    train = info.local.get("train_seconds")
                    if isinstance(train, (int, float)):
                        local.setdefault(info.round, []).append(float(train))
                    phases = info.local.get("phases")
                    if isinstance(phases, dict):
                        marks.setdefault(info.round, []).append(phases)
        records = [await owner.sessions.get_round(session_id, n) for n in range(1, options.rounds + 1)]
        timings = []
        previous_end, previous_chain, previous_receipt = started, 0, session_started
        for number, record in enumerate(records, start=1):
            wall = ends[number] - previous_end
            trains = local.get(number, [0.0])
            chain = record.finalized_at - previous_chain if previous_chain else 0
            slowest = max(trains)
            nodes = marks.get(number, [])
            split = leader_split(previous_receipt, nodes)
            span, leader = split if split else (0.0, {})
            followers = follower_split(previous_receipt, nodes)
            timings.append(
                RoundTiming(
                    number, wall, chain, slowest, statistics.median(trains), wall - slowest, span, leader, followers
                )
            )
            previous_end, previous_chain = ends[number], record.finalized_at
            receipt = next((_at(m, "receipt") for m in nodes if m.get("receipt") is not None), None)
            previous_receipt = receipt if receipt is not None else ends[number]
        participants = await owner.sessions.participants(session_id)
        return SessionRun(timings, records[-1].accuracy / 1_000_000, session_id, view.seed.hex(), participants)


def demo_options(runners: int, rounds: int, root: Path) -> DemoOptions:
    return DemoOptions(runners, rounds, "non_iid", 0.5, "fedavg", 2, 0.05, 30, root, 0)


def _median_phases(rows: list[dict[str, float]], names: tuple[str, ...]) -> dict[str, float]:
    rows = [r for r in rows if r]
    return {n: statistics.median(r[n] for r in rows) for n in names} if rows else {}


def summarize(runners: int, timings: list[RoundTiming], accuracy: float, up_seconds: float) -> RoundsResult:
    """Medians over the steady rounds. Round 1 also pays for fetching the dataset and spec and building the model:
    it is reported, and left out of the medians."""
    steady = timings[1:] if len(timings) > 1 else timings
    split = [t for t in steady if t.leader_phases]
    return RoundsResult(
        runners, timings,
        statistics.median(t.wall_seconds for t in steady),
        statistics.median(t.train_seconds_max for t in steady),
        statistics.median(t.overhead_seconds for t in steady),
        accuracy, up_seconds,
        statistics.median(t.span_seconds for t in split) if split else 0.0,
        _median_phases([t.leader_phases for t in split], LEADER_PHASES),
        _median_phases([t.follower_phases for t in steady], FOLLOWER_PHASES),
        statistics.median(t.span_seconds - t.leader_phases["training"] for t in split) if split else 0.0,
    )  # fmt: skip


def measure(runners: int, rounds: int) -> RoundsResult:
    with tempfile.TemporaryDirectory(prefix="bench-rounds-") as root:
        options = demo_options(runners, rounds, Path(root))
        with Devnet(Path(root) / "devnet", runners) as net:
            up_started = time.monotonic()
            state = net.up(lambda _text: None)
            up_seconds = time.monotonic() - up_started
            done = trio.run(run_session, options, state)
    result = replace(
        summarize(runners, done.timings, done.final_accuracy, up_seconds),
        session_seed=done.seed, participants=list(done.participants),
    )  # fmt: skip
    print(
        f"rounds {runners:2} nodes: wall {result.median_wall_seconds:.3f} s/round, training (slowest node) "
        f"{result.median_train_seconds:.3f} s, non-training overhead {result.median_overhead_seconds:.3f} s "
        f"(median of rounds 2..{rounds}); final accuracy {result.final_accuracy:.3f}",
        flush=True,
    )
    print(f"  leader's path:   {_phase_text(result.median_leader_phases)}", flush=True)
    print(f"  followers' view: {_phase_text(result.median_follower_phases)}", flush=True)
    return result


def _phase_text(phases: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in phases.items()) + " (ms)"


def markdown(results: list[RoundsResult]) -> str:
    lines = [
        "## Round overhead (Iris session, local network, median of rounds 2..R)",
        "",
        "| nodes | rounds | wall s/round | training s (slowest node) | non-training overhead s | final accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.runners} | {len(r.rounds)} | {r.median_wall_seconds:.3f} | {r.median_train_seconds:.3f} | "
            f"{r.median_overhead_seconds:.3f} | {r.final_accuracy:.3f} |"
        )
    lines += [
        "",
        "Leader's critical path, previous receipt -> this receipt (ms, median per phase; the phases of one round sum "
        "to its span):",
        "",
        "| nodes | span | non-training | " + " | ".join(LEADER_PHASES) + " |",
        "|---|---|---|" + "---|" * len(LEADER_PHASES),
    ]
    for r in results:
        cells = " | ".join(f"{r.median_leader_phases.get(n, 0.0) * 1000:.0f}" for n in LEADER_PHASES)
        lines.append(
            f"| {r.runners} | {r.median_span_seconds * 1000:.0f} | {r.median_phase_overhead_seconds * 1000:.0f} | "
            f"{cells} |"
        )
    lines += [
        "",
        "Followers' view (ms, median over followers and rounds):",
        "",
        "| nodes | " + " | ".join(FOLLOWER_PHASES) + " |",
        "|---|" + "---|" * len(FOLLOWER_PHASES),
    ]
    for r in results:
        cells = " | ".join(f"{r.median_follower_phases.get(n, 0.0) * 1000:.0f}" for n in FOLLOWER_PHASES)
        lines.append(f"| {r.runners} | {cells} |")
    return "\n".join(lines) + "\n"


def run(runners: tuple[int, ...] = (4, 8, 16), rounds: int = 5, out: str = "rounds.json") -> list[RoundsResult]:
    results = [measure(n, rounds) for n in runners]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / out).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="rounds.json", help="file name under bench/results/")
    args = parser.parse_args()
    print(markdown(run(tuple(args.runners), args.rounds, args.out)))


if __name__ == "__main__":
    main()
