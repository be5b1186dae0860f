"""Round overhead: the Iris session on the local network (anvil + N real parity-node processes), per round.

Wall time per round is taken by this process polling the chain every 50 ms (block timestamps have 1 s
resolution: too coarse for rounds of a second or two; they are reported beside it as a cross-check). Training
time is what the nodes report (GET /v1/sessions/{id}/rounds, `local.train_seconds`); nodes train in parallel, so
the round's training time is the slowest node's. Non-training overhead = wall time - that. It includes transfer,
aggregation, verification, chain confirmation and polling, not yet split further.

    .venv/bin/python bench/rounds.py [--runners 4 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import trio
from eth_account import Account

from parity_p2p.chain import ChainClient, Deployment, SessionParams, SessionStatus
from parity_p2p.devnet.demo import DemoOptions, iris_spec, wait_for_view
from parity_p2p.devnet.network import Devnet, DevnetState
from parity_p2p.node.api.client import NodeApiClient, endpoint_for

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RESULTS = Path(__file__).resolve().parent / "results"
UNIT = 10**18
POLL_S = 0.05


@dataclass(frozen=True)
class RoundTiming:
    round: int
    wall_seconds: float
    chain_seconds: int
    train_seconds_max: float
    train_seconds_median: float
    overhead_seconds: float


@dataclass(frozen=True)
class RoundsResult:
    runners: int
    rounds: list[RoundTiming]
    median_wall_seconds: float
    median_train_seconds: float
    median_overhead_seconds: float
    final_accuracy: float
    devnet_up_seconds: float


async def _session(options: DemoOptions, state: DevnetState) -> tuple[list[RoundTiming], float]:
    deployment = Deployment.load(state.deployment_file)
    async with (
        await ChainClient.connect(deployment, account=Account.from_key(state.creator_key)) as owner,
        NodeApiClient(*endpoint_for(state.nodes[0].data_dir)) as node,
    ):
        dataset_cid = await node.add_content((EXAMPLES / "iris.csv").read_bytes())
        spec = iris_spec(options, dataset_cid)
        spec_cid = await node.add_content(spec.canonical_json())
        pool = 1000 * UNIT
        await owner.token.faucet(pool)
        await owner.token.approve(deployment.session_manager, pool)
        params = SessionParams(
            name=spec.name, dataset_cid=dataset_cid, spec_cid=spec_cid, spec_hash=spec.spec_hash,
            total_rounds=options.rounds, min_participants=options.runners, max_participants=options.runners,
            round_timeout=options.round_timeout, min_stake=100 * UNIT, reward_pool=pool,
        )  # fmt: skip
        session_id = await owner.sessions.create_session(params)
        await wait_for_view(
            lambda v: v.participant_count == options.runners, owner, session_id, 120, "the nodes to join"
        )
        await owner.sessions.start_session(session_id)
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
                await trio.sleep(POLL_S)
        if view.status is not SessionStatus.COMPLETED:
            raise RuntimeError(f"session {session_id} ended as {view.status.name}: see the node logs")
        await trio.sleep(1.0)  # the nodes' own round records settle after they see the finalisation
        local: dict[int, list[float]] = {}
        for devnet_node in state.nodes:
            async with NodeApiClient(*endpoint_for(devnet_node.data_dir)) as api:
                for info in await api.rounds(session_id):
                    train = info.local.get("train_seconds")
                    if isinstance(train, (int, float)):
                        local.setdefault(info.round, []).append(float(train))
        records = [await owner.sessions.get_round(session_id, n) for n in range(1, options.rounds + 1)]
        timings = []
        previous_end, previous_chain = started, 0
        for number, record in enumerate(records, start=1):
            wall = ends[number] - previous_end
            trains = local.get(number, [0.0])
            chain = record.finalized_at - previous_chain if previous_chain else 0
            slowest = max(trains)
            timings.append(RoundTiming(number, wall, chain, slowest, statistics.median(trains), wall - slowest))
            previous_end, previous_chain = ends[number], record.finalized_at
        return timings, records[-1].accuracy / 1_000_000


def measure(runners: int, rounds: int) -> RoundsResult:
    with tempfile.TemporaryDirectory(prefix="bench-rounds-") as root:
        options = DemoOptions(runners, rounds, "non_iid", 0.5, "fedavg", 2, 0.05, 30, Path(root), 0)
        with Devnet(Path(root) / "devnet", runners) as net:
            up_started = time.monotonic()
            state = net.up(lambda _text: None)
            up_seconds = time.monotonic() - up_started
            timings, accuracy = trio.run(_session, options, state)
    # Round 1 also pays for fetching the dataset and spec and building the model: reported, left out of medians.
    steady = timings[1:] if len(timings) > 1 else timings
    result = RoundsResult(
        runners, timings,
        statistics.median(t.wall_seconds for t in steady),
        statistics.median(t.train_seconds_max for t in steady),
        statistics.median(t.overhead_seconds for t in steady),
        accuracy, up_seconds,
    )  # fmt: skip
    print(
        f"rounds {runners:2} nodes: wall {result.median_wall_seconds:.3f} s/round, training (slowest node) "
        f"{result.median_train_seconds:.3f} s, non-training overhead {result.median_overhead_seconds:.3f} s "
        f"(median of rounds 2..{rounds}); final accuracy {accuracy:.3f}",
        flush=True,
    )
    return result


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
    return "\n".join(lines) + "\n"


def run(runners: tuple[int, ...] = (4, 8), rounds: int = 5) -> list[RoundsResult]:
    results = [measure(n, rounds) for n in runners]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rounds.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(markdown(run(tuple(args.runners), args.rounds)))


if __name__ == "__main__":
    main()
