"""Driving the TUI in tests: Textual runs on asyncio, and pytest here runs in trio mode, so every TUI test is a
plain sync test that runs its own asyncio loop (`run_async`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog, Static


def run_async(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        await pilot.pause(0.05)


def table_rows(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def static_text(widget: Static) -> str:
    return str(widget.render())


def log_lines(log: RichLog) -> list[str]:
    return [strip.text for strip in log.lines]
