"""Session: one session in detail, refreshed on its own timer: round progress, the leader and figures of each
round (and a chart of them), the participants and rewards the session service reports, the model CIDs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, ProgressBar, Static

from parity_p2p.node.api.client import NodeApiClient
from parity_p2p.node.services import RoundInfo, SessionInfo
from tui.link import LINK_ERRORS, describe_failure
from tui.model import MISSING, format_clock, format_tokens, participants_of, rewards_of, short
from tui.screens.base import LiveScreen
from tui.screens.events import event_line
from tui.widgets.round_chart import RoundChart
from tui.widgets.table_fill import fill_table

ROUND_COLUMNS = ("Round", "Leader", "Loss", "Accuracy", "Model CID", "Finalised (UTC)", "This node")
ACTIVITY_LINES = 8
PARTICIPANT_COLUMNS = ("Participant", "Contribution", "State")


def local_figures(local: Mapping[str, Any]) -> str:
    """What this node measured in a round (training time, bytes, ...), compact: "training_s=1.2 bytes_sent=4096"."""
    return " ".join(f"{k}={v}" for k, v in sorted(local.items())) or MISSING


class SessionScreen(LiveScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,b", "app.pop_screen", "Back")]

    def __init__(self, session_id: int) -> None:
        super().__init__()
        self.session_id = session_id
        self.session: SessionInfo | None = None
        self.rounds: tuple[RoundInfo, ...] = ()
        self.load_error: str | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        with VerticalScroll(id="session-body"):
            yield Static(id="session-summary", classes="summary")
            yield ProgressBar(id="round-progress", show_eta=False)
            yield RoundChart(id="round-chart")
            yield Static("Rounds", classes="section")
            yield DataTable(id="rounds", cursor_type="row", zebra_stripes=True)
            yield Static("Participants", classes="section")
            yield Static(id="participants-note")
            yield DataTable(id="participants", cursor_type="row", zebra_stripes=True)
            yield Static("Models and rewards", classes="section")
            yield Static(id="session-cids")
            yield Static("Recent activity of this node", classes="section")
            yield Static(id="session-activity")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one("#rounds", DataTable).add_columns(*ROUND_COLUMNS)
        self.query_one("#participants", DataTable).add_columns(*PARTICIPANT_COLUMNS)
        self.sub_title = f"session {self.session_id}"
        super().on_mount()
        self.follow_session()

    @work(exclusive=True, group="session")
    async def follow_session(self) -> None:
        """Polls this session with a client of its own (the app's poller may close and rebuild its client)."""
        api: NodeApiClient | None = None
        try:
            while True:
                try:
                    api = api or self.tui.link.open_client()
                    session = await api.session(self.session_id)
                    rounds = await api.rounds(self.session_id)
                except LINK_ERRORS as exc:
                    self.load_error = describe_failure(exc)
                    if api is not None:
                        await api.aclose()
                    api = None
                else:
                    self.session, self.rounds, self.load_error = session, tuple(rounds), None
                    self.refresh_data()
                await asyncio.sleep(self.tui.poll_interval)
        finally:
            if api is not None:
                await api.aclose()

    def show_data(self) -> None:
        summary = self.query_one("#session-summary", Static)
        s = self.session
        if s is None:
            summary.update(f"Session {self.session_id}: {self.load_error or 'loading…'}")
            return
        done = sum(1 for r in self.rounds if r.finalized_at > 0)
        summary.update(
            f"[b]#{s.session_id} {s.name}[/b] · {s.status} · round {min(s.current_round, s.total_rounds)}"
            f"/{s.total_rounds} · {done} finalised · {s.participant_count} runners "
            f"({s.min_participants}-{s.max_participants}) · pool {format_tokens(s.reward_pool)}"
            f" · {'joined' if s.joined else 'not joined'}"
            + (f"\nthis node: {local_figures(s.local)}" if s.local else "")
        )
        self.query_one("#round-progress", ProgressBar).update(total=max(s.total_rounds, 1), progress=done)
        self.query_one("#round-chart", RoundChart).show_rounds(self.rounds)
        self._show_rounds(self.rounds)
        self._show_participants(s)
        self._show_cids(s)
        self._show_activity()

    def _show_rounds(self, rounds: Sequence[RoundInfo]) -> None:
        rows = []
        for r in rounds:
            final = r.finalized_at > 0
            rows.append(
                (
                    str(r.round),
                    short(r.leader) if final else "(open)",
                    f"{r.loss:.4f}" if final else MISSING,
                    f"{r.accuracy:.2%}" if final else MISSING,
                    short(r.model_cid, 14) if r.model_cid else MISSING,
                    format_clock(r.finalized_at) if final else MISSING,
                    local_figures(r.local),
                )
            )
        fill_table(self.query_one("#rounds", DataTable), rows, [str(r.round) for r in rounds])

    def _show_participants(self, s: SessionInfo) -> None:
        rows = participants_of(s)
        note = self.query_one("#participants-note", Static)
        table = self.query_one("#participants", DataTable)
        fill_table(table, [(short(p.address), p.contribution, p.state) for p in rows], [p.address for p in rows])
        table.display = bool(rows)
        note.update(
            ""
            if rows
            else f"{s.participant_count} on chain; this node's API reports no per-participant details for it."
        )

    def _show_activity(self) -> None:
        mine = [e for e in self.tui.events if e.data.get("session") == self.session_id][-ACTIVITY_LINES:]
        text = "\n".join(event_line(e) for e in mine) if mine else "no events about this session from the node"
        self.query_one("#session-activity", Static).update(Text(text))

    def _show_cids(self, s: SessionInfo) -> None:
        lines = [
            f"dataset  {s.dataset_cid or MISSING}",
            f"spec     {s.spec_cid or MISSING}",
            f"final    {s.final_model_cid or MISSING}",
        ]
        rewards = rewards_of(s, list(self.tui.events))
        if rewards:
            lines.extend(f"reward   {who}: {amount}" for who, amount in rewards)
        else:
            lines.append(f"rewards  pool of {format_tokens(s.reward_pool)}; no payout reported yet")
        self.query_one("#session-cids", Static).update("\n".join(lines))
