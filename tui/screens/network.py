"""Network: this node's peers (connected first), with what the API tells about each."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from tui.model import MISSING, format_optional, format_tokens, short
from tui.screens.base import LiveScreen
from tui.widgets.table_fill import fill_table

COLUMNS = ("Peer", "Conn", "Account", "Latency", "Stake", "Rep.", "Sessions", "Addresses")


def transport_part(multiaddr: str) -> str:
    """The dialable part of a multiaddr: the /p2p/<peer id> tail repeats the Peer column."""
    return multiaddr.split("/p2p/", 1)[0]


class NetworkScreen(LiveScreen):
    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        yield Static(id="network-summary", classes="summary")
        yield DataTable(id="peers", cursor_type="row", zebra_stripes=True)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one("#peers", DataTable).add_columns(*COLUMNS)
        super().on_mount()

    def show_data(self) -> None:
        snapshot = self.tui.snapshot
        summary = self.query_one("#network-summary", Static)
        table = self.query_one("#peers", DataTable)
        if snapshot is None:
            summary.update("Waiting for the node…")
            return
        connected = sum(1 for p in snapshot.peers if p.connected)
        summary.update(f"Peer {snapshot.self_peer} · {connected} connected · {len(snapshot.peers)} known")
        rows = [
            (
                short(peer.peer_id),
                "yes" if peer.connected else "no",
                short(peer.address) if peer.address else MISSING,
                f"{peer.latency_ms:.0f} ms" if peer.latency_ms is not None else MISSING,
                format_tokens(peer.stake),
                format_optional(peer.reputation),
                ", ".join(str(s) for s in peer.sessions) or MISSING,
                ", ".join(transport_part(a) for a in peer.addrs) or MISSING,
            )
            for peer in snapshot.peers
        ]
        fill_table(table, rows, [peer.peer_id for peer in snapshot.peers])
        if not snapshot.peers:
            summary.update(f"Peer {snapshot.self_peer} · no peers yet")
