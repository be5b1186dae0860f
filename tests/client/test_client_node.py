"""The commands that need the local node, against a real `parity-node` process and its own anvil: registering
from a node's data directory, creating sessions (the CSV and the spec stored by CID through the node), listing,
starting (and the refusal with too few runners), fetching and verifying the model, submitting an update."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from pathlib import Path

import safetensors.torch
import torch
import trio
from client_helpers import Cli, RunningNode, assert_ok, assert_user_error
from eth_utils.crypto import keccak
from fixtures.devchain import DevChain, register_runner
from fixtures.rounds import contributions_for, expected_leader, post_round

from parity_p2p.chain import ChainClient
from parity_p2p.gossip.peer_identity import peer_id_for_key_file
from parity_p2p.learning.codec import ModelMeta, encode_model
from parity_p2p.learning.export import load_model_json, load_model_safetensors
from parity_p2p.learning.model_config import parse_model_config
from parity_p2p.learning.models import build_model, model_state
from parity_p2p.node.api.client import NodeApiClient
from parity_p2p.storage.importer import compute_cid

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
IRIS_CSV = EXAMPLES / "iris.csv"
IRIS_CONFIG = EXAMPLES / "iris_model.json"
UNIT = 10**18


def session_args(node: RunningNode, *extra: str, data: Path = IRIS_CSV, config: Path = IRIS_CONFIG) -> list[str]:
    return [
        "fl", "create-session-with-data", str(data), "--name", "iris", "--model-type", "neural_network",
        "--total-rounds", "2", "--min-participants", "2", "--max-participants", "3", "--config-file", str(config),
        "--split-strategy", "stratified", "--key-env", "KEY0", "--data-dir", str(node.data_dir), "-o", "json", *extra,
    ]  # fmt: skip


def create(cli: Cli, node: RunningNode, *extra: str) -> int:
    result = cli(*session_args(node, *extra))
    assert_ok(result)
    return int(json.loads(result.stdout)["session_id"])


async def _node_get(node: RunningNode, cid: str) -> bytes:
    async with NodeApiClient.from_data_dir(node.data_dir) as api:
        return await api.get_content(cid)


async def _node_add(node: RunningNode, data: bytes) -> str:
    async with NodeApiClient.from_data_dir(node.data_dir) as api:
        return await api.add_content(data)


async def _has_session_service(node: RunningNode) -> bool:
    async with NodeApiClient.from_data_dir(node.data_dir) as api:
        return (await api.status()).session_service


async def _join(chain: DevChain, session_id: int, accounts: tuple[int, ...]) -> None:
    """Dev accounts join the session (registering first when they are not yet runners)."""
    async with AsyncExitStack() as stack:
        for i in accounts:
            client = await stack.enter_async_context(await chain.client(chain.accounts[i]))
            if not await client.registry.is_registered(chain.accounts[i].address):
                await register_runner(client)
            await client.sessions.join_session(session_id)


async def _post_all_rounds(chain: DevChain, session_id: int, accounts: tuple[int, ...], model_cid: str) -> None:
    async with AsyncExitStack() as stack:
        clients: dict[str, ChainClient] = {}
        for i in accounts:
            clients[chain.accounts[i].address] = await stack.enter_async_context(await chain.client(chain.accounts[i]))
        signers = [chain.accounts[i] for i in accounts]
        any_client = next(iter(clients.values()))
        total = (await any_client.sessions.get_session(session_id)).params.total_rounds
        for number in range(1, total + 1):
            leader = clients[await expected_leader(any_client, session_id)]
            contributions = contributions_for(list(clients), number, [1] * len(clients))
            await post_round(leader, signers, session_id, number, contributions, model_cid)


def test_register_from_the_node_data_dir(node_cli: Cli, running_node: RunningNode) -> None:
    dd = ("--data-dir", str(running_node.data_dir))
    password = {"PARITY_KEYSTORE_PASSWORD": "client-test-password"}
    assert_user_error(node_cli("token", "faucet", "--amount", "150", *dd), 3, "needs a password")
    assert_user_error(node_cli("token", "faucet", "--amount", "150", *dd, PARITY_KEYSTORE_PASSWORD="wrong-pass"), 3,
                      "wrong password")  # fmt: skip
    assert_ok(node_cli("token", "faucet", "--amount", "150", *dd, **password))
    assert_ok(node_cli("runner", "register", "--stake", "120", "--approve", *dd, **password))
    status = node_cli("runner", "status", *dd, "-o", "json")  # the address needs no password
    assert_ok(status)
    body = json.loads(status.stdout)
    assert body["address"] == running_node.address
    assert body["peer_id"] == peer_id_for_key_file(running_node.data_dir / "p2p.key")
    assert body["stake"] == 120 * UNIT


def test_create_session_with_data_stores_csv_and_spec_by_cid(node_cli: Cli, running_node: RunningNode) -> None:
    assert_ok(node_cli("token", "faucet", "--amount", "100", "--key-env", "KEY0"))
    result = node_cli(*session_args(running_node, "--reward-pool", "100", "--approve"))
    assert_ok(result)
    created = json.loads(result.stdout)
    assert created["dataset_cid"] == compute_cid(IRIS_CSV.read_bytes())
    assert trio.run(_node_get, running_node, created["dataset_cid"]) == IRIS_CSV.read_bytes()
    spec_bytes = trio.run(_node_get, running_node, created["spec_cid"])
    assert "0x" + keccak(spec_bytes).hex() == created["spec_hash"]
    spec = json.loads(spec_bytes)
    assert spec["split"]["strategy"] == "stratified" and spec["model"]["input_size"] == 4

    details = node_cli("fl", "get-session", str(created["session_id"]), "-o", "json")
    assert_ok(details)
    view = json.loads(details.stdout)
    assert view["status"] == "open" and view["reward_pool"] == 100 * UNIT
    assert view["spec_cid"] == created["spec_cid"] and view["dataset_cid"] == created["dataset_cid"]

    # The same dataset by CID, the node reached by URL and token file instead of the data directory.
    token_file = running_node.data_dir / "api.token"
    url = json.loads((running_node.data_dir / "api.json").read_text())["url"]
    again = node_cli("fl", "create-session", "--name", "iris again", "--dataset-cid", created["dataset_cid"],
                     "--config-file", str(IRIS_CONFIG), "--key-env", "KEY0", "--node-api", url, "--api-token-file",
                     str(token_file))  # fmt: skip
    assert_ok(again)
    assert "Session ID:" in again.stdout and "Next: wait for runners" in again.stdout


def test_dataset_is_checked_against_the_model_config(node_cli: Cli, running_node: RunningNode, tmp_path: Path) -> None:
    wine = EXAMPLES / "wine.csv"
    assert_user_error(node_cli(*session_args(running_node, data=wine)), 2, f"dataset {wine}", "has 13 feature columns "
                      "but the model config's input_size is 4")  # fmt: skip
    two_classes = tmp_path / "two.csv"
    lines = IRIS_CSV.read_text().splitlines()
    two_classes.write_text("\n".join([lines[0]] + [ln for ln in lines[1:] if not ln.endswith("virginica")]) + "\n")
    assert_user_error(node_cli(*session_args(running_node, data=two_classes)), 2, "has 2 classes",
                      "output_size is 3")  # fmt: skip
    broken = tmp_path / "broken.csv"
    broken.write_text("a,b,c,d,label\n1,2,3,4,x\n1,2,three,4,y\n")
    assert_user_error(node_cli(*session_args(running_node, data=broken)), 2, "CSV line 3", "'three' is not a number")
    assert_user_error(node_cli(*session_args(running_node, data=tmp_path / "none.csv")), 2, "DATASET",
                      "does not exist")  # fmt: skip


def test_list_start_refusal_start_and_get(node_cli: Cli, running_node: RunningNode) -> None:
    session_id = create(node_cli, running_node)
    refused = node_cli("fl", "start-session", str(session_id), "--key-env", "KEY0")
    assert_user_error(refused, 12, "insufficient online runners: 0 joined, 2 needed")
    table = node_cli("fl", "list-sessions", "--status", "open")
    assert_ok(table)
    assert table.stdout.splitlines()[0].split() == ["ID", "Name", "Status", "Round", "Participants", "Reward", "Pool"]
    assert any(line.split()[0] == str(session_id) for line in table.stdout.splitlines()[2:])
    assert_user_error(node_cli("fl", "list-sessions", "--status", "sleeping"), 2, "--status: unknown 'sleeping'")

    trio.run(_join, running_node.chain, session_id, (1,))
    assert_user_error(node_cli("fl", "start-session", str(session_id), "--key-env", "KEY0"), 12,
                      "insufficient online runners: 1 joined, 2 needed")  # fmt: skip
    trio.run(_join, running_node.chain, session_id, (2,))
    assert_user_error(node_cli("fl", "start-session", str(session_id), "--key-env", "KEY4"), 12, "only the creator")
    started = node_cli("fl", "start-session", str(session_id), "--key-env", "KEY0")
    assert_ok(started)
    assert f"Session {session_id} started with 2 participants: round 1/2" in started.stdout
    assert_user_error(node_cli("fl", "start-session", str(session_id), "--key-env", "KEY0"), 12, "is active")

    text = node_cli("fl", "get-session", str(session_id)).stdout
    for label in ("Session ID:", "Name:", "Status:", "Current Round:", "Participants:", "Average Loss:",
                  "Average Accuracy:", "Leader:", "Model CID:", "Reward Pool:"):  # fmt: skip
        assert label in text, label
    assert "Current Round:       1/2" in text and "Status:              active" in text
    active = json.loads(node_cli("fl", "list-sessions", "--status", "active", "-o", "json").stdout)
    assert session_id in [row["session_id"] for row in active]
    assert_user_error(node_cli("fl", "get-session", "999"), 11, "session 999 does not exist")


def test_get_model_fetches_verifies_and_exports(node_cli: Cli, running_node: RunningNode, tmp_path: Path) -> None:
    assert_ok(node_cli("token", "faucet", "--amount", "10", "--key-env", "KEY0"))
    session_id = create(node_cli, running_node, "--reward-pool", "10", "--approve")
    chain = running_node.chain
    trio.run(_join, chain, session_id, (1, 2))
    assert_ok(node_cli("fl", "start-session", str(session_id), "--key-env", "KEY0"))
    out = tmp_path / "trained_model.json"
    assert_user_error(node_cli("fl", "get-model", str(session_id), "--output", str(out), "--data-dir",
                               str(running_node.data_dir)), 12, "no final model yet")  # fmt: skip

    config = parse_model_config(IRIS_CONFIG.read_bytes())
    state = model_state(build_model(config, seed=42))
    model_cid = trio.run(_node_add, running_node, encode_model(state, ModelMeta(session_id, 2, "fedavg", 2, 120)))
    trio.run(_post_all_rounds, chain, session_id, (1, 2), model_cid)

    dd = ("--data-dir", str(running_node.data_dir))
    result = node_cli("fl", "get-model", str(session_id), "--output", str(out), "--json", *dd)
    assert_ok(result)
    report = json.loads(result.stdout)
    assert report["model_cid"] == model_cid and report["round"] == 2
    module, loaded_config, metrics = load_model_json(out.read_bytes())
    assert loaded_config == config and metrics == {"loss": 0.123456, "accuracy": 0.9}
    for name, tensor in module.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    st = tmp_path / "trained_model.safetensors"
    assert_ok(node_cli("fl", "get-model", str(session_id), "--output", str(st), *dd))
    plain = safetensors.torch.load(st.read_bytes())
    assert all(torch.equal(plain[name], state[name]) for name in state)
    assert load_model_safetensors(st.read_bytes())[1] == config

    first_round = tmp_path / "round1.json"
    assert_ok(node_cli("fl", "get-model", str(session_id), "--round", "1", "--output", str(first_round), *dd))
    assert_user_error(node_cli("fl", "get-model", str(session_id), "--output", str(tmp_path / "m.txt"), *dd), 2,
                      "--output", "must end in .json or .safetensors")  # fmt: skip
    details = json.loads(node_cli("fl", "get-session", str(session_id), "-o", "json").stdout)
    assert details["status"] == "completed" and details["model_cid"] == model_cid
    assert details["average_accuracy"] == 0.9 and len(details["rounds"]) == 2
    # Equal points in every round: the pool is split evenly, nothing goes back to the creator.
    assert [(r["points"], r["credited"]) for r in details["rewards"]] == [(2, 5 * UNIT), (2, 5 * UNIT)]
    assert details["creator_refund"] == 0
    owed = json.loads(node_cli("runner", "status", "--key-env", "KEY1", "-o", "json").stdout)["owed"]
    claimed = node_cli("runner", "claim", "--key-env", "KEY1")
    assert_ok(claimed)
    assert owed >= 5 * UNIT and f"Claimed {owed // UNIT}" in claimed.stdout
    assert json.loads(node_cli("runner", "status", "--key-env", "KEY1", "-o", "json").stdout)["owed"] == 0


def test_get_model_refuses_content_that_is_not_the_model(node_cli: Cli, running_node: RunningNode,
                                                          tmp_path: Path) -> None:  # fmt: skip
    session_id = create(node_cli, running_node)
    trio.run(_join, running_node.chain, session_id, (1, 2))
    assert_ok(node_cli("fl", "start-session", str(session_id), "--key-env", "KEY0"))
    wine_config = parse_model_config((EXAMPLES / "wine_model.json").read_bytes())
    wrong_shape = model_state(build_model(wine_config, seed=1))
    cid = trio.run(_node_add, running_node, encode_model(wrong_shape, ModelMeta(session_id, 2)))
    trio.run(_post_all_rounds, running_node.chain, session_id, (1, 2), cid)
    result = node_cli("fl", "get-model", str(session_id), "--output", str(tmp_path / "m.json"), "--data-dir",
                      str(running_node.data_dir))  # fmt: skip
    assert_user_error(result, 10, f"model {cid} refused", "update rejected")
    assert not (tmp_path / "m.json").exists()


def test_submit_update_is_checked_then_handed_to_the_node(node_cli: Cli, running_node: RunningNode,
                                                          tmp_path: Path) -> None:  # fmt: skip
    session_id = create(node_cli, running_node)
    trio.run(_join, running_node.chain, session_id, (1, 2))
    assert_ok(node_cli("fl", "start-session", str(session_id), "--key-env", "KEY0"))
    config = parse_model_config(IRIS_CONFIG.read_bytes())
    gradients = tmp_path / "gradients.safetensors"
    safetensors.torch.save_file({k: torch.zeros_like(v) for k, v in model_state(build_model(config)).items()},
                                str(gradients))  # fmt: skip
    runner = running_node.chain.accounts[1].address

    def submit(*extra: str, round_id: str = "1", who: str = runner, file: Path = gradients) -> list[str]:
        return ["fl", "submit-update", "--session-id", str(session_id), "--round-id", round_id, "--runner-id", who,
                "--gradients-file", str(file), "--data-size", "40", "--loss", "0.7", "--accuracy", "0.8",
                "--data-dir", str(running_node.data_dir), *extra]  # fmt: skip

    # The update passed every local check and reached the node. This node's account is not runner 1, so a session
    # service refuses it; without one (what `parity-node start` runs today) the node answers 503.
    has_service = trio.run(_has_session_service, running_node)
    expected = ("the local node refused",) if has_service else ("the local node refused", "503", "no session service")
    assert_user_error(node_cli(*submit()), 9, *expected)
    assert_user_error(node_cli(*submit(round_id="2")), 12, f"session {session_id} is in round 1, not 2")
    outsider = running_node.chain.accounts[7].address
    assert_user_error(node_cli(*submit(who=outsider)), 12, f"{outsider} is not a participant")
    assert_user_error(node_cli(*submit("--accuracy", "1.5")), 2, "--accuracy: must be in [0, 1]")
    assert_user_error(node_cli(*submit("--loss", "nan")), 2, "--loss: must be a finite number")
    wrong = tmp_path / "wrong.safetensors"
    safetensors.torch.save_file({"layer0.weight": torch.zeros(2, 2)}, str(wrong))
    assert_user_error(node_cli(*submit(file=wrong)), 2, "--gradients-file: does not fit session", "update rejected")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00" * 100)
    assert_user_error(node_cli(*submit(file=garbage)), 2, "--gradients-file: not a safetensors file")
    assert_user_error(node_cli(*submit(who="0xnope")), 2, "--runner-id")
