"""A peer sending undecodable bytes on the gossipsub protocol must not take the host down (TOOLCHAIN: py-libp2p
lets protobuf's DecodeError escape its pubsub stream handler)."""

from __future__ import annotations

from pathlib import Path

import trio
from gossip_helpers import ChainView, start_networks, start_raw_host, wait_until
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from parity_p2p.gossip.streams import FramedStream
from parity_p2p.gossip.topics import session_topic

SESSION = 9
TOPIC = session_topic(SESSION)

# A varint length prefix, then bytes that are not a protobuf RPC: 0xff... is a field tag with wire type 7,
# which does not exist.
GARBAGE_FRAME = b"\x08" + b"\xff" * 8


async def _send_raw(stream: FramedStream, data: bytes) -> None:
    await stream._write(data)  # no frame: pubsub reads varint-prefixed RPCs (the protocol proposal goes first)


async def test_garbage_on_meshsub_does_not_kill_the_host(tmp_path: Path) -> None:
    chain = ChainView(rounds={SESSION: 1})
    accounts = [chain.new_runner(SESSION) for _ in range(2)]
    with trio.fail_after(40):
        async with (
            start_networks(tmp_path, chain, accounts) as (victim, honest),
            start_raw_host(tmp_path, "attacker") as attacker,
            victim.gossip.subscribe(TOPIC) as inbox,
            honest.gossip.subscribe(TOPIC),
        ):
            await attacker.connect(victim.host.listen_addrs()[0])
            for protocol in ("/meshsub/1.1.0", "/meshsub/1.0.0"):
                stream = await attacker.open_stream(victim.host.peer_id, protocol)
                await _send_raw(stream, GARBAGE_FRAME)
            # A well-formed RPC whose message carries a junk public key and a junk sender id.
            rpc = rpc_pb2.RPC(
                publish=[
                    rpc_pb2.Message(
                        from_id=b"\x00\x01junk", data=b"{}", seqno=b"\x00" * 8, topicIDs=[TOPIC],
                        signature=b"sig", key=b"\xff\xfe not a key",
                    )
                ]
            )
            body = rpc.SerializeToString()
            stream = await attacker.open_stream(victim.host.peer_id, "/meshsub/1.1.0")
            await _send_raw(stream, bytes([len(body)]) + body)

            await wait_until(lambda: victim.metrics.counters["pubsub.malformed_rpc"] == 2, what="garbage counted")
            # The victim still serves: a message from the honest peer arrives.
            await wait_until(lambda: honest.host.peer_id in victim.host.mesh_peers(TOPIC), what="mesh")
            sent = await honest.gossip.publish(TOPIC, "note", {"text": "still alive"}, round=1)
            assert (await inbox.receive()).envelope == sent
            assert honest.host.peer_id in victim.host.connected_peers()

            # Straight into the victim's pubsub, as its stream reader hands a message on: a junk key is dropped and
            # counted (py-libp2p's signature check raised from a service task, which stopped the node's pubsub).
            fresh = rpc_pb2.Message()
            fresh.CopyFrom(rpc.publish[0])
            fresh.seqno = b"\x01" * 8  # not seen before, whatever became of the one sent over the stream
            await victim.host._pubsub.push_msg(ID.from_base58(attacker.peer_id), fresh)
            assert victim.metrics.counters["pubsub.malformed_message"] >= 1
            sent = await honest.gossip.publish(TOPIC, "note", {"text": "alive after the junk key"}, round=1)
            assert (await inbox.receive()).envelope == sent
