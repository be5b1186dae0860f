"""Peer latency for the Network screen: libp2p's ping protocol, timed here."""

from __future__ import annotations

from pathlib import Path

import trio
from gossip_helpers import ChainView, start_networks, wait_until


async def test_ping_measures_a_connected_peer_and_gives_up_on_an_unknown_one(tmp_path: Path) -> None:
    chain = ChainView()
    accounts = [chain.new_runner() for _ in range(2)]
    with trio.fail_after(30):
        async with start_networks(tmp_path, chain, accounts) as (a, b):
            await wait_until(lambda: b.host.peer_id in a.host.connected_peers(), what="connection")
            rtt = await a.host.ping(b.host.peer_id)
            assert rtt is not None and 0 < rtt < 1000
            stranger = "12D3KooWGJwFRvgZJj3gdEMcD7Zj5h8bjJa5DpZcDUcE3JLJQzYX"  # a valid id nobody here has
            assert await a.host.ping(stranger, timeout_s=0.5) is None
