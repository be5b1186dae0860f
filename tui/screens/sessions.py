"""Sessions: every session the node knows (its own and, read from the chain, the others); Enter opens one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from tui.model import MISSING, format_tokens
from tui.screens.base import LiveScreen
from tui.screens.session import SessionScreen
from tui.widgets.table_fill import fill_table

COLUMNS = ("ID", "Name", "Status", "Round", "Runners", "Pool", "Joined", "This node")


class SessionsScreen(LiveScreen):
    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        yield Static(id="sessions-summary", classes="summary")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one("#sessions", DataTable).add_columns(*COLUMNS)
        super().on_mount()

    def show_data(self) -> None:
        snapshot = self.tui.snapshot
        summary = self.query_one("#sessions-summary", Static)
        table = self.query_one("#sessions", DataTable)
        if snapshot is None:
            summary.update("Waiting for the node…")
            return
        joined = sum(1 for s in snapshot.sessions if s.joined)
        summary.update(f"{len(snapshot.sessions)} sessions · {joined} joined · Enter opens one")
        rows = [
            (
                str(s.session_id),
                s.name,
                s.status,
                f"{min(s.current_round, s.total_rounds)}/{s.total_rounds}",
                f"{s.participant_count} ({s.min_participants}-{s.max_participants})",
                format_tokens(s.reward_pool),
                "yes" if s.joined else "no",
                str(s.local.get("phase", MISSING)),
            )
            for s in snapshot.sessions
        ]
        fill_table(table, rows, [str(s.session_id) for s in snapshot.sessions])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(SessionScreen(int(event.row_key.value)))
