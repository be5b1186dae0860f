"""Clients of the control API: `NodeApiClient` (async, httpx; works under trio and asyncio, so the CLI and the
Textual TUI share it) and `NodeApiSync` for one-shot commands.

    async with NodeApiClient.from_data_dir(path) as api:
        status = await api.status()
        async with api.events(since=0) as events:
            async for event in events: ...
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from parity_p2p.node.api.models import (
    NodeStatus,
    event_from_json,
    from_json,
    round_from_json,
    session_from_json,
    submitted_from_json,
)
from parity_p2p.node.datadir import DataDir
from parity_p2p.node.errors import ApiRequestError, NodeNotRunningError
from parity_p2p.node.events import Event
from parity_p2p.node.services import RoundInfo, SessionInfo, SubmittedUpdate

DEFAULT_TIMEOUT_S = 10.0


def endpoint_for(data_dir: Path) -> tuple[str, str]:
    """(base URL, token) of the node running on `data_dir`, from the api.json it wrote and its api.token."""
    layout = DataDir(data_dir)
    layout.require_initialised()
    url = layout.read_api_endpoint()
    if url is None:
        raise NodeNotRunningError(data_dir, f"{layout.api_endpoint_path} does not exist")
    return url, layout.read_token()


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        message = str(response.json().get("error", response.text))
    except ValueError:
        message = response.text.strip() or response.reason_phrase
    raise ApiRequestError(response.status_code, message)


class EventStream:
    """Events parsed from the NDJSON lines of /v1/events (a class, so leaving the loop early needs no cleanup)."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while True:
            line = await self._lines.__anext__()  # StopAsyncIteration ends the loop when the node closes it
            if line.strip():
                try:
                    return event_from_json(json.loads(line))
                except ValueError:
                    raise ApiRequestError(200, f"the event stream sent a non-JSON line: {line[:80]!r}") from None


async def _finish(response: httpx.Response, lines: AsyncIterator[str]) -> None:
    """Close a stream left early. httpx's line iterator nests several async generators and closing the outer one
    leaves the inner ones to the garbage collector (a ResourceWarning under trio); closing the response and then
    running the iterator to its end finishes all of them."""
    await response.aclose()
    try:
        async for _ in lines:
            pass
    except httpx.HTTPError:
        pass


class NodeApiClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, trust_env=False
        )

    @classmethod
    def from_data_dir(cls, data_dir: Path, *, timeout: float = DEFAULT_TIMEOUT_S) -> NodeApiClient:
        url, token = endpoint_for(data_dir)
        return cls(url, token, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> NodeApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise NodeNotRunningError(self.base_url, f"{type(exc).__name__}: {exc}") from None
        _raise_for(response)
        return response

    async def get_json(self, path: str) -> Any:
        return (await self._request("GET", path)).json()

    async def status(self) -> NodeStatus:
        return from_json(NodeStatus, await self.get_json("/v1/status"))

    async def peers(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json("/v1/peers")
        return result

    async def metrics(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.get_json("/v1/metrics")
        return result

    async def sessions(self) -> list[SessionInfo]:
        return [session_from_json(s) for s in (await self.get_json("/v1/sessions"))["sessions"]]

    async def session(self, session_id: int) -> SessionInfo:
        return session_from_json(await self.get_json(f"/v1/sessions/{session_id}"))

    async def rounds(self, session_id: int) -> list[RoundInfo]:
        return [round_from_json(r) for r in (await self.get_json(f"/v1/sessions/{session_id}/rounds"))["rounds"]]

    async def add_content(self, data: bytes) -> str:
        cid: str = (await self._request("POST", "/v1/content", content=data)).json()["cid"]
        return cid

    async def get_content(self, cid: str) -> bytes:
        return (await self._request("GET", f"/v1/content/{cid}")).content

    async def submit_update(self, session_id: int, round_number: int, data: bytes) -> SubmittedUpdate:
        response = await self._request(
            "POST", "/v1/updates", params={"session": session_id, "round": round_number}, content=data
        )
        return submitted_from_json(response.json())

    @asynccontextmanager
    async def events(self, since: int | None = None) -> AsyncIterator[EventStream]:
        """The live event stream (no read timeout: it may be quiet for long); `since` replays seq > since."""
        params = {"since": since} if since is not None else {}
        try:
            async with self._http.stream(
                "GET", "/v1/events", params=params, timeout=httpx.Timeout(DEFAULT_TIMEOUT_S, read=None)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _raise_for(response)

                lines = response.aiter_lines()
                try:
                    yield EventStream(lines)
                finally:
                    await _finish(response, lines)
        except httpx.TransportError as exc:
            raise NodeNotRunningError(self.base_url, f"{type(exc).__name__}: {exc}") from None


class NodeApiSync:
    """Blocking twin for one-shot commands (`parity-node status`)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url
        self._http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, trust_env=False
        )

    @classmethod
    def from_data_dir(cls, data_dir: Path, *, timeout: float = DEFAULT_TIMEOUT_S) -> NodeApiSync:
        url, token = endpoint_for(data_dir)
        return cls(url, token, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NodeApiSync:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(self, path: str) -> Any:
        try:
            response = self._http.get(path)
        except httpx.TransportError as exc:
            raise NodeNotRunningError(self.base_url, f"{type(exc).__name__}: {exc}") from None
        _raise_for(response)
        return response.json()

    def status(self) -> NodeStatus:
        return from_json(NodeStatus, self.get_json("/v1/status"))
