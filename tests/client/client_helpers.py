"""Helpers for the parity-client tests: run the real Typer app in-process (CliRunner), check user errors."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fixtures.devchain import DevChain
from typer.testing import CliRunner, Result

from parity_p2p.client.cli import app

BIN = Path(sys.executable).parent

# Variables the CLI reads from the environment: cleared so the developer's shell cannot leak into a test.
CLEARED = ("PARITY_PRIVATE_KEY", "PARITY_RPC_URL", "PARITY_DEPLOYMENT", "PARITY_NODE_API", "PARITY_KEYSTORE_PASSWORD",
           "PARITY_DATA_DIR")  # fmt: skip


@dataclass
class Cli:
    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        runner = CliRunner()
        overrides: dict[str, str | None] = {name: None for name in CLEARED}
        overrides.update(self.env)
        overrides.update(env)
        return runner.invoke(app, list(args), input=input, env=overrides, catch_exceptions=True)


def assert_user_error(result: Result, code: int, *fragments: str) -> None:
    """A user error: the given exit code, one `error:` line on stderr containing every fragment, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("error: "), result.stderr
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)



NODE_PASSWORD = "client-test-password"


@dataclass(frozen=True)
class RunningNode:
    data_dir: Path
    chain: DevChain
    deployment_file: Path
    address: str
    key_env: dict[str, str]


def wait_for_file(path: Path, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise RuntimeError(f"parity-node exited with {process.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"parity-node did not write {path} in {timeout} s: {log.read_text()[-2000:]}")
        time.sleep(0.05)
