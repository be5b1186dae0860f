"""A line at the top of every screen that appears only while the node does not answer."""

from __future__ import annotations

from textual.widgets import Static


class ConnectionBanner(Static):
    def show_state(self, online: bool, waiting_since: str | None, reason: str | None, target: str) -> None:
        self.set_class(not online, "-offline")
        if online:
            self.update("")
        else:
            since = f" since {waiting_since} UTC" if waiting_since else ""
            self.update(f"Node unreachable ({target}){since}: {reason or 'no answer'} — reconnecting…")
