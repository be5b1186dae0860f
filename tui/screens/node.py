"""Node: this node's own status, stake and balances, chain, API and data directory, and a few counters."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable

from tui.model import MISSING, format_duration, format_optional, format_tokens
from tui.screens.base import LiveScreen
from tui.widgets.table_fill import fill_table


def _yes_no(value: bool | None) -> str:
    return MISSING if value is None else ("yes" if value else "no")


def _metric(metrics: dict[str, Any], group: str, name: str) -> str:
    section = metrics.get(group)
    return format_optional(section.get(name) if isinstance(section, dict) else None)


class NodeScreen(LiveScreen):
    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        with VerticalScroll():
            yield DataTable(id="node-facts", cursor_type="row", show_header=False, zebra_stripes=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one("#node-facts", DataTable).add_columns("field", "value")
        super().on_mount()

    def show_data(self) -> None:
        table = self.query_one("#node-facts", DataTable)
        app = self.tui
        data_dir = str(app.link.endpoint.data_dir) if app.link.endpoint.data_dir else "(not given: --api)"
        snapshot = app.snapshot
        if snapshot is None:
            fill_table(table, [("node", "waiting for the node…"), ("data directory", data_dir)])
            return
        s = snapshot.status
        metrics = dict(snapshot.metrics)
        rows = [
            ("state", "online" if app.online else "unreachable (showing the last answer)"),
            ("account", s.address),
            ("peer id", s.peer_id),
            ("registered", _yes_no(s.registered)),
            ("stake", format_tokens(s.stake)),
            ("token balance", format_tokens(s.token_balance)),
            ("ETH balance", format_tokens(s.eth_balance)),
            ("chain", f"id {s.chain_id} · block {format_optional(s.block)} · {s.rpc_url}"),
            ("chain error", format_optional(s.chain_error)),
            ("session runner", "plugged in" if s.session_service else "none (sessions read from the chain)"),
            ("connected peers", str(s.connected_peers)),
            ("listening on", ", ".join(s.listen_addrs) or MISSING),
            ("control API", s.api_url),
            ("data directory", data_dir),
            ("version", s.version),
            ("uptime", format_duration(s.uptime_s)),
            ("content", f"{_metric(metrics, 'content', 'blocks')} blocks, {_metric(metrics, 'content', 'bytes')} B"),
            ("events", f"last seq {_metric(metrics, 'events', 'last_seq')}, "
                       f"dropped {_metric(metrics, 'events', 'dropped')}"),
        ]  # fmt: skip
        fill_table(table, rows)
