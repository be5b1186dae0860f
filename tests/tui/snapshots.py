"""SVG snapshots of the TUI under tests/tui/__snapshots__/ (Textual's own `export_screenshot`).

pytest-textual-snapshot 1.1.0 cannot be installed beside the project's pytest 9.2.0 (it pins syrupy 4.8.0, which
requires pytest < 9), so this does its job in a few lines: compare the screen's SVG with the stored file, and
write the file instead when TUI_SNAPSHOT_UPDATE=1. A missing snapshot fails: it must be reviewed and committed.
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__"


def assert_matches_snapshot(name: str, svg: str) -> None:
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("TUI_SNAPSHOT_UPDATE") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg)
        return
    assert path.exists(), f"no snapshot {path}: run with TUI_SNAPSHOT_UPDATE=1, look at it, commit it"
    if path.read_text() != svg:
        actual = path.with_suffix(".actual.svg")
        actual.write_text(svg)
        raise AssertionError(f"screen differs from {path.name}; this run's picture is in {actual}")
