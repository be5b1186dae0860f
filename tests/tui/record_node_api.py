"""Records the answers of real `parity-node` processes for the TUI's snapshot tests (run by hand, once):

    .venv/bin/python tests/tui/record_node_api.py

It starts a real anvil with the contracts, two registered nodes that find each other over libp2p (node B
bootstraps to node A), an active session with three finished rounds posted by three runners (node A among them)
and an open one, then saves what node A's control API answers on every route the TUI reads, and its buffered
events, to tests/tui/recorded/node_api.json. The snapshot tests replay that file (fixture_server.py) so the
pictures do not depend on ports, keys or time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import trio

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "client")]  # as pytest's rootdir conftest sees them

from client_helpers import BIN, NODE_PASSWORD, wait_for_file  # noqa: E402
from fixtures.anvil import AnvilProcess, free_port  # noqa: E402
from fixtures.devchain import DevChain, create_session, deploy_contracts, register_runner, session_params  # noqa: E402
from fixtures.rounds import attestations, contributions_for, domain_of, expected_leader  # noqa: E402

from parity_p2p.chain import ChainClient, RoundResult  # noqa: E402
from parity_p2p.consensus.attestation import RoundStatement  # noqa: E402
from parity_p2p.consensus.merkle import updates_root  # noqa: E402
from parity_p2p.gossip.peer_identity import peer_id_for_key_file  # noqa: E402
from parity_p2p.node.api.client import NodeApiClient  # noqa: E402

OUT = HERE / "recorded" / "node_api.json"
NODE_KEYS = {"a": 9, "b": 8}
RUNNERS = (1, 2, 9)
FIGURES = [(912_345, 610_000), (540_210, 780_000), (301_977, 866_667)]  # loss, accuracy (x 1e6) of rounds 1..3


def init_node(home: Path, name: str, chain: DevChain, env: dict[str, str], listen: str) -> Path:
    deployment = home / "deployment.json"
    chain.deployment.save(deployment)
    data_dir = home / name
    subprocess.run(
        [str(BIN / "parity-node"), "init", "--data-dir", str(data_dir), "--import-key-env", f"KEY{NODE_KEYS[name]}",
         "--rpc-url", chain.url, "--deployment", str(deployment), "--api-port", "0", "--listen", listen],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return data_dir


def start_node(data_dir: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    log = data_dir.parent / f"{data_dir.name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "parity-node"), "start", "--data-dir", str(data_dir), "--log-level", "warning", *extra],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    wait_for_file(data_dir / "api.json", process, log)
    return process


async def prepare_chain(chain: DevChain, peer_ids: dict[int, str]) -> None:
    """Runners registered (nodes with their real peer ids), one active session with three rounds, one open."""
    async with AsyncExitStack() as stack:
        clients: dict[int, ChainClient] = {}
        for i in {0, *RUNNERS, *NODE_KEYS.values()}:
            clients[i] = await stack.enter_async_context(await chain.client(chain.accounts[i]))
        for i in {*RUNNERS, *NODE_KEYS.values()}:
            if i in peer_ids:
                stake = 150 * 10**18
                await register_runner(clients[i], stake)
                await clients[i].registry.set_peer_id(peer_ids[i])  # the node's real libp2p identity
            else:
                await register_runner(clients[i])
        params = session_params(name="iris demo", total_rounds=5, min_participants=3, max_participants=5)
        active = await create_session(clients[0], params)
        for i in RUNNERS:
            await clients[i].sessions.join_session(active)
        await clients[0].sessions.start_session(active)
        by_address = {chain.accounts[i].address: clients[i] for i in RUNNERS}
        signers = [chain.accounts[i] for i in RUNNERS]
        for number, (loss, accuracy) in enumerate(FIGURES, start=1):
            leader = by_address[await expected_leader(clients[0], active)]
            contributions = contributions_for(list(by_address), number, [3, 2, 1])
            cid = f"bafkreimodelround{number}"
            result = RoundResult(number, cid, loss, accuracy, contributions)
            statement = RoundStatement(active, number, cid, updates_root(contributions))
            await leader.sessions.submit_round(active, result, attestations(signers, domain_of(leader), statement))
        await create_session(clients[0], session_params(name="mnist open call", total_rounds=3))


async def record(data_dir: Path) -> dict[str, Any]:
    async with NodeApiClient.from_data_dir(data_dir) as api:
        for _ in range(100):  # discovery: node B's presence reaches node A
            if (await api.peers())["known"]:
                break
            await trio.sleep(0.2)
        routes: dict[str, Any] = {}
        for path in ("/v1/status", "/v1/peers", "/v1/sessions", "/v1/metrics"):
            routes[path] = await api.get_json(path)
        for session in routes["/v1/sessions"]["sessions"]:
            sid = session["session_id"]
            routes[f"/v1/sessions/{sid}"] = await api.get_json(f"/v1/sessions/{sid}")
            routes[f"/v1/sessions/{sid}/rounds"] = await api.get_json(f"/v1/sessions/{sid}/rounds")
        events = []
        async with api.events(since=0) as stream:
            with trio.move_on_after(1.5):
                async for event in stream:
                    events.append(event.to_json())
        return {"routes": routes, "events": events}


def main() -> None:
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"tui-record-{os.getpid()}"
    home.mkdir()
    with AnvilProcess() as anvil:
        chain = trio.run(deploy_contracts, anvil)
        env = {**os.environ, "PARITY_KEYSTORE_PASSWORD": NODE_PASSWORD}
        env.update({f"KEY{i}": key for i, key in enumerate(anvil.private_keys)})
        env.pop("PARITY_DATA_DIR", None)
        port_a = free_port()
        dir_a = init_node(home, "a", chain, env, f"/ip4/127.0.0.1/tcp/{port_a}")
        dir_b = init_node(home, "b", chain, env, "/ip4/127.0.0.1/tcp/0")
        peer_ids = {NODE_KEYS[n]: peer_id_for_key_file(d / "p2p.key") for n, d in (("a", dir_a), ("b", dir_b))}
        trio.run(prepare_chain, chain, peer_ids)
        node_a = start_node(dir_a, env)
        node_b = start_node(dir_b, env, "--bootstrap", f"/ip4/127.0.0.1/tcp/{port_a}/p2p/{peer_ids[9]}")
        try:
            recorded = trio.run(record, dir_a)
        finally:
            for process in (node_b, node_a):
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)
    recorded["recorded_from"] = (
        f"tests/tui/record_node_api.py on {time.strftime('%Y-%m-%d', time.gmtime())}: node A (dev account 9) of two "
        "real parity-node processes on anvil"
    )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}: {len(recorded['routes'])} routes, {len(recorded['events'])} events")


if __name__ == "__main__":
    main()
