"""Every screen at 80x24 and at 160x48, drawn from recorded answers of a real node (fixture_server.py), compared
with the committed SVG snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixture_server import recorded_api
from snapshots import assert_matches_snapshot
from textual.pilot import Pilot
from tui_helpers import run_async, wait_until

from tui.app import ParityTui
from tui.endpoint import NodeEndpoint
from tui.screens.session import SessionScreen

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
ACTIVE_SESSION_ROW = 1  # newest first: session 2 (open), then session 1 (active, three rounds)


async def _go_to(app: ParityTui, pilot: Pilot[int], screen: str) -> None:
    keys = {"network": "n", "sessions": "s", "events": "e", "node": "o"}
    if screen == "session":
        await pilot.press("s")
        for _ in range(ACTIVE_SESSION_ROW):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionScreen) and app.screen.session is not None,
                         "the session screen's data")  # fmt: skip
    else:
        await pilot.press(keys[screen])


async def _settled_screenshot(app: ParityTui, pilot: Pilot[int]) -> str:
    """The screen once two pictures 0.2 s apart agree: tables re-measure their columns when data arrives, later
    on a loaded machine than a fixed pause allowed (CI once caught a table mid-layout)."""
    svg = app.export_screenshot()
    for _ in range(50):
        await pilot.pause(0.2)
        again = app.export_screenshot()
        if again == svg:
            break
        svg = again
    return svg


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", ["network", "sessions", "session", "events", "node"])
def test_screen_snapshot(screen: str, size: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        with recorded_api(tmp_path) as api:
            app = ParityTui(NodeEndpoint(api_url=api.url, token_file=api.token_file), poll_interval=0.1)
            async with app.run_test(size=SIZES[size]) as pilot:
                await wait_until(pilot, lambda: app.snapshot is not None and len(app.events) > 0, "recorded data")
                await _go_to(app, pilot, screen)
                svg = await _settled_screenshot(app, pilot)
        assert_matches_snapshot(f"{screen}_{size}", svg)

    run_async(scenario())
