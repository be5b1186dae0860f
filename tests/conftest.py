"""Shared fixtures: one real anvil per test session with the contracts deployed, isolated per test by
evm_snapshot/evm_revert; a factory for tests that need a node of their own (restarts, resets); a spy on os.fsync."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio
from fixtures.anvil import AnvilNode, AnvilProcess, revert, snapshot
from fixtures.devchain import DevChain, deploy_contracts


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    """A real anvil for the whole test session (10 funded dev accounts)."""
    with AnvilProcess() as node:
        yield node


@pytest.fixture(scope="session")
def deployed(anvil_node: AnvilNode) -> DevChain:
    """The contracts deployed once per session on `anvil_node` (token, registry, manager, wired)."""
    return trio.run(deploy_contracts, anvil_node)


@pytest.fixture
def dev_chain(deployed: DevChain) -> Iterator[DevChain]:
    """The session's deployed chain, rolled back after the test (evm_snapshot / evm_revert)."""
    snapshot_id = snapshot(deployed.url)
    try:
        yield deployed
    finally:
        revert(deployed.url, snapshot_id)


@pytest.fixture
def anvil_factory(tmp_path: Path) -> Iterator[Callable[..., AnvilProcess]]:
    """Makes AnvilProcess objects (not started) that are all stopped at teardown, also on failure."""
    made: list[AnvilProcess] = []

    def make(**kwargs: object) -> AnvilProcess:
        process = AnvilProcess(**kwargs)  # type: ignore[arg-type]
        made.append(process)
        return process

    try:
        yield make
    finally:
        for process in made:
            process.stop()


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths os.fsync was called on, in order (the real fsync still runs)."""
    calls: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    yield calls
