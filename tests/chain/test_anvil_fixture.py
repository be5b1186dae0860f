"""The shared anvil fixture leaves nothing behind, also when the code using it fails."""

from __future__ import annotations

import os

import pytest
from fixtures.anvil import AnvilProcess, rpc


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stopped_on_failure_without_orphans() -> None:
    process = AnvilProcess()
    with pytest.raises(RuntimeError, match="boom"), process as node:
        assert int(rpc(node.url, "eth_chainId"), 16) == node.chain_id
        assert len(node.private_keys) == 10
        assert [a.address.lower() for a in node.accounts] == [a.lower() for a in rpc(node.url, "eth_accounts")]
        pgid = process._proc.pid if process._proc else 0
        raise RuntimeError("boom")
    assert not process.running
    assert not group_alive(pgid)


def test_restart_on_the_same_port() -> None:
    process = AnvilProcess()
    try:
        first = process.start()
        process.stop()
        second = process.start()
        assert second.url == first.url
        assert rpc(second.url, "eth_blockNumber") == "0x0"
    finally:
        process.stop()
    assert not process.running
