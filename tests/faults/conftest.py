"""Fault-drill fixtures: tests that build network namespaces skip, with the reason, where that is not allowed."""

from __future__ import annotations

import pytest
from netlab import why_not_available


@pytest.fixture(scope="session")
def netns_allowed() -> None:
    """Skips the test unless this process may create network namespaces and veth pairs (root, iproute2)."""
    reason = why_not_available()
    if reason is not None:
        pytest.skip(reason)
