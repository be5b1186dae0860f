"""Real hosts on 127.0.0.1 form a mesh and deliver signed messages on a session topic."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio
from gossip_helpers import ChainView, start_networks, wait_until

from parity_p2p.gossip.errors import MeshTimeout
from parity_p2p.gossip.pubsub import GossipMessage
from parity_p2p.gossip.topics import session_topic

SESSION = 7


async def _receive(channel: trio.MemoryReceiveChannel[GossipMessage], count: int) -> list[GossipMessage]:
    return [await channel.receive() for _ in range(count)]


async def test_two_hosts_deliver_a_signed_session_message(tmp_path: Path) -> None:
    chain = ChainView(rounds={SESSION: 3})
    accounts = [chain.new_runner(SESSION) for _ in range(2)]
    topic = session_topic(SESSION)
    with trio.fail_after(30):
        async with (
            start_networks(tmp_path, chain, accounts) as (a, b),
            a.gossip.subscribe(topic) as inbox_a,
            b.gossip.subscribe(topic),
        ):
            assert await a.gossip.wait_for_mesh(topic) == [b.host.peer_id]
            assert await b.gossip.wait_for_mesh(topic) == [a.host.peer_id]
            with pytest.raises(MeshTimeout, match="has 1 of 2 peers"):
                await a.gossip.wait_for_mesh(topic, min_peers=2, timeout_s=0.3)
            sent = await b.gossip.publish(topic, "note", {"text": "hello"}, round=3)
            (got,) = await _receive(inbox_a, 1)
    assert got.envelope == sent
    assert got.envelope.sender == accounts[1].address
    assert got.origin_peer == b.host.peer_id


async def test_five_hosts_find_each_other_and_all_receive(tmp_path: Path) -> None:
    """Everyone bootstraps from node 0 only; peer exchange must connect the rest (each needs degree_low peers)."""
    chain = ChainView(rounds={SESSION: 1})
    accounts = [chain.new_runner(SESSION) for _ in range(5)]
    topic = session_topic(SESSION)
    with trio.fail_after(60):
        async with start_networks(tmp_path, chain, accounts) as nets, AsyncExitStack() as stack:
            inboxes = [await stack.enter_async_context(n.gossip.subscribe(topic)) for n in nets]
            for net in nets:
                await wait_until(lambda net=net: len(net.host.connected_peers()) == 4, what="full peer exchange")
            for net in nets:
                await wait_until(lambda net=net: len(net.host.mesh_peers(topic)) >= 3, what="session mesh")
            # The six links among nodes 1..4 came from presence records (a dial counts once connect() returns).
            await wait_until(
                lambda: sum(n.metrics.counters["discovery.connected_via_presence"] for n in nets) >= 6,
                what="presence dials",
            )
            sent = [await nets[i].gossip.publish(topic, "note", {"text": f"from {i}"}, round=1) for i in (1, 4)]
            for index, inbox in enumerate(inboxes):
                expected = [e for e, origin in zip(sent, (1, 4), strict=True) if origin != index]
                got = [m.envelope for m in await _receive(inbox, len(expected))]
                assert sorted(got, key=lambda e: e.payload["text"]) == expected


async def test_a_burst_of_publishes_is_not_dropped(tmp_path: Path) -> None:
    """py-libp2p drops RPCs once a peer's 32-slot send queue is full; publish waits for room instead."""
    chain = ChainView(rounds={SESSION: 1})
    accounts = [chain.new_runner(SESSION) for _ in range(2)]
    topic = session_topic(SESSION)
    with trio.fail_after(60):
        async with (
            start_networks(tmp_path, chain, accounts) as (a, b),
            a.gossip.subscribe(topic),
            b.gossip.subscribe(topic, buffer=0) as inbox,
        ):
            await a.gossip.wait_for_mesh(topic)
            await b.gossip.wait_for_mesh(topic)
            for i in range(200):
                await a.gossip.publish(topic, "note", {"text": str(i)}, round=1)
            texts = [(await inbox.receive()).envelope.payload["text"] for _ in range(200)]
    assert sorted(texts, key=int) == [str(i) for i in range(200)]
