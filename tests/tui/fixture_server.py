"""A small HTTP server on 127.0.0.1 that answers like a node's control API from a recording
(tests/tui/recorded/node_api.json, made by record_node_api.py from real nodes), so the TUI's snapshots are the
same on every run. /v1/events replays the recorded events after `since` and then stays open, as the node does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RECORDING = Path(__file__).resolve().parent / "recorded" / "node_api.json"
TOKEN = "recorded-api-token"


@dataclass(frozen=True)
class RecordedApi:
    url: str
    token_file: Path


def _handler(recording: dict[str, Any], stopping: threading.Event) -> type[BaseHTTPRequestHandler]:
    routes: dict[str, Any] = recording["routes"]
    events: list[dict[str, Any]] = recording["events"]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows stderr on failure only
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._json(401, {"error": "unauthorized", "status": 401})
                return
            url = urlsplit(self.path)
            if url.path == "/v1/events":
                since = int(parse_qs(url.query).get("since", ["0"])[0])
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                for event in events:
                    if event["seq"] > since:
                        self.wfile.write(json.dumps(event).encode() + b"\n")
                self.wfile.flush()
                stopping.wait()
                return
            if url.path not in routes:
                self._json(404, {"error": f"no route {url.path}", "status": 404})
                return
            self._json(200, routes[url.path])

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A TUI that exits mid-answer closes its connection: expected here, not worth a traceback."""


@contextmanager
def recorded_api(directory: Path) -> Iterator[RecordedApi]:
    recording = json.loads(RECORDING.read_text())
    stopping = threading.Event()
    server = _Server(("127.0.0.1", 0), _handler(recording, stopping))
    thread = threading.Thread(target=server.serve_forever, name="recorded-api", daemon=True)
    thread.start()
    token_file = directory / "api.token"
    token_file.write_text(TOKEN + "\n")
    try:
        yield RecordedApi(f"http://127.0.0.1:{server.server_address[1]}", token_file)
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
