"""What every screen shares: the connection banner, the footer with the bindings, and `refresh_data()`, which
the app calls after every poll (and the screen itself when it comes back into view)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header

from tui.widgets.connection_banner import ConnectionBanner

if TYPE_CHECKING:
    from tui.app import ParityTui


class LiveScreen(Screen[None]):
    @property
    def tui(self) -> ParityTui:
        return cast("ParityTui", self.app)

    def compose_frame(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner(id="banner")

    def compose_footer(self) -> ComposeResult:
        yield Footer()

    def on_mount(self) -> None:
        self._render_data()  # composed by now, though `is_mounted` turns true only after this handler

    def on_screen_resume(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        if self.is_mounted:  # a poll can land between push_screen and the screen's compose
            self._render_data()

    def _render_data(self) -> None:
        app = self.tui
        try:
            self.query_one(ConnectionBanner).show_state(app.online, app.offline_since, app.offline_reason, app.target)
            self.show_data()
        except NoMatches:  # a poll landing while the screen is composed, or taken down as the app exits
            return

    def show_data(self) -> None:
        """Render the app's latest data (subclasses)."""
