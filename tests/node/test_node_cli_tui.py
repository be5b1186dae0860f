"""`parity-node tui` is the TUI for the node's data directory (and `devnet` commands exist on the same tool)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_tui_subcommand_hands_the_data_dir_to_the_tui(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "parity-node"), "tui", "--data-dir", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "parity-tui: error" in result.stderr and str(tmp_path / "missing") in result.stderr
    assert "Traceback" not in result.stderr


def test_devnet_down_without_a_devnet_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "parity-node"), "devnet", "down", "--root", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "no devnet recorded" in result.stderr and "parity-node devnet up" in result.stderr
