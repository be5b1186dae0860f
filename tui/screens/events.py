"""Events: the node's live event stream, newest at the bottom, filtered by kind ("/" to type a filter)."""

from __future__ import annotations

import json
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, RichLog

from parity_p2p.node.events import Event
from tui.model import format_clock
from tui.screens.base import LiveScreen


def event_line(event: Event) -> str:
    data = json.dumps(dict(event.data), separators=(",", ":"), sort_keys=True, default=str)
    return f"{event.seq:>5} {format_clock(event.time)} {event.kind:<22} {data}"


class EventsScreen(LiveScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.kind_filter = ""
        self.shown = 0

    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        yield Input(placeholder="filter by kind (e.g. round., session.) — Enter to apply", id="event-filter")
        yield RichLog(id="event-log", wrap=False, markup=False, highlight=False, max_lines=2000)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.rewrite()
        self.query_one(RichLog).focus()

    def matches(self, event: Event) -> bool:
        return self.kind_filter.lower() in event.kind.lower()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.rewrite()

    def show_data(self) -> None:
        """Nothing per poll: events arrive one by one through `add_event`."""

    def rewrite(self) -> None:
        """The log again from the app's buffer (on mount and resume, on a new filter, after a node restart)."""
        log = self.query_one(RichLog)
        log.clear()
        self.shown = 0
        for event in self.tui.events:
            self.add_event(event)

    def add_event(self, event: Event) -> None:
        logs = self.query(RichLog)
        if logs and self.matches(event):  # no log while the screen is composed or taken down
            logs.first().write(event_line(event))
            self.shown += 1

    def action_focus_filter(self) -> None:
        self.query_one(Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one(Input)
        box.value = ""
        self.apply_filter("")
        self.query_one(RichLog).focus()  # give the letter keys back to the screen bindings

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self.apply_filter(message.value)
        self.query_one(RichLog).focus()

    def on_input_changed(self, message: Input.Changed) -> None:
        self.apply_filter(message.value)

    def apply_filter(self, text: str) -> None:
        if text.strip() != self.kind_filter:
            self.kind_filter = text.strip()
            self.rewrite()
