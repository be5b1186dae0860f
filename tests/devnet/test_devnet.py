"""`parity-node devnet up` leaves a network running and records it; `down` stops it from any process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from parity_p2p.devnet.network import Devnet, DevnetError, DevnetState, down_recorded
from parity_p2p.node.api.client import NodeApiSync


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_records_a_running_network_and_down_stops_every_process(tmp_path: Path) -> None:
    net = Devnet(tmp_path / "net", runners=2)
    try:
        state = net.up(lambda _line: None)
        recorded = DevnetState.load(tmp_path / "net")
        assert [n.address for n in recorded.nodes] == [n.address for n in state.nodes]
        with NodeApiSync.from_data_dir(state.nodes[1].data_dir) as api:
            status = api.status()
        assert status.registered and status.session_service and status.connected_peers >= 1
        with pytest.raises(DevnetError, match="already holds a devnet"):
            Devnet(tmp_path / "net", runners=1).up(lambda _line: None)

        down_recorded(tmp_path / "net")  # as `parity-node devnet down` does, from the state file alone
        pids = [n.pid for n in state.nodes] + [state.anvil_pid]
        assert not any(_alive(pid) for pid in pids)
        assert not (tmp_path / "net" / "devnet.json").exists()
    finally:
        net.down()
