"""The guide's flow end to end through parity-client, on a devnet of real `parity-node` processes that train:
create-session-with-data -> (nodes join) -> start-session -> (nodes train and post) -> get-session -> get-model,
and the downloaded model scores exactly the accuracy that was posted on-chain."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import trio
from client_helpers import Cli, assert_ok

from parity_p2p.chain import ChainClient, Deployment, SessionStatus, SessionView
from parity_p2p.devnet.network import Devnet
from parity_p2p.learning.export import load_model_json
from parity_p2p.learning.trainer import evaluate
from parity_p2p.node.api.client import NodeApiClient, endpoint_for
from parity_p2p.node.work import SessionWork
from parity_p2p.session_spec import SessionSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def _view(deployment: Deployment, session_id: int) -> SessionView:
    async with await ChainClient.connect(deployment) as chain:
        return await chain.sessions.get_session(session_id)


def _wait(deployment: Deployment, session_id: int, done: object, timeout: float, what: str) -> SessionView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = trio.run(_view, deployment, session_id)
        if done(view):  # type: ignore[operator]
            return view
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def _posted_accuracy_and_work(
    deployment: Deployment, node_dir: Path, session_id: int, rounds: int
) -> tuple[float, SessionWork]:
    async with await ChainClient.connect(deployment) as chain, NodeApiClient(*endpoint_for(node_dir)) as node:
        view = await chain.sessions.get_session(session_id)
        record = await chain.sessions.get_round(session_id, rounds)
        spec = SessionSpec.from_json(await node.get_content(view.params.spec_cid))
        dataset = await node.get_content(view.params.dataset_cid)
        participants = await chain.sessions.participants(session_id)
        return record.accuracy / 1e6, SessionWork.prepare(session_id, spec, dataset, view.seed, participants)


async def _peers(node_dir: Path) -> dict[str, Any]:
    async with NodeApiClient(*endpoint_for(node_dir)) as node:
        return await node.peers()


async def _session_local(node_dir: Path, session_id: int) -> dict[str, object]:
    async with NodeApiClient(*endpoint_for(node_dir)) as node:
        return dict((await node.session(session_id)).local)


def test_create_with_data_start_get_session_and_get_model_on_training_nodes(tmp_path: Path) -> None:
    with Devnet(tmp_path / "net", runners=3) as net:
        state = net.up(lambda _line: None)
        deployment = Deployment.load(state.deployment_file)
        node_dir = state.nodes[0].data_dir
        cli = Cli({"KEY0": state.creator_key, "PARITY_DEPLOYMENT": str(state.deployment_file)})
        common = ["--key-env", "KEY0", "--data-dir", str(node_dir)]

        assert_ok(cli("token", "faucet", "--amount", "90", "--key-env", "KEY0"))
        created = cli(
            "fl", "create-session-with-data", str(EXAMPLES / "iris.csv"), "--name", "e2e", "--model-type",
            "neural_network", "--total-rounds", "2", "--min-participants", "3", "--split-strategy", "stratified",
            "--learning-rate", "0.1", "--batch-size", "8", "--local-epochs", "3", "--aggregation-method", "fedadam",
            "--config-file", str(EXAMPLES / "iris_model.json"), "--reward-pool", "90", "--round-timeout", "30",
            "--approve", "--output", "json", *common,
        )  # fmt: skip
        assert_ok(created)
        session_id = int(json.loads(created.stdout)["session_id"])

        _wait(deployment, session_id, lambda v: v.participant_count == 3, 60, "the nodes to join")
        assert_ok(cli("fl", "start-session", str(session_id), *common))
        _wait(deployment, session_id, lambda v: v.status is SessionStatus.COMPLETED, 120, "training to finish")

        shown = cli("fl", "get-session", str(session_id), "--output", "json", "--data-dir", str(node_dir))
        assert_ok(shown)
        assert json.loads(shown.stdout)["status"] == "completed"

        # FedAdam: each round's model file also carries the server optimizer's moments; get-model keeps the model.
        model_file = tmp_path / "trained_model.json"
        assert_ok(cli("fl", "get-model", str(session_id), "--output", str(model_file), "--data-dir", str(node_dir)))
        model, _, _ = load_model_json(model_file.read_bytes())
        posted, work = trio.run(_posted_accuracy_and_work, deployment, node_dir, session_id, 2)
        scored = evaluate(model, work.eval).accuracy
        assert scored is not None and abs(scored - posted) < 1e-6, (scored, posted)

        # The node's API (what the TUI shows) reports every participant's contribution and reward.
        local = trio.run(_session_local, node_dir, session_id)
        view = trio.run(_view, deployment, session_id)
        assert sum(p["contribution"] for p in local["participants"]) == view.total_points
        assert {p["state"] for p in local["participants"]} == {"paid"}
        assert 0 <= view.params.reward_pool - sum(local["rewards"].values()) < len(local["participants"])

        # The Network screen: peers known by gossip carry the sessions shared with this node.
        deadline = time.monotonic() + 30
        while True:
            peers = trio.run(_peers, node_dir)["known"]
            if len([p for p in peers if session_id in p.get("sessions", [])]) == 2:
                break
            assert time.monotonic() < deadline, peers
            time.sleep(0.5)
