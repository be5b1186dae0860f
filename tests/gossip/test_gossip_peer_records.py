"""Signed peer records on gossip RPCs: verified once per peer and record, never trusted when they change."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from gossip_helpers import ChainView, start_networks, wait_until
from libp2p.peer.id import ID
from libp2p.pubsub.pb.rpc_pb2 import RPC

from parity_p2p.gossip import peer_records


async def test_a_peers_record_is_verified_once_and_a_changed_one_is_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[ID] = []
    stock = peer_records.maybe_consume_signed_record

    def counting(msg: RPC, host: object, peer_id: ID) -> bool:
        verified.append(peer_id)
        return stock(msg, host, peer_id)  # type: ignore[arg-type]

    monkeypatch.setattr(peer_records, "maybe_consume_signed_record", counting)
    chain = ChainView()
    accounts = [chain.new_runner() for _ in range(2)]
    with trio.fail_after(30):
        async with start_networks(tmp_path, chain, accounts) as (a, b):
            await wait_until(lambda: b.host.peer_id in a.host.connected_peers(), what="connection")
            a_host, b_host = a.host._host, b.host._host
            a_id = a_host.get_id()
            record, _ = peer_records.own_record(a_host)
            good = RPC(senderRecord=record)
            before = len(verified)
            for _ in range(20):
                assert peer_records.consume_sender_record(good, b_host, a_id)
            assert len(verified) - before <= 1, "the same record from the same peer was verified again"

            tampered = bytearray(record)
            tampered[-1] ^= 1  # the signature's last byte
            assert not peer_records.consume_sender_record(RPC(senderRecord=bytes(tampered)), b_host, a_id)
            assert not peer_records.consume_sender_record(good, b_host, b_host.get_id()), "another peer's record"
            assert peer_records.consume_sender_record(good, b_host, a_id)
            assert peer_records.consume_sender_record(RPC(), b_host, a_id), "an RPC without a record passes"
