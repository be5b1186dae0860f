"""Direct envelopes: one peer gets a signed message over a kept stream, through the same validator as gossip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import trio
from gossip_helpers import DOMAIN, FAST_DISCOVERY, NOTE, PRESENCE, ChainView, start_networks, wait_until

from parity_p2p.gossip import direct
from parity_p2p.gossip.direct import DIRECT_PROTOCOL
from parity_p2p.gossip.errors import GossipError, PublishError
from parity_p2p.gossip.host import HostConfig
from parity_p2p.gossip.network import NetworkConfig, serve
from parity_p2p.gossip.pubsub import GossipMessage
from parity_p2p.gossip.topics import KindRegistry, session_topic

TOPIC = session_topic(7)


async def test_a_direct_message_reaches_only_its_peer_and_is_validated_like_gossip(tmp_path: Path) -> None:
    chain = ChainView()
    accounts = [chain.new_runner(7) for _ in range(3)]
    with trio.fail_after(45):
        async with start_networks(tmp_path, chain, accounts) as (a, b, c):
            await wait_until(lambda: len(a.host.connected_peers()) == 2, what="a connected to b and c")
            async with b.gossip.subscribe(TOPIC) as at_b, c.gossip.subscribe(TOPIC) as at_c:
                await a.direct.send_signed(b.host.peer_id, TOPIC, NOTE.kind, {"text": "for b only"}, round=0)
                with trio.fail_after(5):
                    message = await at_b.receive()
                assert message.envelope.payload == {"text": "for b only"}
                assert message.envelope.sender == a.gossip.account.address
                assert message.origin_peer == a.host.peer_id
                await trio.sleep(0.5)
                assert at_c.statistics().current_buffer_used == 0, "a direct message went to a third peer"
                assert b.metrics.counters["gossip.direct_delivered"] == 1

                # The same envelope again is a replay; a changed payload breaks the signature: both refused, and
                # the stream goes on carrying the next message.
                envelope = a.gossip.sign(TOPIC, NOTE.kind, {"text": "once"})
                forged = dataclasses.replace(envelope, payload={"text": "twice"}).encode()
                stream = await a.host.open_stream(b.host.peer_id, DIRECT_PROTOCOL)
                for data, reason in [(envelope.encode(), ""), (envelope.encode(), "replay"), (forged, "signature")]:
                    await stream.write_frame(data)
                    answer = await stream.read_json(4096, DIRECT_PROTOCOL)
                    assert (answer["status"] == "OK") == (not reason), answer
                    assert reason in answer.get("reason", "").lower(), answer
                await stream.aclose()
                with trio.fail_after(5):
                    assert (await at_b.receive()).envelope.payload == {"text": "once"}

            # Nobody at b listens to the topic any more: refused with the reason, for the sender to fall back.
            with pytest.raises(PublishError, match="not subscribed"):
                await a.direct.send_signed(b.host.peer_id, TOPIC, NOTE.kind, {"text": "x"})


async def test_direct_messages_to_a_peer_share_one_stream_and_a_broken_one_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct, "LINK_IDLE_S", 1.0)  # the receiver ends a quiet stream after a second
    chain = ChainView()
    accounts = [chain.new_runner(7) for _ in range(2)]
    with trio.fail_after(45):
        async with start_networks(tmp_path, chain, accounts) as (a, b):
            await wait_until(lambda: len(a.host.connected_peers()) == 1, what="a connected to b")
            async with b.gossip.subscribe(TOPIC) as at_b:
                for number in range(5):
                    await a.direct.send_signed(b.host.peer_id, TOPIC, NOTE.kind, {"text": str(number)})
                texts = [(await at_b.receive()).envelope.payload["text"] for _ in range(5)]
                assert texts == ["0", "1", "2", "3", "4"]
                assert a.metrics.counters["gossip.direct_streams_opened"] == 1

                # Concurrent sends to one peer take turns on its stream: every answer reaches its own sender.
                async with trio.open_nursery() as nursery:
                    for number in range(5, 10):
                        nursery.start_soon(
                            a.direct.send_signed, b.host.peer_id, TOPIC, NOTE.kind, {"text": str(number)}
                        )
                texts = [(await at_b.receive()).envelope.payload["text"] for _ in range(5)]
                assert sorted(texts) == list("56789")
                assert a.metrics.counters["gossip.direct_streams_opened"] == 1

                await trio.sleep(2.0)  # b closed the idle stream: the next send finds it broken and opens another
                await a.direct.send_signed(b.host.peer_id, TOPIC, NOTE.kind, {"text": "after idle"})
                assert (await at_b.receive()).envelope.payload["text"] == "after idle"
                assert a.metrics.counters["gossip.direct_streams_opened"] == 2
                assert a.metrics.counters["gossip.direct_reopened"] == 1
                assert b.metrics.counters["gossip.direct_delivered"] == 11


async def test_a_fan_out_reaches_its_first_peer_before_the_others(tmp_path: Path) -> None:
    # b answers 0.3 s late (its chain lookups are slow): sent to b first, c gets the message only after b took it;
    # sent to both at once, c has it long before b.
    chain = ChainView()
    a_account, b_account, c_account = (chain.new_runner(7) for _ in range(3))
    fast = chain.membership()

    async def slow_registered(address: str) -> bool:
        await trio.sleep(0.3)
        return address in chain.registered

    slow = dataclasses.replace(fast, is_registered=slow_registered)
    with trio.fail_after(45):
        async with start_networks(tmp_path, chain, [a_account, c_account]) as (a, c), trio.open_nursery() as nursery:
            config = NetworkConfig(
                host=HostConfig(key_path=tmp_path / "b.key", bootstrap=tuple(a.host.listen_addrs())),
                domain=DOMAIN, discovery=FAST_DISCOVERY,
            )  # fmt: skip
            b = await nursery.start(serve, config, b_account, slow, KindRegistry([PRESENCE, NOTE]))
            await wait_until(lambda: len(a.host.connected_peers()) == 2, what="a connected to b and c")
            async with b.gossip.subscribe(TOPIC) as at_b, c.gossip.subscribe(TOPIC) as at_c:
                for first, text in [(b.host.peer_id, "b first"), ("", "all at once")]:
                    arrived: dict[str, float] = {}

                    async def note(
                        name: str, inbox: trio.MemoryReceiveChannel[GossipMessage], arrived: dict[str, float]
                    ) -> None:
                        await inbox.receive()
                        arrived[name] = trio.current_time()

                    envelope = a.gossip.sign(TOPIC, NOTE.kind, {"text": text})
                    async with trio.open_nursery() as watchers:
                        watchers.start_soon(note, "b", at_b, arrived)
                        watchers.start_soon(note, "c", at_c, arrived)
                        peers = [c.host.peer_id, b.host.peer_id]
                        delivered = await a.direct.fan_out(peers, envelope, first=first, wait_s=5.0)
                    assert delivered == set(peers)
                    if first:
                        assert arrived["c"] > arrived["b"], arrived
                    else:
                        assert arrived["b"] - arrived["c"] > 0.2, arrived
            nursery.cancel_scope.cancel()


async def test_a_peer_cannot_hold_more_than_a_few_direct_streams_open(tmp_path: Path) -> None:
    chain = ChainView()
    accounts = [chain.new_runner(7) for _ in range(2)]
    with trio.fail_after(45):
        async with start_networks(tmp_path, chain, accounts) as (a, b):
            await wait_until(lambda: len(a.host.connected_peers()) == 1, what="a connected to b")
            async with b.gossip.subscribe(TOPIC):
                streams = []
                for number in range(direct.MAX_STREAMS_PER_PEER + 2):
                    stream = await a.host.open_stream(b.host.peer_id, DIRECT_PROTOCOL)
                    await stream.write_frame(a.gossip.sign(TOPIC, NOTE.kind, {"text": str(number)}).encode())
                    streams.append(stream)
                answered = 0
                for stream in streams:
                    try:
                        answer = await stream.read_json(4096, DIRECT_PROTOCOL)
                    except GossipError:
                        continue  # refused: reset by b
                    answered += answer["status"] == "OK"
                assert answered == direct.MAX_STREAMS_PER_PEER
                assert b.metrics.counters["gossip.direct_streams_refused"] == 2
                for stream in streams:
                    await stream.aclose()
                # Closed streams free their places: a new one is served again.
                await wait_until(lambda: b.direct.inbound_streams(a.host.peer_id) == 0, what="b to see them closed")
                await a.direct.send_signed(b.host.peer_id, TOPIC, NOTE.kind, {"text": "later"})


async def test_a_link_left_idle_is_closed_and_forgotten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runners come and go over a node's life: without this, every peer ever sent to kept a stream and an entry.
    monkeypatch.setattr(direct, "SENDER_IDLE_S", 1.0)
    chain = ChainView()
    accounts = [chain.new_runner(7) for _ in range(3)]
    with trio.fail_after(45):
        async with start_networks(tmp_path, chain, accounts) as (a, b, c):
            await wait_until(lambda: len(a.host.connected_peers()) == 2, what="a connected to b and c")
            async with b.gossip.subscribe(TOPIC), c.gossip.subscribe(TOPIC):
                await a.direct.send_signed(b.host.peer_id, TOPIC, NOTE.kind, {"text": "to b"})
                await a.direct.send_signed(c.host.peer_id, TOPIC, NOTE.kind, {"text": "to c"})
                assert sorted(a.direct.linked_peers()) == sorted([b.host.peer_id, c.host.peer_id])
                assert b.direct.inbound_streams(a.host.peer_id) == 1

                # b's link stays quiet; c's is used on the way, so only b's goes.
                for _ in range(6):
                    await trio.sleep(0.25)
                    await a.direct.send_signed(c.host.peer_id, TOPIC, NOTE.kind, {"text": "to c again"})
                assert a.direct.linked_peers() == [c.host.peer_id]
                assert a.metrics.counters["gossip.direct_links_closed_idle"] == 1
                await wait_until(lambda: b.direct.inbound_streams(a.host.peer_id) == 0, what="b to see it closed")
                assert c.direct.inbound_streams(a.host.peer_id) == 1
                assert a.metrics.counters["gossip.direct_streams_opened"] == 2

                # Sending to b again opens a new link, as for a peer never met.
                await a.direct.send_signed(b.host.peer_id, TOPIC, NOTE.kind, {"text": "to b later"})
                assert sorted(a.direct.linked_peers()) == sorted([b.host.peer_id, c.host.peer_id])
                assert a.metrics.counters["gossip.direct_streams_opened"] == 3
                assert a.metrics.counters.get("gossip.direct_reopened", 0) == 0
