"""An HTTP request body httpx can send without an async generator.

httpx sends `content=bytes` through `ByteStream.__aiter__`, an async generator. When the connection fails while
the body is being written (a chain node restarting, a reset), the generator is left unfinished and trio warns
when it is garbage collected (a ResourceWarning: an error under the test suite's filterwarnings). A plain async
iterator has nothing to finalise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx


class OneShotBody(httpx.AsyncByteStream):
    def __init__(self, data: bytes) -> None:
        self._data = data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _Once(self._data)


class _Once:
    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _Once:
        return self

    async def __anext__(self) -> bytes:
        if self._data is None:
            raise StopAsyncIteration
        data, self._data = self._data, None
        return data


def json_post(client: httpx.AsyncClient, url: str, body: bytes) -> httpx.Request:
    """A POST of `body` as application/json, built by `client` (its timeouts, Content-Length) with a OneShotBody."""
    request = client.build_request("POST", url, content=body, headers={"content-type": "application/json"})
    request.stream = OneShotBody(body)
    return request
