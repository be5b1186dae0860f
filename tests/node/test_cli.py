"""`parity-node` as a user runs it: real subprocesses, real files, a real devnet (anvil + deployed contracts)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account
from fixtures.devchain import DevChain

from parity_p2p.chain import Deployment
from parity_p2p.node.datadir import PASSWORD_ENV, DataDir

PASSWORD = "correct horse battery"
_SCRIPT = Path(sys.executable).parent / "parity-node"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "parity_p2p.node.cli"]


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in (PASSWORD_ENV, "PARITY_DATA_DIR")}
    return base | extra


def parity_node(*args: str, timeout: float = 60, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        env=env(**extra_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_user_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def initialised(tmp_path: Path) -> Path:
    data_dir = tmp_path / "node"
    result = parity_node("init", "--data-dir", str(data_dir), "--api-port", "0", **{PASSWORD_ENV: PASSWORD})
    assert result.returncode == 0, result.stderr
    return data_dir


def test_second_init_is_refused_and_keeps_the_identity(initialised: Path) -> None:
    layout = DataDir(initialised)
    address = layout.address()
    again = parity_node("init", "--data-dir", str(initialised), **{PASSWORD_ENV: PASSWORD})
    assert_user_error(again, 3, "already exists")
    assert layout.address() == address


def test_init_output(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    result = parity_node("init", "--data-dir", str(data_dir), **{PASSWORD_ENV: PASSWORD})
    assert result.returncode == 0, result.stderr
    layout = DataDir(data_dir)
    assert layout.address() in result.stdout
    from parity_p2p.gossip.peer_identity import peer_id_for_key_file

    assert peer_id_for_key_file(layout.key_path) in result.stdout
    assert "parity-client runner register --stake 100" in result.stdout
    assert f"parity-node start --data-dir {data_dir}" in result.stdout
    assert layout.unlock(PASSWORD).address == layout.address()


def test_init_with_password_file_and_imported_key(tmp_path: Path) -> None:
    account = Account.create()
    secret = tmp_path / "password.txt"
    secret.write_text(PASSWORD + "\n")
    data_dir = tmp_path / "node"
    result = parity_node(
        "init",
        "--data-dir",
        str(data_dir),
        "--password-file",
        str(secret),
        "--import-key-env",
        "RUNNER_KEY",
        RUNNER_KEY=account.key.hex(),
    )
    assert result.returncode == 0, result.stderr
    assert "imported from $RUNNER_KEY" in result.stdout
    assert DataDir(data_dir).unlock(PASSWORD).address == account.address


def test_init_data_dir_from_environment(tmp_path: Path) -> None:
    result = parity_node("init", PARITY_DATA_DIR=str(tmp_path / "from-env"), **{PASSWORD_ENV: PASSWORD})
    assert result.returncode == 0, result.stderr
    DataDir(tmp_path / "from-env").require_initialised()


def test_user_errors_are_one_line_with_their_exit_code(tmp_path: Path) -> None:
    assert_user_error(parity_node("init", "--data-dir", str(tmp_path / "a")), 6, PASSWORD_ENV)
    assert not (tmp_path / "a").exists()
    assert_user_error(
        parity_node("init", "--data-dir", str(tmp_path / "b"), "--listen", "junk", **{PASSWORD_ENV: PASSWORD}),
        4,
        "config network.listen",
    )
    assert_user_error(parity_node("status", "--data-dir", str(tmp_path / "none")), 3, "parity-node init")
    assert_user_error(parity_node("start", "--data-dir", str(tmp_path / "none"), **{PASSWORD_ENV: PASSWORD}), 3)
    assert parity_node("start", "--bogus-flag").returncode == 2


def test_status_and_bad_config_without_a_running_node(initialised: Path) -> None:
    assert_user_error(parity_node("status", "--data-dir", str(initialised)), 9, "no running node")
    config = initialised / "config.toml"
    config.write_text(config.read_text().replace("port = 0", "port = 99999"))
    assert_user_error(
        parity_node("start", "--data-dir", str(initialised), **{PASSWORD_ENV: PASSWORD}), 4, "config api.port"
    )


def test_start_with_a_reset_devnet_says_how_to_fix_it(initialised: Path, dev_chain: DevChain) -> None:
    Deployment(31337, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 1).save(initialised / "deployment.json")
    args = ("start", "--data-dir", str(initialised), "--rpc-url", dev_chain.url)
    result = parity_node(*args, **{PASSWORD_ENV: PASSWORD})
    assert_user_error(result, 7, "no contract code", f"parity-devnet deploy --rpc-url {dev_chain.url}")


def test_start_status_refuse_second_and_stop_on_sigterm(initialised: Path, dev_chain: DevChain) -> None:
    dev_chain.deployment.save(initialised / "deployment.json")
    layout = DataDir(initialised)
    args = ["start", "--data-dir", str(initialised), "--rpc-url", dev_chain.url]
    node = subprocess.Popen(
        [*COMMAND, *args],
        env=env(**{PASSWORD_ENV: PASSWORD}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while layout.read_api_endpoint() is None:
            assert node.poll() is None, node.communicate()[1]
            assert time.monotonic() < deadline, "the node did not bring up its API in 30 s"
            time.sleep(0.1)

        status = parity_node("status", "--data-dir", str(initialised), "--output", "json")
        assert status.returncode == 0, status.stderr
        reported = json.loads(status.stdout)
        assert reported["address"] == layout.address()
        assert reported["chain_id"] == 31337
        assert reported["registered"] is False
        text = parity_node("status", "--data-dir", str(initialised))
        assert text.returncode == 0, text.stderr
        assert "registered: NO (parity-client runner register --stake 100)" in text.stdout

        second = parity_node(*args, **{PASSWORD_ENV: PASSWORD})
        assert_user_error(second, 5, "already running", f"process {node.pid}")

        stopping = time.monotonic()
        node.send_signal(signal.SIGTERM)
        _, stderr = node.communicate(timeout=10)
        assert node.returncode == 0, stderr
        assert time.monotonic() - stopping < 5
        assert "SIGTERM received: stopping" in stderr
        assert "node stopped" in stderr
        assert "Traceback" not in stderr
        assert layout.read_api_endpoint() is None
    finally:
        if node.poll() is None:
            node.kill()
            node.communicate()
