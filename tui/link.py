"""The TUI's side of the node's control API, on asyncio: one polling client (rebuilt after every failure, since a
restarted node may listen on another port) and fresh clients for the event stream.

`parity_p2p.node.api.client.NodeApiClient` is plain httpx with no trio primitive, so it runs on Textual's asyncio
loop as it is; this module only adds the reconnect policy. The chain client (`parity_p2p.chain`) is trio-only
(trio locks and cancel scopes), so sessions the node is not in are read through the node's API, which answers
them from the chain.
"""

from __future__ import annotations

import httpx

from parity_p2p.node.api.client import NodeApiClient
from parity_p2p.node.errors import NodeError
from tui.endpoint import NodeEndpoint
from tui.errors import TuiError
from tui.model import NodeSnapshot, peers_from_json

REQUEST_TIMEOUT_S = 5.0

LINK_ERRORS: tuple[type[BaseException], ...] = (NodeError, TuiError, httpx.HTTPError, ValueError, KeyError)
"""What a dead, restarting or misbehaving node makes the client raise; all of them mean "offline, retry"."""


def describe_failure(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else f"{type(exc).__name__}: {exc}"


class NodeLink:
    def __init__(self, endpoint: NodeEndpoint, *, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.url: str | None = None
        self._api: NodeApiClient | None = None

    def open_client(self) -> NodeApiClient:
        """A new client on the endpoint as it is now (the caller closes it)."""
        url, token = self.endpoint.resolve()
        self.url = url
        return NodeApiClient(url, token, timeout=self.timeout)

    def api(self) -> NodeApiClient:
        """The polling client, made on first use and after every `reset()` (for one task: others open their own)."""
        if self._api is None:
            self._api = self.open_client()
        return self._api

    async def reset(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            await api.aclose()

    async def snapshot(self) -> NodeSnapshot:
        api = self.api()
        # One after the other: a failure then leaves no request in flight on a client about to be closed.
        status = await api.status()
        peers = await api.peers()
        sessions = await api.sessions()
        metrics = await api.metrics()
        self_peer, rows = peers_from_json(peers)
        return NodeSnapshot(status, rows, self_peer, tuple(sessions), metrics)

    async def aclose(self) -> None:
        await self.reset()
