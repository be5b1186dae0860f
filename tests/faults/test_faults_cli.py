"""`parity-node` with missing, malformed and hostile arguments: a one-line message, a non-zero exit, no traceback.

The same treatment tests/client/test_client_hostile_input.py gives parity-client, for init/start/status/devnet/tui.
Each example puts generated strings into the slots of an otherwise valid command that can only fail (no password,
no running node, an unreachable chain), so a slot whose value happens to be acceptable lets the command run on to
that later, clean failure. Commands run in a scratch working directory: a hostile relative path lands there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from parity_p2p.devnet.cli import devnet_app
from parity_p2p.node.cli import app as node_app
from parity_p2p.node.config import NodeConfig, NodeOverrides
from parity_p2p.node.datadir import DATA_DIR_ENV, PASSWORD_ENV, init_data_dir

BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery"
DEAD_RPC = "http://127.0.0.1:9"  # discard port: nothing answers, the connection is refused at once

# The console script adds the devnet group in main(); the same composition for in-process runs (once per process).
if not any(group.name == "devnet" for group in node_app.registered_groups):
    node_app.add_typer(devnet_app, name="devnet")
app = node_app

hostile = st.one_of(
    st.text(st.characters(exclude_characters="\x00"), max_size=60),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00") | st.sampled_from(["\udc80", "\udcff"]),
            max_size=20),
    st.sampled_from(["", "-", "--", "-1", "0", "65536", "nan", "1e400", "9" * 80, "../../etc/passwd", "/dev/null",
                     "/", ".", "http://", "/ip4/999.1.1.1/tcp/1", "/ip4/127.0.0.1/tcp/99999", "/dns/x", "%s%n", "{}",
                     "\n", " ", "x/" * 200]),
)  # fmt: skip


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A working directory for the command (hostile relative paths land here), restored afterwards."""
    work = tmp_path / "cwd"
    work.mkdir()
    previous = Path.cwd()
    os.chdir(work)
    try:
        yield work
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised data directory whose config points at a dead chain, so `start` fails after parsing."""
    path = tmp_path_factory.mktemp("node") / "data"
    config = NodeConfig().with_overrides(NodeOverrides(rpc_url=DEAD_RPC, api_port=0))
    init_data_dir(path, PASSWORD, config=config, kdf_iterations=2**10)
    return path


def invoke(*args: str, **env: str | None) -> Result:
    clean: dict[str, str | None] = {DATA_DIR_ENV: None, PASSWORD_ENV: None, "PARITY_RPC_URL": None}
    clean.update(env)
    return CliRunner().invoke(app, list(args), env=clean, catch_exceptions=True)


def assert_clean_failure(result: Result, args: list[str], *, message_on: str = "stderr") -> None:
    assert result.exit_code != 0, (args, result.stdout)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "Traceback" not in result.output, (args, result.output)
    assert getattr(result, message_on).strip(), (args, result.stdout)


def plain(text: str) -> str:
    """Click's error box without its frame and line wrapping, for looking up a phrase."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())


TEMPLATES = [
    ["init", "--data-dir", "{}"],  # no password source: stops at the password after checking the rest
    ["init", "--data-dir", "fresh", "--rpc-url", "{}", "--deployment", "{}"],
    ["init", "--data-dir", "fresh", "--listen", "{}", "--api-port", "{}"],
    ["init", "--data-dir", "fresh", "--password-file", "{}", "--import-key-env", "{}"],
    ["start", "--data-dir", "{}"],
    ["start", "--data-dir", "{node}", "--log-level", "{}"],
    ["start", "--data-dir", "{node}", "--listen", "{}", "--bootstrap", "{}", "--rpc-url", "{}"],
    ["start", "--data-dir", "{node}", "--deployment", "{}", "--api-port", "{}"],
    ["start", "--data-dir", "{node}", "--password-file", "{}"],
    ["status", "--data-dir", "{}"],
    ["status", "--data-dir", "{node}", "--output", "{}"],
    ["devnet", "down", "--root", "{}"],
    ["tui", "--data-dir", "{}"],
    ["tui", "--data-dir", "{node}", "{}", "{}"],
]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: " ".join(a for a in t if a != "{}")[:40])
def test_hostile_argument_values_fail_cleanly(template: list[str], node_dir: Path, scratch: Path) -> None:
    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(values=st.lists(hostile, min_size=template.count("{}"), max_size=template.count("{}")))
    def check(values: list[str]) -> None:
        filled = iter(values)
        args = [next(filled) if a == "{}" else a.replace("{node}", str(node_dir)) for a in template]
        # A value that is itself a flag asking for help or naming the node dir would make a valid call.
        assume(not any(v.strip() in ("--help", "-h") for v in values))
        env = {PASSWORD_ENV: PASSWORD} if template[0] == "start" and "--password-file" not in template else {}
        result = invoke(*args, **env)
        assert_clean_failure(result, args)

    check()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["init"], "password"),  # missing everything: default data dir, then no password
        (["init", "--api-port"], "requires an argument"),
        (["init", "--api-port", "port"], "valid integer"),
        (["start", "--data-dir", "/nonexistent/parity"], "nonexistent"),
        (["start", "--api-port", "-1", "--data-dir", "{node}"], "api"),
        (["status"], ""),
        (["status", "--output", "yaml", "--data-dir", "{node}"], "yaml"),
        (["devnet", "up", "--runners", "x"], "valid integer"),
        (["devnet", "down", "--root", "/nonexistent/devnet"], "nonexistent"),
        (["tui", "--data-dir", "/nonexistent/parity"], ""),
        (["no-such-command"], "No such command"),
    ],
)
def test_missing_and_malformed_arguments_give_a_message(
    args: list[str], fragment: str, node_dir: Path, scratch: Path, tmp_path: Path
) -> None:
    filled = [a.replace("{node}", str(node_dir)) for a in args]
    env = {PASSWORD_ENV: PASSWORD} if args[0] == "start" else {}
    result = invoke(*filled, HOME=str(tmp_path), **env)
    assert_clean_failure(result, filled)
    assert fragment in plain(result.stderr), (filled, result.stderr)


@pytest.mark.parametrize("args", [["devnet"], []])
def test_a_bare_command_group_shows_its_usage_and_exits_non_zero(args: list[str], scratch: Path) -> None:
    result = invoke(*args)
    assert_clean_failure(result, args, message_on="stdout")  # Click prints a group's help on stdout
    assert "Usage:" in result.stdout


@pytest.mark.parametrize("command", ["init", "start", "status", "tui"])
def test_a_data_dir_name_longer_than_the_filesystem_allows_gives_a_message(command: str, scratch: Path) -> None:
    args = [command, "--data-dir", "a" * 300]
    result = invoke(*args, **{PASSWORD_ENV: PASSWORD})  # past the password, to the data directory
    assert_clean_failure(result, args)


@pytest.mark.parametrize("command", ["init", "start", "status", "tui"])
def test_a_data_dir_under_an_unknown_users_home_gives_a_message(command: str, scratch: Path) -> None:
    args = [command, "--data-dir", "~nosuchuser/parity"]
    result = invoke(*args, **{PASSWORD_ENV: PASSWORD})  # past the password, to the data directory
    assert_clean_failure(result, args)


@pytest.mark.parametrize("runners", ["0", "-3", "65"])
def test_devnet_up_with_an_impossible_runner_count_gives_a_message(runners: str, scratch: Path) -> None:
    result = invoke("devnet", "up", "--root", str(scratch / "net"), "--runners", runners)
    assert_clean_failure(result, ["devnet", "up", "--runners", runners])
    assert "between 1 and 64" in result.stderr
    assert not (scratch / "net").exists()


def test_the_installed_console_script_fails_cleanly(node_dir: Path, tmp_path: Path) -> None:
    """The real `parity-node` executable (its main() wiring, its stderr) on a few bad invocations."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_")} | {"HOME": str(tmp_path)}
    for args in (
        ["status", "--data-dir", str(tmp_path / "missing")],
        ["start", "--data-dir", str(tmp_path / "missing")],
        ["init", "--data-dir", str(tmp_path / "x"), "--listen", "not-a-multiaddr"],
        ["devnet", "down", "--root", str(tmp_path / "nothing")],
        ["tui", "--data-dir", str(node_dir), "--api", "http://127.0.0.1:9"],
    ):
        done = subprocess.run([str(BIN / "parity-node"), *args], capture_output=True, text=True, timeout=60, env=env,
                              cwd=tmp_path)  # fmt: skip
        assert done.returncode != 0, (args, done.stdout)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        assert done.stderr.strip(), args


@pytest.mark.parametrize("command", [["fl", "list-sessions"], ["token", "balance"], ["runner", "status"]])
def test_parity_client_data_dir_under_an_unknown_users_home_gives_a_message(command: list[str], scratch: Path) -> None:
    # Found by this drill's parity-node hunt and fixed in parity_p2p/client/options.py (a RuntimeError escaped).
    from parity_p2p.client.cli import app as client_app

    args = [*command, "--data-dir", "~nosuchuser/parity"]
    result = CliRunner().invoke(client_app, args, env={DATA_DIR_ENV: None, PASSWORD_ENV: None})
    assert_clean_failure(result, args)
    assert "--data-dir" in result.stderr and "home directory" in result.stderr, result.stderr
