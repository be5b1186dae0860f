"""`parity-tui`: watch a running node (and through it the network) in the terminal.

The app polls the node's control API on one worker and follows its event stream on another, keeps the latest
answers, and asks the screen in view to redraw. When the node stops answering it says so in a banner on every
screen and keeps retrying; a restarted node (a new run, so event numbers start again at 1) is detected by its
uptime and the event log is re-read from the start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from parity_p2p.node.api.client import NodeApiSync
from parity_p2p.node.datadir import resolve_data_dir
from parity_p2p.node.errors import ApiRequestError, DataDirError
from parity_p2p.node.events import Event
from tui.endpoint import NodeEndpoint
from tui.errors import NodeRefusedError, NodeUnreachableError, TuiError, UsageError
from tui.link import LINK_ERRORS, NodeLink, describe_failure
from tui.model import NodeSnapshot, format_clock
from tui.screens.base import LiveScreen
from tui.screens.events import EventsScreen
from tui.screens.network import NetworkScreen
from tui.screens.node import NodeScreen
from tui.screens.sessions import SessionsScreen

EVENT_BUFFER = 2000
RESTART_TOLERANCE_S = 2.0
"""Two start times (now - uptime) further apart than this are two runs of the node."""


class ParityTui(App[int]):
    CSS_PATH = "styles.tcss"
    TITLE = "Parity P2P"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[None]]]] = {
        "network": NetworkScreen,
        "sessions": SessionsScreen,
        "events": EventsScreen,
        "node": NodeScreen,
    }
    DEFAULT_MODE = "network"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "switch_mode('network')", "Network"),
        Binding("s", "switch_mode('sessions')", "Sessions"),
        Binding("e", "switch_mode('events')", "Events"),
        Binding("o", "switch_mode('node')", "Node"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, endpoint: NodeEndpoint, *, poll_interval: float = 1.0, retry_interval: float = 1.0) -> None:
        super().__init__()
        self.link = NodeLink(endpoint)
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.snapshot: NodeSnapshot | None = None
        self.online = False
        self.offline_reason: str | None = "connecting"
        self.offline_since: str | None = None
        self.reconnects = 0
        self.events: deque[Event] = deque(maxlen=EVENT_BUFFER)
        self._event_seq = 0
        self._run_started: float | None = None

    @property
    def target(self) -> str:
        return self.link.url or self.link.endpoint.describe()

    def on_mount(self) -> None:
        self.run_worker(self._poll_forever(), group="poll", exclusive=True)
        self.run_worker(self._follow_events_forever(), group="events", exclusive=True)

    # ---- polling -------------------------------------------------------------------------------------------------
    async def _poll_forever(self) -> None:
        try:
            while True:
                try:
                    snapshot = await self.link.snapshot()
                except LINK_ERRORS as exc:
                    await self.link.reset()
                    self._went_offline(describe_failure(exc))
                    await asyncio.sleep(self.retry_interval)
                    continue
                self._came_online(snapshot)
                await asyncio.sleep(self.poll_interval)
        finally:  # the client closes here, in its only user, never under a request in flight
            await self.link.aclose()

    def _went_offline(self, reason: str) -> None:
        if self.online or self.offline_since is None:
            self.offline_since = format_clock(time.time())
        self.online = False
        self.offline_reason = reason
        self._redraw()

    def _came_online(self, snapshot: NodeSnapshot) -> None:
        if not self.online and self.snapshot is not None:
            self.reconnects += 1
            self.notify(f"Reconnected to the node at {self.target}", title="Node back")
        self.online, self.offline_reason, self.offline_since = True, None, None
        self.snapshot = snapshot
        self._redraw()

    def _redraw(self) -> None:
        if not self.is_running:
            return
        screen = self.screen
        if isinstance(screen, LiveScreen):
            screen.refresh_data()

    # ---- events --------------------------------------------------------------------------------------------------
    async def _follow_events_forever(self) -> None:
        while True:
            with contextlib.suppress(*LINK_ERRORS):  # the poller reports the node as unreachable
                await self._follow_events()
            await asyncio.sleep(self.retry_interval)

    async def _follow_events(self) -> None:
        async with self.link.open_client() as api:
            status = await api.status()
            started = time.time() - status.uptime_s
            if self._run_started is not None and abs(started - self._run_started) > RESTART_TOLERANCE_S:
                self._event_seq = 0  # a new run numbers its events from 1 again
            self._run_started = started
            async with api.events(since=self._event_seq) as stream:
                async for event in stream:
                    self._add_event(event)

    def _add_event(self, event: Event) -> None:
        if event.seq <= self._event_seq:
            return
        self._event_seq = event.seq
        self.events.append(event)
        screen = self.screen if self.is_running else None
        if isinstance(screen, EventsScreen):
            screen.add_event(event)


def parse_args(argv: Sequence[str] | None) -> NodeEndpoint:
    parser = argparse.ArgumentParser(prog="parity-tui", description="Watch a running parity-node in the terminal.")
    parser.add_argument("--data-dir", type=Path, help="the node's data directory (reads api.json and api.token)")
    parser.add_argument("--api", help="the control API's base URL, e.g. http://127.0.0.1:7400 (with --token-file)")
    parser.add_argument("--token-file", type=Path, help="file holding the API bearer token (with --api)")
    args = parser.parse_args(argv)
    if args.api is not None or args.token_file is not None:
        if args.data_dir is not None:
            raise UsageError("give either --data-dir or --api with --token-file, not both")
        if args.api is None or args.token_file is None:
            raise UsageError("--api and --token-file go together")
        return NodeEndpoint(api_url=args.api, token_file=args.token_file)
    try:
        return NodeEndpoint(data_dir=resolve_data_dir(args.data_dir))
    except DataDirError as exc:
        raise UsageError(str(exc)) from None


def check_reachable(endpoint: NodeEndpoint) -> None:
    """Refuse to start when no node answers: the TUI only watches, so a typo should fail loudly, not wait."""
    url, token = endpoint.resolve()
    try:
        with NodeApiSync(url, token, timeout=5.0) as api:
            api.status()
    except ApiRequestError as exc:
        raise NodeRefusedError(url, exc.status, exc.message) from None
    except LINK_ERRORS as exc:
        raise NodeUnreachableError(url, describe_failure(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        endpoint = parse_args(argv)
        check_reachable(endpoint)
    except TuiError as exc:
        print(f"parity-tui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    result = ParityTui(endpoint).run()
    return result or 0


if __name__ == "__main__":
    raise SystemExit(main())
