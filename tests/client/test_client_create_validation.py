"""`fl create-session` refuses bad input before any transaction: each case checks the message and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
from client_helpers import Cli, assert_user_error
from fixtures.devchain import DevChain

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
IRIS_CONFIG = EXAMPLES / "iris_model.json"
GOOD_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def create_args(tmp_path: Path, *extra: str, **overrides: str) -> list[str]:
    """A valid create-session command (the node address points nowhere) with flags replaced or added."""
    token = tmp_path / "api.token"
    token.write_text("t" * 32)
    flags = {
        "--name": "iris", "--dataset-cid": GOOD_CID, "--config-file": str(IRIS_CONFIG), "--total-rounds": "3",
        "--min-participants": "2", "--split-strategy": "non_iid", "--alpha": "0.5", "--aggregation-method": "fedavg",
        "--key-env": "KEY1", "--node-api": "http://127.0.0.1:9", "--api-token-file": str(token),
    }  # fmt: skip
    flags.update({"--" + k.replace("_", "-"): v for k, v in overrides.items()})
    args = ["fl", "create-session"]
    for flag, value in flags.items():
        args += [flag, value]
    return args + list(extra)


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"alpha": "0"}, ["--alpha: must be > 0"]),
        ({"alpha": "-1.5"}, ["--alpha: must be > 0", "-1.5"]),
        ({"alpha": "nan"}, ["--alpha: must be > 0"]),
        ({"split_strategy": "dirichlet"}, ["--split-strategy: unknown 'dirichlet'", "non_iid"]),
        ({"aggregation_method": "fedmagic"}, ["--aggregation-method: unknown 'fedmagic'", "fedavg"]),
        ({"min_participants": "0"}, ["--min-participants: must be >= 1, got 0"]),
        ({"max_participants": "1", "min_participants": "3"}, ["--max-participants: 1 is below --min-participants 3"]),
        ({"total_rounds": "0"}, ["--total-rounds: must be >= 1"]),
        ({"learning_rate": "0"}, ["--learning-rate: must be a positive finite number"]),
        ({"batch_size": "0"}, ["--batch-size: must be >= 1"]),
        ({"local_epochs": "0"}, ["--local-epochs: must be >= 1"]),
        ({"overlap_ratio": "1"}, ["--overlap-ratio: must be in [0, 1)"]),
        ({"min_samples": "-1"}, ["--min-samples: must be >= 0"]),
        ({"dataset_cid": "QmNotACid"}, ["--dataset-cid: 'QmNotACid' is not a valid CID"]),
        ({"dataset_cid": "bafy"}, ["--dataset-cid", "is not a valid CID"]),
        ({"reward_pool": "lots"}, ["--reward-pool: 'lots' is not a token amount"]),
        ({"reward_pool": "-5"}, ["--reward-pool: must be >= 0"]),
        ({"reward_pool": "0.0000000000000000001"}, ["--reward-pool", "more than 18 decimal places"]),
        ({"name": "   "}, ["--name: must not be empty"]),
        ({"name": "a\x00b"}, ["--name: contains control characters"]),
        ({"model_type": "linear_regression"}, ["--model-type: 'linear_regression' but", "'neural_network' model"]),
        ({"model_type": "transformer"}, ["--model-type: unknown 'transformer'"]),
        ({"round_timeout": "0"}, ["--round-timeout: must be >= 1"]),
        ({"config_file": "/nonexistent/model.json"}, ["--config-file: /nonexistent/model.json does not exist"]),
    ],
)
def test_invalid_flags_are_refused_with_the_flag_named(
    cli: Cli, tmp_path: Path, overrides: dict[str, str], fragments: list[str]
) -> None:
    assert_user_error(cli(*create_args(tmp_path, **overrides)), 2, *fragments)


def test_dp_parameters_are_checked_only_with_dp(cli: Cli, tmp_path: Path) -> None:
    result = cli(*create_args(tmp_path, "--enable-differential-privacy", noise_multiplier="0"))
    assert_user_error(result, 2, "--noise-multiplier: must be a positive finite number")
    result = cli(*create_args(tmp_path, "--enable-differential-privacy", l2_norm_clip="-1"))
    assert_user_error(result, 2, "--l2-norm-clip")


def test_config_file_errors_name_the_config_field(cli: Cli, tmp_path: Path) -> None:
    bad = json.loads(IRIS_CONFIG.read_text())
    bad["architecture"]["layers"][0]["type"] = "conv2d"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert_user_error(cli(*create_args(tmp_path, config_file=str(path))), 2, "--config-file", "architecture.layers[0]",
                      "conv2d")  # fmt: skip
    path.write_text("{not json")
    assert_user_error(cli(*create_args(tmp_path, config_file=str(path))), 2, "--config-file", str(path))
    missing = dict(bad, architecture={"type": "neural_network", "layers": [{"type": "dense", "units": 3}]})
    del missing["input_size"]
    path.write_text(json.dumps(missing))
    assert_user_error(cli(*create_args(tmp_path, config_file=str(path))), 2, "input_size")
    assert_user_error(cli(*create_args(tmp_path, config_file=str(tmp_path))), 2, "--config-file", "is a directory")


def test_a_config_file_is_required(cli: Cli, tmp_path: Path) -> None:
    args = create_args(tmp_path)
    at = args.index("--config-file")
    del args[at : at + 2]
    assert_user_error(cli(*args), 2, "--config-file: required")


def test_contract_limits_are_checked_before_sending(cli: Cli, tmp_path: Path) -> None:
    assert_user_error(cli(*create_args(tmp_path, total_rounds="100000")), 2, "--total-rounds: the contract allows at "
                      "most")  # fmt: skip
    assert_user_error(cli(*create_args(tmp_path, round_timeout="1")), 2, "--round-timeout: the contract needs at least")
    assert_user_error(cli(*create_args(tmp_path, min_participants="100000")), 2, "the contract allows at most")
    assert_user_error(cli(*create_args(tmp_path, min_stake="1")), 2, "--min-stake: below the registry's minimum")


async def _allowance(chain: DevChain, owner: str) -> int:
    async with await chain.client() as client:
        return await client.token.allowance(owner, chain.deployment.session_manager)


def test_balance_and_allowance_are_checked_and_nothing_is_sent(cli: Cli, dev_chain: DevChain, tmp_path: Path) -> None:
    owner = dev_chain.accounts[1].address
    result = cli(*create_args(tmp_path, reward_pool="50"))
    assert_user_error(result, 7, "token balance", "have 0 USDFC, need 50 USDFC", "parity-client token faucet")

    assert cli("token", "faucet", "--amount", "50", "--key-env", "KEY1").exit_code == 0
    result = cli(*create_args(tmp_path, reward_pool="50"))
    assert_user_error(result, 7, "token allowance", "need 50 USDFC", "pass --approve")

    # With --approve but an unreachable node: the spec cannot be stored, so the approval is not sent either.
    result = cli(*create_args(tmp_path, "--approve", reward_pool="50"))
    assert_user_error(result, 8, "no running node answers at http://127.0.0.1:9")
    assert trio.run(_allowance, dev_chain, owner) == 0


def test_node_options_are_required_and_checked(cli: Cli, tmp_path: Path) -> None:
    args = create_args(tmp_path)
    at = args.index("--node-api")
    del args[at : at + 4]
    assert_user_error(cli(*args), 2, "this command needs the local node", "--data-dir")
    assert_user_error(cli(*create_args(tmp_path, node_api="ftp://x")), 2, "--node-api", "not an http(s) URL")
    empty = tmp_path / "empty.token"
    empty.write_text("")
    assert_user_error(cli(*create_args(tmp_path, api_token_file=str(empty))), 2, "does not hold an API token")
    assert_user_error(cli(*create_args(tmp_path, "--data-dir", str(tmp_path / "nope"))), 2, "--data-dir",
                      "parity-node init")  # fmt: skip


def test_account_errors(cli: Cli, tmp_path: Path) -> None:
    assert_user_error(cli(*create_args(tmp_path, key_env="UNSET_VARIABLE")), 3, "UNSET_VARIABLE is not set")
    assert_user_error(cli(*create_args(tmp_path, key_env="NOT_HEX"), NOT_HEX="zz" * 32), 3, "not hexadecimal")


def test_typer_usage_errors_exit_2_without_traceback(cli: Cli, tmp_path: Path) -> None:
    result = cli(*create_args(tmp_path, total_rounds="three"))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--total-rounds" in result.output
