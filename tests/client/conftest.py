"""Fixtures of the parity-client tests: a deployment file on the session's anvil, and a real node process."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from client_helpers import BIN, NODE_PASSWORD, Cli, RunningNode, wait_for_file
from fixtures.anvil import AnvilProcess
from fixtures.devchain import DevChain, deploy_contracts


@pytest.fixture
def deployment_file(dev_chain: DevChain, tmp_path: Path) -> Path:
    path = tmp_path / "deployment.json"
    dev_chain.deployment.save(path)  # carries the anvil URL
    return path


@pytest.fixture
def cli(dev_chain: DevChain, deployment_file: Path, tmp_path: Path) -> Iterator[Cli]:
    """Runs parity-client with --deployment defaulted through $PARITY_DEPLOYMENT and the dev keys in
    $KEY0..$KEY9 (pass `--key-env KEY3` to act as account 3)."""
    env = {f"KEY{i}": key for i, key in enumerate(dev_chain.node.private_keys)}
    env["PARITY_DEPLOYMENT"] = str(deployment_file)
    yield Cli(env)


@pytest.fixture(scope="module")
def node_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevChain]:
    """An anvil of this module's own, with the contracts: a running node watches it, so no snapshot reverts."""
    with AnvilProcess() as node:
        yield trio.run(deploy_contracts, node)


@pytest.fixture(scope="module")
def running_node(node_chain: DevChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A real `parity-node` process (init + start) on `node_chain`, its key imported from dev account 9."""
    home = tmp_path_factory.mktemp("node")
    deployment_file = home / "deployment.json"
    node_chain.deployment.save(deployment_file)
    data_dir = home / "data"
    key_env = {f"KEY{i}": key for i, key in enumerate(node_chain.node.private_keys)}
    env = {**os.environ, **key_env, "PARITY_KEYSTORE_PASSWORD": NODE_PASSWORD}
    env.pop("PARITY_DATA_DIR", None)
    subprocess.run(
        [str(BIN / "parity-node"), "init", "--data-dir", str(data_dir), "--import-key-env", "KEY9",
         "--rpc-url", node_chain.url, "--deployment", str(deployment_file), "--api-port", "0"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    # The tests join sessions with the dev keys themselves and count participants: this node must not join too.
    config = data_dir / "config.toml"
    config.write_text(config.read_text().replace("auto_join = true", "auto_join = false"))
    assert "auto_join = false" in config.read_text()
    log = home / "node.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "parity-node"), "start", "--data-dir", str(data_dir), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_file(data_dir / "api.json", process, log)
        yield RunningNode(data_dir, node_chain, deployment_file, node_chain.accounts[9].address, key_env)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def node_cli(running_node: RunningNode, tmp_path: Path) -> Cli:
    """parity-client pointed at `running_node`'s chain (deployment via $PARITY_DEPLOYMENT) with the dev keys."""
    env = {**running_node.key_env, "PARITY_DEPLOYMENT": str(running_node.deployment_file)}
    return Cli(env)
