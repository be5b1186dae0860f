"""Fixtures for the content-store tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity_p2p.storage import ContentStore, FsBlockstore


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(FsBlockstore(tmp_path / "content"))
