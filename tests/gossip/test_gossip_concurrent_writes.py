"""Two large pubsub RPCs written to one stream at once must not interleave (TOOLCHAIN: YamuxStream.write locks
per 64 KiB frame, not per write, and gossipsub writes outside its send queue when flushing or replaying)."""

from __future__ import annotations

from pathlib import Path

import trio
from libp2p.pubsub.pb import rpc_pb2

from parity_p2p.gossip.host import HostConfig, P2PHost, serve


def _big_rpc(fill: bytes) -> rpc_pb2.RPC:
    # Messages for a topic nobody subscribes to: the receiver parses and ignores them.
    return rpc_pb2.RPC(publish=[rpc_pb2.Message(data=fill * 200_000, topicIDs=["parity/v1/unused"])])


async def test_concurrent_large_writes_arrive_whole(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            a: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "a"))
            b: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "b"))
            await a.connect(b.listen_addrs()[0])
            while not (a._pubsub.peers and b._pubsub.peers):
                await trio.sleep(0.05)
            stream = next(iter(a._pubsub.peers.values()))
            results: list[bool] = []

            async def write(fill: bytes) -> None:
                results.append(await a._pubsub.write_msg(stream, _big_rpc(fill)))

            for _ in range(3):
                async with trio.open_nursery() as writers:
                    for fill in (b"a", b"b", b"c"):
                        writers.start_soon(write, fill)
            await trio.sleep(0.5)
            assert results == [True] * 9
            assert b.metrics.counters["pubsub.malformed_rpc"] == 0
            assert a.peer_id in b.connected_peers()
            assert a.peer_id in [p.to_base58() for p in b._pubsub.peers]
            nursery.cancel_scope.cancel()
