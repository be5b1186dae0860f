"""`parity-node devnet up` leaves a network running and records it; `down` stops it from any process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
            # The Network screen's peer standing: stake and reputation from the chain, for peers found by gossip.
            deadline = time.monotonic() + 30
            first = state.nodes[0].address
            while not (known := [p for p in api.get_json("/v1/peers")["known"] if p["address"] == first]):
                assert time.monotonic() < deadline, "node 2 never heard node 1's presence record"
                time.sleep(0.5)
        assert status.registered and status.session_service and status.connected_peers >= 1
        assert known[0]["stake"] == 200 * 10**18 and known[0]["reputation"] == 0.0
        assert known[0]["latency_ms"] is not None and known[0]["latency_ms"] > 0
        with pytest.raises(DevnetError, match="already holds a devnet"):
            Devnet(tmp_path / "net", runners=1).up(lambda _line: None)

        down_recorded(tmp_path / "net")  # as `parity-node devnet down` does, from the state file alone
        pids = [n.pid for n in state.nodes] + [state.anvil_pid]
        assert not any(_alive(pid) for pid in pids)
        assert not (tmp_path / "net" / "devnet.json").exists()
    finally:
        net.down()


def test_a_program_stopped_by_sigterm_inside_a_devnet_block_leaves_no_process_behind(tmp_path: Path) -> None:
    # `timeout` or a cancelled CI job sends SIGTERM: without the Devnet's handler, Python exits without unwinding
    # and the nodes' and anvil's process groups keep running.
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from parity_p2p.devnet.network import Devnet\n"
        "with Devnet(Path(sys.argv[1]), runners=1) as net:\n"
        "    net.up(lambda _line: None)\n"
        "    print('up', flush=True)\n"
        "    time.sleep(120)\n"
    )
    root = tmp_path / "net"
    with subprocess.Popen([sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE, text=True) as program:
        try:
            assert program.stdout is not None and program.stdout.readline().strip() == "up"
            state = DevnetState.load(root)
            pids = [state.anvil_pid, *(node.pid for node in state.nodes)]
            assert all(_alive(pid) for pid in pids)
            program.send_signal(signal.SIGTERM)
            assert program.wait(timeout=60) != 0
            deadline = time.monotonic() + 30
            while alive := [pid for pid in pids if _alive(pid)]:
                assert time.monotonic() < deadline, f"still running after the SIGTERM: {alive}"
                time.sleep(0.2)
        finally:
            if program.poll() is None:
                program.kill()
            if (root / "devnet.json").exists():
                down_recorded(root)  # (only if the program died before its own cleanup)
