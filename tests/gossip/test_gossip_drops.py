"""Forged, replayed, unregistered, stale, oversized and misplaced messages are dropped, counted, not delivered
and not relayed. Topology: attacker X -- victim V -- honest H; X is a bare libp2p host without our validator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
from eth_account import Account
from gossip_helpers import (
    DOMAIN,
    ChainView,
    raw_publish,
    raw_subscribe,
    start_networks,
    start_raw_host,
    wait_until,
)

from parity_p2p.gossip.envelope import Envelope, canonical_json, sign_envelope
from parity_p2p.gossip.metrics import DropReason
from parity_p2p.gossip.topics import session_topic

SESSION = 3
ROUND = 5
TOPIC = session_topic(SESSION)


def _note(account: Account, text: str = "hi", round: int = ROUND, **kw: object) -> Envelope:
    return sign_envelope(
        account, DOMAIN, kind="note", topic=TOPIC, payload={"text": text}, session_id=SESSION, round=round, **kw
    )


async def test_invalid_messages_are_dropped_counted_and_not_relayed(tmp_path: Path) -> None:
    chain = ChainView(rounds={SESSION: ROUND})
    victim_key, honest_key, insider_key = (chain.new_runner(SESSION) for _ in range(3))
    outsider_key = chain.new_runner()  # registered, not in the session
    stranger_key = Account.create()  # not registered at all
    with trio.fail_after(40):
        async with (
            start_networks(tmp_path, chain, [victim_key, honest_key]) as (victim, honest),
            start_raw_host(tmp_path, "attacker") as attacker,
            victim.gossip.subscribe(TOPIC) as inbox,
            honest.gossip.subscribe(TOPIC) as honest_inbox,
        ):
            await attacker.connect(victim.host.listen_addrs()[0])
            await raw_subscribe(attacker, TOPIC)
            await wait_until(lambda: victim.host.peer_id in attacker.mesh_peers(TOPIC), what="attacker mesh")
            await wait_until(lambda: honest.host.peer_id in victim.host.mesh_peers(TOPIC), what="victim-honest mesh")

            original = await honest.gossip.publish(TOPIC, "note", {"text": "original"}, round=ROUND)
            assert (await inbox.receive()).envelope == original

            forged = _note(stranger_key)
            forged = Envelope(**{**forged.__dict__, "sender": insider_key.address})  # claims an insider signed
            oversized_payload = {"text": "x" * 40_000}
            # Built by hand: sign_envelope refuses to produce anything this large.
            big_bytes = canonical_json({**json.loads(_note(insider_key).encode()), "payload": oversized_payload})
            attacks = {
                DropReason.BAD_SIGNATURE: forged.encode(),
                DropReason.UNREGISTERED: _note(stranger_key).encode(),
                DropReason.NOT_PARTICIPANT: _note(outsider_key).encode(),
                DropReason.STALE_ROUND: _note(insider_key, round=ROUND - 1).encode(),
                DropReason.FUTURE_ROUND: _note(insider_key, round=ROUND + 2).encode(),
                DropReason.REPLAY: original.encode(),
                DropReason.TOO_LARGE: big_bytes,
                DropReason.MALFORMED: b'{"kind": "note"}',
                DropReason.EXPIRED: _note(insider_key, timestamp_ms=1_000).encode(),
            }
            for data in attacks.values():
                await raw_publish(attacker, TOPIC, data)
            await wait_until(
                lambda: all(victim.metrics.dropped[reason] == 1 for reason in attacks), what="all drops counted"
            )
            # A valid message from the same attacker still gets through: the drops were per message.
            marker = _note(insider_key, text="marker")
            await raw_publish(attacker, TOPIC, marker.encode())
            assert (await inbox.receive()).envelope == marker
            assert (await honest_inbox.receive()).envelope == marker  # relayed by the victim
            await trio.sleep(0.5)  # anything relayed late would show up now
            with pytest.raises(trio.WouldBlock):
                inbox.receive_nowait()
            with pytest.raises(trio.WouldBlock):
                honest_inbox.receive_nowait()

    assert sum(honest.metrics.dropped.values()) == 0, "the victim relayed something it should have dropped"
    assert victim.metrics.dropped[DropReason.FROM_FUTURE] == 0
