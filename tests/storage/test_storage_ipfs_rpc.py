"""The IPFS RPC client against a real js-ipfs daemon (skipped when not installed), and against replies a
real daemon cannot be made to give (a lying or broken daemon, via httpx.MockTransport)."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from parity_p2p.storage import (
    CHUNK_SIZE,
    BlockHashMismatch,
    BlockNotFound,
    ContentStore,
    ContentTooLarge,
    FsBlockstore,
    InvalidCid,
    IpfsRpcClient,
    IpfsRpcError,
    compute_cid,
)

MakeVector = Callable[[str, int], bytes]
MISSING = compute_cid(b"content nobody ever added to this daemon")


@pytest.fixture
def client(ipfs_api_url: str) -> Iterator[IpfsRpcClient]:
    with IpfsRpcClient(ipfs_api_url, content_timeout_s=1) as rpc:
        yield rpc


@pytest.mark.parametrize("size", [0, 1, 1000, CHUNK_SIZE, CHUNK_SIZE + 1, 4 * CHUNK_SIZE + 17])
def test_daemon_and_we_compute_the_same_cid(client: IpfsRpcClient, make_vector: MakeVector, size: int) -> None:
    data = make_vector(f"rpc {size}", size)
    cid = client.add(data, pin=False)
    assert cid == compute_cid(data)
    assert client.cat(cid) == data


def test_two_level_file_gets_the_same_cid_from_the_daemon(
    client: IpfsRpcClient, make_vector: MakeVector, tmp_path: Path
) -> None:
    source = tmp_path / "two-levels.bin"
    source.write_bytes(make_vector("rpc two levels", 174 * CHUNK_SIZE + 1))
    cid = client.add_file(source, pin=False)
    assert cid == compute_cid(source.read_bytes())


def test_daemon_blocks_feed_our_store(client: IpfsRpcClient, make_vector: MakeVector, tmp_path: Path) -> None:
    data = make_vector("rpc fetcher", 3 * CHUNK_SIZE + 5)
    cid = client.add(data)
    store = ContentStore(FsBlockstore(tmp_path / "content"), fetcher=client)
    assert store.get(cid) == data
    assert store.blocks_fetched == 5
    client.pin_rm(cid)


def test_missing_content_times_out_as_not_found(client: IpfsRpcClient) -> None:
    with pytest.raises(BlockNotFound, match="could not find it"):
        client.cat(MISSING)
    with pytest.raises(BlockNotFound):
        client.block_get(MISSING)


def test_cat_respects_max_size(client: IpfsRpcClient) -> None:
    cid = client.add(b"x" * 5000, pin=False)
    with pytest.raises(ContentTooLarge):
        client.cat(cid, max_size=4000)


def test_version(client: IpfsRpcClient) -> None:
    # ipfs@0.66.1 reports its ipfs-core version, 0.18.1; Kubo reports e.g. 0.30.0
    assert re.fullmatch(r"\d+\.\d+\.\d+(-\w+)?", client.version())


# ---- no daemon needed ----------------------------------------------------------------------------


def test_bad_cid_is_refused_before_any_request() -> None:
    with IpfsRpcClient("http://127.0.0.1:9") as rpc, pytest.raises(InvalidCid):
        rpc.cat("not-a-cid")


def test_unreachable_daemon_is_a_typed_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with IpfsRpcClient(f"http://127.0.0.1:{port}", request_timeout_s=2) as rpc:
        with pytest.raises(IpfsRpcError, match="ConnectError"):
            rpc.add(b"data")
        with pytest.raises(IpfsRpcError, match="block/get"):
            rpc.block_get(MISSING)


def _lying_daemon(handler: httpx.MockTransport) -> IpfsRpcClient:
    return IpfsRpcClient("http://daemon.invalid", transport=handler)


def test_a_block_with_wrong_bytes_is_refused() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"forged"))
    with _lying_daemon(transport) as rpc, pytest.raises(BlockHashMismatch, match=r"daemon\.invalid"):
        rpc.block_get(MISSING)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (httpx.Response(200, text="<html>proxy</html>"), "not JSON lines"),
        (httpx.Response(200, text='{"Name":"data","Bytes":10}\n'), "no Hash"),
        (httpx.Response(200, text='{"Hash":"Qmnope"}'), "unusable CID"),
        (httpx.Response(500, json={"Message": "repo is locked", "Code": 0, "Type": "error"}), "repo is locked"),
    ],
)
def test_broken_add_replies_are_typed(reply: httpx.Response, message: str) -> None:
    with _lying_daemon(httpx.MockTransport(lambda request: reply)) as rpc, pytest.raises(IpfsRpcError, match=message):
        rpc.add(b"data")


def test_kubo_deadline_message_means_not_found() -> None:
    seen: list[httpx.Request] = []

    def kubo(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500, json={"Message": "context deadline exceeded", "Code": 0, "Type": "error"})

    with _lying_daemon(httpx.MockTransport(kubo)) as rpc, pytest.raises(BlockNotFound):
        rpc.cat(MISSING)
    assert seen[0].method == "POST"
    assert seen[0].url.params["timeout"] == "10s"
    assert seen[0].url.params["arg"] == MISSING
