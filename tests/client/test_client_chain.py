"""Chain commands end to end on real anvil nodes: deploy and check, token faucet and balance, the runner life cycle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from client_helpers import Cli, assert_ok, assert_user_error
from fixtures.anvil import AnvilProcess, increase_time
from fixtures.devchain import UNSTAKE_COOLDOWN, DevChain

UNIT = 10**18


def test_deploy_to_a_fresh_chain_then_check_and_refuse_it_after_a_reset(
    anvil_factory: Callable[..., AnvilProcess], tmp_path: Path
) -> None:
    cli = Cli({})
    anvil = anvil_factory()
    node = anvil.start()
    out = tmp_path / "deployment.json"
    result = cli("chain", "deploy", "--rpc-url", node.url, "--key-env", "K", "--out", str(out), "--min-stake", "10",
                 "--unstake-cooldown", "30", "--output", "json", K=node.private_keys[0])  # fmt: skip
    assert_ok(result)
    reported = json.loads(result.stdout)
    saved = json.loads(out.read_text())
    assert saved["rpc_url"] == node.url and saved["chain_id"] == 31337
    assert reported["registry"] == saved["registry"]
    assert_ok(check := cli("chain", "check", "--deployment", str(out)))
    assert f"OK: chain 31337 at {node.url}" in check.stdout

    # The registry holds the flags' values.
    status = cli("runner", "status", "--deployment", str(out), "--address", node.accounts[1].address, "-o", "json")
    assert_ok(status)
    assert json.loads(status.stdout)["registered"] is False

    # A second deploy refuses to overwrite the file unless told to.
    again = cli("chain", "deploy", "--rpc-url", node.url, "--key-env", "K", "--out", str(out), K=node.private_keys[0])
    assert_user_error(again, 2, "--out", "exists; pass --force")

    # In-memory devnets forget everything on restart: the same addresses then hold no code.
    anvil.stop()
    anvil.start()
    result = cli("chain", "check", "--deployment", str(out))
    assert_user_error(result, 4, "no contract code at", "redeploy", "parity-client chain deploy --rpc-url")
    result = cli("token", "balance", "--deployment", str(out), "--address", node.accounts[1].address)
    assert_user_error(result, 4, "no contract code at")


def test_deploy_input_errors(anvil_factory: Callable[..., AnvilProcess], tmp_path: Path) -> None:
    cli = Cli({})
    node = anvil_factory().start()
    key = {"K": node.private_keys[0]}
    out = str(tmp_path / "d.json")
    assert_user_error(cli("chain", "deploy", "--key-env", "K", "--out", out, **key), 2, "--rpc-url: required")
    assert_user_error(cli("chain", "deploy", "--rpc-url", "localhost:8545", "--key-env", "K", "--out", out, **key), 2,
                      "--rpc-url", "not an http(s) URL")  # fmt: skip
    assert_user_error(cli("chain", "deploy", "--rpc-url", node.url, "--key-env", "K", "--out", out, "--token",
                          "0x123", **key), 2, "--token: '0x123' is not an Ethereum address")  # fmt: skip
    no_code = node.accounts[5].address
    assert_user_error(cli("chain", "deploy", "--rpc-url", node.url, "--key-env", "K", "--out", out, "--token",
                          no_code, **key), 2, f"--token: no contract code at {no_code}")  # fmt: skip
    assert_user_error(cli("chain", "deploy", "--rpc-url", node.url, "--key-env", "K", "--out", out, "--min-stake",
                          "-1", **key), 2, "--min-stake: must be > 0")  # fmt: skip
    assert_user_error(cli("chain", "deploy", "--rpc-url", node.url, "--out", out), 3, "no signing account",
                      "--key-env VAR")  # fmt: skip
    assert_user_error(cli("chain", "deploy", "--rpc-url", node.url, "--key-env", "K", "--out",
                          str(tmp_path / "missing" / "d.json"), **key), 2, "--out", "does not exist")  # fmt: skip
    dead = "http://127.0.0.1:9"
    assert_user_error(cli("chain", "deploy", "--rpc-url", dead, "--key-env", "K", "--out", out, **key), 5,
                      "chain node at http://127.0.0.1:9 unavailable")  # fmt: skip


def test_check_refuses_missing_and_malformed_files(cli: Cli, tmp_path: Path) -> None:
    assert_user_error(cli("chain", "check", "--deployment", str(tmp_path / "none.json")), 4, "not found",
                      "parity-client chain deploy")  # fmt: skip
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "chain_id": 31337}')
    assert_user_error(cli("chain", "check", "--deployment", str(bad)), 4, "malformed deployment JSON")
    assert_user_error(cli("chain", "check", "--rpc-url", "http://127.0.0.1:9"), 5, "unavailable")


def test_faucet_and_balance(cli: Cli, dev_chain: DevChain) -> None:
    address = dev_chain.accounts[2].address
    before = cli("token", "balance", "--key-env", "KEY2", "-o", "json")
    assert_ok(before)
    assert json.loads(before.stdout)["balance"] == 0
    assert_ok(minted := cli("token", "faucet", "--amount", "250.5", "--key-env", "KEY2"))
    assert "Minted 250.5 USDFC" in minted.stdout
    after = cli("token", "balance", "--address", address, "-o", "json")
    assert_ok(after)
    body = json.loads(after.stdout)
    assert body["balance"] == 250 * UNIT + UNIT // 2 and body["symbol"] and body["address"] == address
    text = cli("token", "balance", "--address", address)
    assert "Balance:" in text.stdout and "250.5" in text.stdout
    assert_user_error(cli("token", "faucet", "--amount", "10000000000", "--key-env", "KEY2"), 2,
                      "--amount: the faucet gives at most")  # fmt: skip
    assert_user_error(cli("token", "balance", "--address", "nobody"), 2, "--address: 'nobody' is not an Ethereum")


def test_faucet_off_a_devnet_is_refused(anvil_factory: Callable[..., AnvilProcess], tmp_path: Path) -> None:
    node = anvil_factory(chain_id=314159).start()  # Filecoin Calibration's chain id
    cli = Cli({"K": node.private_keys[0]})
    out = tmp_path / "calibration.json"
    assert_ok(cli("chain", "deploy", "--rpc-url", node.url, "--key-env", "K", "--out", str(out)))
    result = cli("token", "faucet", "--amount", "5", "--key-env", "K", "--deployment", str(out))
    assert_user_error(result, 12, "only on devnets", "this is chain 314159")


def test_runner_life_cycle(cli: Cli, dev_chain: DevChain) -> None:
    me = ("--key-env", "KEY3")
    assert_user_error(cli("runner", "register", "--stake", "100", "--peer-id", "12D3KooWtest", *me), 7,
                      "token balance", "need 100 USDFC")  # fmt: skip
    assert_ok(cli("token", "faucet", "--amount", "300", *me))
    assert_user_error(cli("runner", "register", "--stake", "99", "--peer-id", "12D3KooWtest", *me), 2,
                      "--stake: 99 USDFC is below the registry minimum 100 USDFC")  # fmt: skip
    assert_user_error(cli("runner", "register", "--stake", "100", "--peer-id", "12D3KooWtest", *me), 7,
                      "token allowance", "pass --approve")  # fmt: skip
    assert_user_error(cli("runner", "register", "--stake", "100", *me), 2, "--peer-id", "--data-dir")
    assert_user_error(cli("runner", "register", "--stake", "100", "--peer-id", "x" * 200, *me), 2, "--peer-id")
    assert_user_error(cli("runner", "stake", "--amount", "5", *me), 12, "is not a registered runner")
    assert_ok(cli("runner", "register", "--stake", "100", "--peer-id", "12D3KooWtest", "--approve", *me))
    assert_user_error(cli("runner", "register", "--stake", "100", "--peer-id", "12D3KooWtest", "--approve", *me), 12,
                      "already registered")  # fmt: skip

    assert_ok(cli("runner", "stake", "--amount", "50", "--approve", *me))
    assert_ok(cli("runner", "set-peer-id", "--peer-id", "12D3KooWother", *me))
    assert_user_error(cli("runner", "unstake", "--amount", "151", *me), 2, "--amount: 151 USDFC is more than the "
                      "stake 150 USDFC")  # fmt: skip
    assert_ok(cli("runner", "unstake", "--amount", "30", *me))
    assert_user_error(cli("runner", "withdraw", *me), 12, "the unstake cooldown runs until")
    status = json.loads(cli("runner", "status", *me, "-o", "json").stdout)
    assert status["peer_id"] == "12D3KooWother"
    assert status["stake"] == 120 * UNIT and status["pending_unstake"] == 30 * UNIT

    increase_time(dev_chain.url, UNSTAKE_COOLDOWN + 1)
    assert_ok(withdrawn := cli("runner", "withdraw", *me))
    assert "Withdrew 30 USDFC" in withdrawn.stdout
    assert_user_error(cli("runner", "withdraw", *me), 12, "nothing to withdraw")
    balance = json.loads(cli("token", "balance", *me, "-o", "json").stdout)["balance"]
    assert balance == (300 - 150 + 30) * UNIT
    assert_user_error(cli("runner", "claim", *me), 12, "nothing to claim")
    text = cli("runner", "status", *me).stdout
    assert "Registered:        yes" in text and "Stake:             120 USDFC" in text
