"""The TUI against a real `parity-node` process on a real anvil: every screen reached by its key, the data on
each one being the node's, and a session created on chain while the TUI runs showing up by itself, with the
node's live event about it."""

from __future__ import annotations

import asyncio

import trio
from client_helpers import RunningNode
from fixtures.devchain import DevChain, create_session, session_params
from textual.widgets import DataTable, RichLog, Static
from tui_helpers import log_lines, run_async, static_text, table_rows, wait_until

from tui.app import ParityTui
from tui.endpoint import NodeEndpoint
from tui.screens.events import EventsScreen
from tui.screens.network import NetworkScreen
from tui.screens.node import NodeScreen
from tui.screens.session import SessionScreen
from tui.screens.sessions import SessionsScreen


async def _create_session(chain: DevChain, name: str) -> int:
    async with await chain.client(chain.accounts[0]) as creator:
        return await create_session(creator, session_params(name=name))


def _create_session_in_thread(chain: DevChain, name: str) -> int:
    """The chain client runs on trio; the TUI's loop is asyncio, so the chain work gets a thread of its own."""
    return trio.run(_create_session, chain, name)


def test_every_screen_shows_the_node_and_a_new_session_appears(running_node: RunningNode) -> None:
    first = _create_session_in_thread(running_node.chain, "tui first")

    async def scenario() -> None:
        app = ParityTui(NodeEndpoint(data_dir=running_node.data_dir), poll_interval=0.2, retry_interval=0.2)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.snapshot is not None, "the first answer of the node")
            assert app.snapshot is not None
            own_peer = app.snapshot.status.peer_id

            assert isinstance(app.screen, NetworkScreen)
            assert own_peer in static_text(app.screen.query_one("#network-summary", Static))

            await pilot.press("o")
            assert isinstance(app.screen, NodeScreen)
            facts = dict(tuple(row) for row in table_rows(app.screen.query_one("#node-facts", DataTable)))
            assert facts["account"] == running_node.address
            assert facts["peer id"] == own_peer
            assert facts["data directory"] == str(running_node.data_dir)

            await pilot.press("e")
            screen = app.screen
            assert isinstance(screen, EventsScreen)
            log = screen.query_one(RichLog)
            await wait_until(pilot, lambda: any("node.started" in line for line in log_lines(log)), "node.started")
            await pilot.press("slash")
            await pilot.press(*"round.")
            assert not any("node.started" in line for line in log_lines(log)), "the filter hides other kinds"
            await pilot.press("escape")
            assert any("node.started" in line for line in log_lines(log))

            await pilot.press("s")
            assert isinstance(app.screen, SessionsScreen)
            sessions = app.screen.query_one("#sessions", DataTable)
            await wait_until(pilot, lambda: any(r[0] == str(first) for r in table_rows(sessions)), "session listed")

            created = await asyncio.to_thread(_create_session_in_thread, running_node.chain, "tui live")
            await wait_until(pilot, lambda: table_rows(sessions)[0][:2] == [str(created), "tui live"],
                             "the session created while the TUI runs, on top")  # fmt: skip

            assert sessions.cursor_row == 1, "the cursor stays on the session it was on"
            await pilot.press("up", "enter")
            detail = app.screen
            assert isinstance(detail, SessionScreen) and detail.session_id == created
            await wait_until(pilot, lambda: detail.session is not None, "the session's details")
            summary = static_text(detail.query_one("#session-summary", Static))
            assert f"#{created} tui live" in summary and "open" in summary
            # The node's session runner looks at every new session and says what it does with it (joins or
            # declines): that event arrives live on the stream and lands in this session's activity.
            activity = detail.query_one("#session-activity", Static)
            await wait_until(pilot, lambda: f'"session":{created}' in static_text(activity),
                             "a live event about the new session")  # fmt: skip
            await pilot.press("escape")
            assert isinstance(app.screen, SessionsScreen)

            await pilot.press("n")
            assert isinstance(app.screen, NetworkScreen)

    run_async(scenario())
