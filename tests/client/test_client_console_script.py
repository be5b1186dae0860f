"""The installed `parity-client` console script, as a user runs it: a separate process, real exit codes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from client_helpers import BIN, CLEARED


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return subprocess.run([str(BIN / "parity-client"), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=60)  # fmt: skip


def test_help_lists_every_command_group(tmp_path: Path) -> None:
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for group in ("fl", "runner", "token", "chain"):
        assert group in result.stdout


def test_a_user_error_is_one_line_and_an_exit_code(tmp_path: Path) -> None:
    result = run("fl", "get-session", "1", cwd=tmp_path)  # no deployment.json in an empty directory
    assert result.returncode == 4
    assert result.stderr.strip() == (
        "error: deployment file deployment.json not found: pass --deployment FILE, or deploy first with "
        "`parity-client chain deploy --out deployment.json`"
    )
    assert result.stdout == ""
    result = run("fl", "get-session", "not-a-number", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
