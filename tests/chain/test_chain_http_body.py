"""JSON-RPC request bodies: sent as one plain async iterator, never an async generator that a broken connection
could leave unfinished (trio then warns when it is collected)."""

from __future__ import annotations

import inspect
import json

import httpx
import pytest
import trio

from parity_p2p.chain.errors import RpcUnavailableError
from parity_p2p.chain.http_body import OneShotBody, json_post
from parity_p2p.chain.rpc import JsonRpc


async def test_a_body_yields_its_bytes_once_and_is_no_async_generator() -> None:
    iterator = aiter(OneShotBody(b"abc"))
    assert not inspect.isasyncgen(iterator)
    assert [chunk async for chunk in iterator] == [b"abc"]


async def test_json_post_carries_length_type_and_the_clients_timeout() -> None:
    async with httpx.AsyncClient(timeout=3.0) as client:
        request = json_post(client, "http://127.0.0.1:1/", b'{"a":1}')
    assert request.headers["content-length"] == "7"
    assert request.headers["content-type"] == "application/json"
    assert request.extensions["timeout"]["read"] == 3.0
    assert isinstance(request.stream, OneShotBody)


async def test_a_node_that_hangs_up_mid_request_is_unavailable_and_a_live_one_answers() -> None:
    async def hang_up(stream: trio.SocketStream) -> None:
        await stream.aclose()

    async def answer(stream: trio.SocketStream) -> None:
        raw = b""
        while b"\r\n\r\n" not in raw:
            raw += await stream.receive_some(65536)
        head, body = raw.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        length = int(next(x for x in lines if x.lower().startswith(b"content-length")).split(b":")[1])
        while len(body) < length:
            body += await stream.receive_some(65536)
        request = json.loads(body)
        reply = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x7a69"}).encode()
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                              + str(len(reply)).encode() + b"\r\nconnection: close\r\n\r\n" + reply)  # fmt: skip
        await stream.aclose()

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            dead = (await nursery.start(trio.serve_tcp, hang_up, 0))[0].socket.getsockname()[1]
            live = (await nursery.start(trio.serve_tcp, answer, 0))[0].socket.getsockname()[1]
            async with JsonRpc(f"http://127.0.0.1:{dead}/", read_attempts=2) as rpc:
                with pytest.raises(RpcUnavailableError):
                    await rpc.chain_id()
            async with JsonRpc(f"http://127.0.0.1:{live}/") as rpc:
                assert await rpc.chain_id() == 31337
            nursery.cancel_scope.cancel()
