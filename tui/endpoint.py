"""Where the node's control API is: a data directory (api.json + api.token, re-read at every reconnect because a
restarted node with `api.port = 0` gets a new port) or an explicit URL and token file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parity_p2p.node.api.client import endpoint_for
from parity_p2p.node.errors import NodeError, NodeNotRunningError
from tui.errors import EndpointError, NodeUnreachableError


@dataclass(frozen=True)
class NodeEndpoint:
    data_dir: Path | None = None
    api_url: str | None = None
    token_file: Path | None = None

    def describe(self) -> str:
        return str(self.data_dir) if self.data_dir is not None else str(self.api_url)

    def resolve(self) -> tuple[str, str]:
        """(base URL, bearer token), read now."""
        if self.data_dir is not None:
            try:
                return endpoint_for(self.data_dir)
            except NodeNotRunningError as exc:
                raise NodeUnreachableError(str(self.data_dir), exc.reason) from None
            except NodeError as exc:
                raise EndpointError(str(self.data_dir), str(exc)) from None
        if self.api_url is None or self.token_file is None:
            raise EndpointError("endpoint", "give --data-dir, or both --api and --token-file")
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise EndpointError(str(self.token_file), exc.strerror or str(exc)) from None
        if not token:
            raise EndpointError(str(self.token_file), "the token file is empty")
        return self.api_url.rstrip("/"), token
