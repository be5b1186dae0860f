"""`scripts/demo.sh`: a local network of real processes trains a model in a real session, and says what happened.

anvil + the contracts + N `parity-node start` processes (registered, staked, connected over libp2p on 127.0.0.1).
The creator stores the Iris CSV and the session spec through a node, creates the session on-chain, and starts it
once the nodes have joined by themselves. The nodes then elect leaders, train, exchange updates, attest and post
every round with no coordinator; this script only watches the chain. At the end it prints the per-round table and
the rewards, writes the loss/accuracy plot and the trained model, and stops everything it started.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from eth_account import Account

from parity_p2p.chain import ChainClient, ChainError, Deployment, SessionParams, SessionStatus, SessionView
from parity_p2p.consensus.election import leader_at
from parity_p2p.devnet.anvil import AnvilStartError
from parity_p2p.devnet.network import Devnet, DevnetError, DevnetNode, DevnetState
from parity_p2p.devnet.report import RewardRow, RoundRow, format_reward_table, format_round_table, write_plot
from parity_p2p.learning.codec import DecodeLimits, decode_model
from parity_p2p.learning.errors import LearningError
from parity_p2p.learning.export import export_model_json, export_model_safetensors
from parity_p2p.learning.models import build_model, model_state
from parity_p2p.learning.partition import SplitSpec
from parity_p2p.learning.server_state import model_file_specs, unpack
from parity_p2p.learning.strategies.registry import available_strategies
from parity_p2p.node.api.client import NodeApiClient, endpoint_for
from parity_p2p.node.errors import NodeError
from parity_p2p.session_spec import SessionSpec, SpecError, TrainingSpec
from parity_p2p.storage.errors import StorageError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNIT = 10**18
SCALE = 1_000_000  # loss and accuracy go on-chain as integers scaled by 1e6
MAX_RUNNERS = 16


@dataclass(frozen=True)
class DemoOptions:
    runners: int
    rounds: int
    split: str
    alpha: float
    aggregation: str
    local_epochs: int
    learning_rate: float
    round_timeout: int
    out: Path
    kill_leader_round: int


@dataclass(frozen=True)
class DemoResult:
    session_id: int
    pool: int
    rounds: tuple[RoundRow, ...]
    rewards: tuple[RewardRow, ...]
    creator_dust: int
    killed: str


def parse_args(argv: list[str] | None) -> DemoOptions:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh",
        description="Run a local Parity P2P network (anvil + runner nodes) and train Iris in a real session.",
    )
    parser.add_argument("--runners", type=int, default=4, help=f"runner nodes, 2-{MAX_RUNNERS} (default 4)")
    parser.add_argument("--rounds", type=int, default=10, help="training rounds (default 10)")
    parser.add_argument("--split", default="non_iid", choices=["random", "non_iid", "stratified", "label_skew"])
    parser.add_argument("--alpha", type=float, default=0.5, help="Dirichlet alpha for non_iid (default 0.5)")
    parser.add_argument("--aggregation", default="fedavg", help="strategy name (default fedavg)")
    parser.add_argument("--local-epochs", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--round-timeout", type=int, default=30, help="seconds before a silent leader is replaced")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    parser.add_argument(
        "--kill-leader-round", type=int, default=0,
        help="SIGKILL the elected leader's node when this round starts, to show failover (0: off)",
    )  # fmt: skip
    ns = parser.parse_args(argv)
    if not 2 <= ns.runners <= MAX_RUNNERS:
        parser.error(f"--runners must be between 2 and {MAX_RUNNERS}")
    if not 1 <= ns.rounds <= 100:
        parser.error("--rounds must be between 1 and 100")
    if ns.alpha <= 0:
        parser.error("--alpha must be > 0")
    if ns.aggregation not in available_strategies():
        parser.error(f"--aggregation must be one of {', '.join(available_strategies())}")
    if ns.round_timeout < 10:
        parser.error("--round-timeout must be at least 10 (the contract's minimum)")
    if not 0 <= ns.kill_leader_round <= ns.rounds:
        parser.error("--kill-leader-round must be 0 (off) or a round number")
    if ns.kill_leader_round and ns.runners < 3:
        parser.error("--kill-leader-round needs at least 3 runners (the rest must still reach the quorum)")
    return DemoOptions(
        ns.runners, ns.rounds, ns.split, ns.alpha, ns.aggregation, ns.local_epochs, ns.learning_rate,
        ns.round_timeout, ns.out, ns.kill_leader_round,
    )  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {text}", flush=True)


def run(options: DemoOptions, clock: Clock) -> DemoResult:
    """Bring the devnet up, play the session, bring it down (also on failure and Ctrl-C)."""
    out = options.out.resolve()
    if out.exists():
        import shutil

        shutil.rmtree(out)  # a fresh chain every run: old data dirs would point at a dead deployment
    out.mkdir(parents=True)
    with Devnet(out / "devnet", options.runners) as net:
        state = net.up(clock.say)
        return trio.run(_session, options, clock, state, out)


def iris_spec(options: DemoOptions, dataset_cid: str) -> SessionSpec:
    """The demo's session spec (also used by bench/rounds.py)."""
    return SessionSpec(
        name="iris-demo",
        description="The guide's Iris session on a local network",
        model=json.loads((EXAMPLES / "iris_model.json").read_text()),
        dataset_cid=dataset_cid,
        split=SplitSpec(strategy=options.split, alpha=options.alpha),  # type: ignore[arg-type]
        training=TrainingSpec(learning_rate=options.learning_rate, batch_size=8, local_epochs=options.local_epochs),
        aggregation=options.aggregation,
    )


async def create_iris_session(
    options: DemoOptions, owner: ChainClient, node: NodeApiClient, min_participants: int
) -> tuple[int, SessionSpec, str, int]:
    """The creator's part, as a user does it: the Iris CSV and the spec stored through a node, the pool funded and
    approved, the session created on-chain. Returns (session id, spec, spec CID, pool)."""
    dataset_cid = await node.add_content((EXAMPLES / "iris.csv").read_bytes())
    spec = iris_spec(options, dataset_cid)
    spec_cid = await node.add_content(spec.canonical_json())
    pool = 1000 * UNIT
    await owner.token.faucet(pool)
    await owner.token.approve(owner.deployment.session_manager, pool)
    params = SessionParams(
        name=spec.name, dataset_cid=dataset_cid, spec_cid=spec_cid, spec_hash=spec.spec_hash,
        total_rounds=options.rounds, min_participants=min_participants, max_participants=options.runners,
        round_timeout=options.round_timeout, min_stake=100 * UNIT, reward_pool=pool,
    )  # fmt: skip
    return await owner.sessions.create_session(params), spec, spec_cid, pool


async def _session(options: DemoOptions, clock: Clock, state: DevnetState, out: Path) -> DemoResult:
    deployment = Deployment.load(state.deployment_file)
    url, token = endpoint_for(state.nodes[0].data_dir)
    async with (
        await ChainClient.connect(deployment, account=Account.from_key(state.creator_key)) as owner,
        NodeApiClient(url, token) as node,
    ):
        minimum = options.runners - 1 if options.kill_leader_round else options.runners
        session_id, spec, spec_cid, pool = await create_iris_session(options, owner, node, minimum)
        dataset_cid = spec.dataset_cid
        clock.say(f"session {session_id} created: dataset {dataset_cid}, spec {spec_cid}, pool {pool // UNIT} USDFC")
        await wait_for_view(
            lambda v: v.participant_count == options.runners, owner, session_id, 120, "the nodes to join"
        )
        clock.say(f"all {options.runners} nodes joined by themselves; starting the session")
        await owner.sessions.start_session(session_id)
        killed = await _watch(options, clock, owner, state, session_id)
        view = await owner.sessions.get_session(session_id)
        rows = await _round_rows(owner, session_id, view)
        rewards, dust = await _rewards(owner, state, session_id, view, killed)
        print("\n" + format_round_table(rows) + "\n")
        print(format_reward_table(rewards, "USDFC"))
        print(f"rounding dust credited back to the creator: {dust} base units\n")
        live = next(n for n in state.nodes if n.address != killed)
        async with NodeApiClient(*endpoint_for(live.data_dir)) as reader:  # any live node serves the model by CID
            await _write_outputs(reader, spec, view, rows, out, options)
        clock.say(f"wrote {out}/: loss_accuracy.png, trained_model.json, trained_model.safetensors, summary.json")
        result = DemoResult(session_id, pool, tuple(rows), tuple(rewards), dust, killed)
        (out / "summary.json").write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
        return result


async def wait_for_view(check: object, owner: ChainClient, session_id: int, timeout: float, what: str) -> SessionView:
    """Poll the session until `check(view)` holds; ChainError after `timeout` seconds."""
    with trio.move_on_after(timeout):
        while True:
            view = await owner.sessions.get_session(session_id)
            if check(view):  # type: ignore[operator]
                return view
            await trio.sleep(0.25)
    raise ChainError(f"timed out after {timeout:g} s waiting for {what}")


async def _watch(options: DemoOptions, clock: Clock, owner: ChainClient, state: DevnetState, session_id: int) -> str:
    """Print each round as the chain finalises it; kill the chosen round's leader if asked. Returns who was killed."""
    view = await owner.sessions.get_session(session_id)
    participants = await owner.sessions.participants(session_id)
    killed: list[str] = []
    async with trio.open_nursery() as nursery:
        if options.kill_leader_round:
            # The leader is known from the seed as soon as the session starts. Polling the chain for the round
            # loses the race when rounds take a few hundred ms, so the kill follows the leader's own events.
            target = leader_at(view.seed, options.kill_leader_round, 0, participants)
            node = next(n for n in state.nodes if n.address == target)
            kill = functools.partial(_kill_when_round_starts, clock, node, killed)
            await nursery.start(kill, session_id, options.kill_leader_round)
        view = await _follow_rounds(options, clock, owner, session_id, view, participants)
        nursery.cancel_scope.cancel()
    if options.kill_leader_round and not killed:
        raise DevnetError(
            f"round {options.kill_leader_round} finished before its leader could be killed (its event stream lagged);"
            " run again, or pick a later --kill-leader-round"
        )
    clock.say(f"session {session_id} completed on-chain; final model {view.final_model_cid}")
    return killed[0] if killed else ""


async def _kill_when_round_starts(
    clock: Clock, node: DevnetNode, killed: list[str], session_id: int, number: int,
    *, task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:  # fmt: skip
    """kill -9 `node` the moment it says round `number` started, before it can lead that round."""
    async with NodeApiClient(*endpoint_for(node.data_dir)) as api, api.events(since=0) as stream:
        task_status.started()
        async for event in stream:
            data = event.data
            if event.kind == "round.started" and (data.get("session"), data.get("round")) == (session_id, number):
                break
    os.killpg(node.pid, signal.SIGKILL)
    killed.append(node.address)
    clock.say(f"round {number}: killed the elected leader's node {node.address} (kill -9) as the round started")


async def _follow_rounds(
    options: DemoOptions, clock: Clock, owner: ChainClient, session_id: int, view: SessionView, participants: list[str]
) -> SessionView:
    """Say each round as the chain finalises it, until the session ends; the completed view."""
    seen = 0
    deadline = trio.current_time() + options.rounds * options.round_timeout * (options.runners + 2)
    while view.status is SessionStatus.ACTIVE and trio.current_time() < deadline:
        for number in range(seen + 1, view.current_round):
            await _say_round(clock, owner, session_id, number, options.rounds, view.seed, participants)
            seen = number
        await trio.sleep(0.25)
        view = await owner.sessions.get_session(session_id)
    if view.status is not SessionStatus.COMPLETED:
        raise ChainError(f"session {session_id} ended as {view.status.name}, not COMPLETED: see the node logs")
    for number in range(seen + 1, options.rounds + 1):
        await _say_round(clock, owner, session_id, number, options.rounds, view.seed, participants)
    return view


def _failover_step(seed: bytes, number: int, participants: list[str], leader: str) -> int:
    return next(k for k in range(len(participants) + 1) if leader_at(seed, number, k, participants) == leader)


async def _say_round(
    clock: Clock, owner: ChainClient, session_id: int, number: int, total: int, seed: bytes, participants: list[str]
) -> None:
    record = await owner.sessions.get_round(session_id, number)
    step = _failover_step(seed, number, participants, record.leader)
    failover = f" after {step} failover step(s)" if step else ""
    clock.say(
        f"round {number}/{total}: leader {record.leader[:10]}…{failover} posted {record.model_cid[:24]}…; "
        f"eval loss {record.loss / SCALE:.4f}, accuracy {record.accuracy / SCALE:.3f}"
    )


async def _round_rows(owner: ChainClient, session_id: int, view: SessionView) -> list[RoundRow]:
    participants = await owner.sessions.participants(session_id)
    rows = []
    for number in range(1, view.params.total_rounds + 1):
        record = await owner.sessions.get_round(session_id, number)
        step = _failover_step(view.seed, number, participants, record.leader)
        rows.append(
            RoundRow(number, record.leader, step, record.loss / SCALE, record.accuracy / SCALE, record.model_cid)
        )
    return rows


async def _rewards(
    owner: ChainClient, state: DevnetState, session_id: int, view: SessionView, killed: str
) -> tuple[list[RewardRow], int]:
    """Each runner's points and reward; live nodes claim by themselves, so wait for their owed balance to clear."""
    alive = [n.address for n in state.nodes if n.address != killed]

    async def all_claimed() -> bool:
        return all([await owner.sessions.owed(a) == 0 for a in alive])

    with trio.move_on_after(30):
        while not await all_claimed():
            await trio.sleep(0.25)
    rows = []
    for node in state.nodes:
        points = await owner.sessions.points_of(session_id, node.address)
        rep = await owner.sessions.reputation(node.address)
        reward = view.params.reward_pool * points // view.total_points if view.total_points else 0
        unclaimed = await owner.sessions.owed(node.address)
        rows.append(
            RewardRow(node.address, points, reward, unclaimed == 0, rep.rounds_done, rep.leaderships_done,
                      rep.leaderships_missed)
        )  # fmt: skip
    return rows, await owner.sessions.owed(owner.address or "")


async def _write_outputs(
    node: NodeApiClient, spec: SessionSpec, view: SessionView, rows: list[RoundRow], out: Path, options: DemoOptions
) -> None:
    """The final model, fetched by CID through a node and decoded strictly, exported two ways; and the plot."""
    config = spec.model_config
    template = model_state(build_model(config))
    data = await node.get_content(view.final_model_cid)
    stored, _ = decode_model(data, expected=model_file_specs(template, spec.build_strategy()), limits=DecodeLimits())
    state, _ = unpack(stored)  # the strategy's server state (FedAdam's moments) stays behind
    metrics = {"loss": rows[-1].eval_loss, "accuracy": rows[-1].eval_accuracy}
    (out / "trained_model.json").write_bytes(export_model_json(state, config, metrics))
    (out / "trained_model.safetensors").write_bytes(export_model_safetensors(state, config, metrics))
    write_plot(rows, out / "loss_accuracy.png", f"Iris, {options.runners} runner nodes, {options.aggregation}")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    clock = Clock()
    try:
        run(options, clock)
    except KeyboardInterrupt:
        print("\ninterrupted: everything the demo started has been stopped", file=sys.stderr)
        return 130
    except (AnvilStartError, ChainError, DevnetError, LearningError, NodeError, SpecError, StorageError) as exc:
        print(f"demo failed: {exc}\n(node logs: {options.out}/devnet/node*/node.log)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
