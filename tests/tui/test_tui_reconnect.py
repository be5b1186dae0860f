"""The node goes away under a running TUI and comes back (a new process, a new API port in api.json, events
numbered from 1 again): the TUI says so in a banner on the screen in view, reconnects by itself, and shows the new
run's data and its `node.started` event."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from client_helpers import BIN, NODE_PASSWORD, RunningNode, wait_for_file
from textual.widgets import RichLog
from tui_helpers import log_lines, run_async, static_text, wait_until

from tui.app import ParityTui
from tui.endpoint import NodeEndpoint
from tui.screens.events import EventsScreen
from tui.widgets.connection_banner import ConnectionBanner


def _stop_node(node: RunningNode) -> None:
    """SIGTERM to the pid the node wrote in api.json; it removes api.json as it stops."""
    pid = json.loads((node.data_dir / "api.json").read_text())["pid"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while (node.data_dir / "api.json").exists():
        assert time.monotonic() < deadline, "the node did not stop in 20 s"
        time.sleep(0.05)


@contextmanager
def _node_restarted_later(node: RunningNode) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Holds the replacement process (started by the test) and stops it at the end."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _start_node(node: RunningNode) -> subprocess.Popen[bytes]:
    env = {**os.environ, **node.key_env, "PARITY_KEYSTORE_PASSWORD": NODE_PASSWORD}
    env.pop("PARITY_DATA_DIR", None)
    log = node.data_dir.parent / "node-restarted.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "parity-node"), "start", "--data-dir", str(node.data_dir), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    wait_for_file(node.data_dir / "api.json", process, log)
    return process


def test_banner_while_the_node_is_gone_then_reconnect(running_node: RunningNode) -> None:
    def started_lines(log: RichLog) -> list[str]:
        return [line for line in log_lines(log) if "node.started" in line]

    async def scenario(replacements: list[subprocess.Popen[bytes]]) -> None:
        app = ParityTui(NodeEndpoint(data_dir=running_node.data_dir), poll_interval=0.2, retry_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("e")
            screen = app.screen
            assert isinstance(screen, EventsScreen)
            log = screen.query_one(RichLog)
            banner = screen.query_one(ConnectionBanner)
            await wait_until(pilot, lambda: app.online and len(started_lines(log)) == 1, "online, first run's event")
            assert not banner.has_class("-offline")
            first_api = app.snapshot.status.api_url if app.snapshot else None

            await asyncio.to_thread(_stop_node, running_node)
            await wait_until(pilot, lambda: not app.online, "the TUI noticing the node is gone")
            await wait_until(pilot, lambda: banner.has_class("-offline") and banner.display, "the banner")
            assert "Node unreachable" in static_text(banner) and "reconnecting" in static_text(banner)

            replacements.append(await asyncio.to_thread(_start_node, running_node))
            await wait_until(pilot, lambda: app.online, "reconnection to the restarted node", timeout=40)
            assert not banner.has_class("-offline") and app.reconnects == 1
            await wait_until(pilot, lambda: len(started_lines(log)) == 2, "the new run's node.started, live")
            assert app.snapshot is not None
            new_api = app.snapshot.status.api_url
            assert new_api in started_lines(log)[1], "the event is the new run's"
            assert first_api is not None and app.snapshot.status.uptime_s < 30

    with _node_restarted_later(running_node) as replacements:
        run_async(scenario(replacements))
