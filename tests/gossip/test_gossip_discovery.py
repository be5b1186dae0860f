"""Peer exchange: a presence record is only believed for the peer that published it."""

from __future__ import annotations

from pathlib import Path

import trio
from gossip_helpers import DOMAIN, ChainView, raw_publish, raw_subscribe, start_networks, start_raw_host, wait_until

from parity_p2p.gossip.envelope import sign_envelope
from parity_p2p.gossip.topics import NETWORK_TOPIC


async def test_presence_for_another_peer_is_not_dialled(tmp_path: Path) -> None:
    chain = ChainView()
    victim_key, insider_key = chain.new_runner(), chain.new_runner()
    with trio.fail_after(30):
        async with (
            start_networks(tmp_path, chain, [victim_key]) as (victim,),
            start_raw_host(tmp_path, "attacker") as attacker,
            start_raw_host(tmp_path, "target") as target,
        ):
            await attacker.connect(victim.host.listen_addrs()[0])
            await raw_subscribe(attacker, NETWORK_TOPIC)
            await wait_until(lambda: victim.host.peer_id in attacker.mesh_peers(NETWORK_TOPIC), what="mesh")
            # Signed by a registered runner, published by the attacker's host, naming the target's peer id.
            lie = sign_envelope(insider_key, DOMAIN, kind="presence", topic=NETWORK_TOPIC,
                                payload={"peer_id": target.peer_id, "addrs": target.listen_addrs()})
            await raw_publish(attacker, NETWORK_TOPIC, lie.encode())
            await wait_until(lambda: victim.metrics.counters["discovery.presence_mismatch"] == 1, what="mismatch")
            # The same record naming the attacker itself is believed and remembered.
            truth = sign_envelope(insider_key, DOMAIN, kind="presence", topic=NETWORK_TOPIC,
                                  payload={"peer_id": attacker.peer_id, "addrs": attacker.listen_addrs()})
            await raw_publish(attacker, NETWORK_TOPIC, truth.encode())
            await wait_until(lambda: any(p.peer_id == attacker.peer_id for p in victim.discovery.known_peers()),
                             what="known peer")
            assert not victim.host.is_connected(target.peer_id)
            (known,) = victim.discovery.known_peers()
            assert known.address == insider_key.address
            assert known.addrs == tuple(attacker.listen_addrs())
