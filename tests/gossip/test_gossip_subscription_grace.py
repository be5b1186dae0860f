"""A topic left by its last local subscriber stays subscribed at the libp2p level for a grace period, so a runner
that restarts and subscribes again keeps its place in its peers' mesh (no UNSUBSCRIBE, no GRAFT inside the PRUNE
backoff); after the grace the topic is really left."""

from __future__ import annotations

from pathlib import Path

import trio
from gossip_helpers import ChainView, start_networks, wait_until

from parity_p2p.gossip.pubsub import UNSUBSCRIBE_GRACE_S, Gossip
from parity_p2p.gossip.topics import session_topic

SESSION = 9
GRACE_S = 3.0


async def test_a_quick_resubscribe_reuses_the_subscription_and_the_grace_ends_in_a_real_unsubscribe(
    tmp_path: Path,
) -> None:
    chain = ChainView(rounds={SESSION: 1})
    accounts = [chain.new_runner(SESSION) for _ in range(2)]
    topic = session_topic(SESSION)
    with trio.fail_after(60):
        async with start_networks(tmp_path, chain, accounts) as (a, b), b.gossip.subscribe(topic) as inbox_b:
            a.gossip.unsubscribe_grace_s = GRACE_S
            async with a.gossip.subscribe(topic):
                await a.gossip.wait_for_mesh(topic)
                await b.gossip.wait_for_mesh(topic)

            # Left locally, within the grace: no UNSUBSCRIBE went out, so b still counts a in the topic and mesh.
            await trio.sleep(1.0)  # far longer than an UNSUBSCRIBE takes to arrive on loopback
            assert a.host.peer_id in b.host.pubsub_peers(topic)
            assert a.host.peer_id in b.host.mesh_peers(topic)
            assert topic in a.gossip.subscribed_topics()

            async with a.gossip.subscribe(topic) as inbox_a:
                assert topic in a.gossip.subscribed_topics()
                # Messages flow at once both ways: no mesh to rebuild, no backoff to wait out.
                with trio.fail_after(10):
                    sent = await b.gossip.publish(topic, "note", {"text": "to a"}, round=1)
                    assert (await inbox_a.receive()).envelope == sent
                    back = await a.gossip.publish(topic, "note", {"text": "to b"}, round=1)
                    assert (await inbox_b.receive()).envelope == back
            # The re-subscribe cancelled the first pending unsubscribe: a stays in the topic past the first grace.
            await trio.sleep(1.5)
            assert a.host.peer_id in b.host.pubsub_peers(topic)

            # After the grace the topic is really left: b hears the UNSUBSCRIBE.
            await wait_until(lambda: a.host.peer_id not in b.host.pubsub_peers(topic), 15, "a's UNSUBSCRIBE")
            assert topic not in a.gossip.subscribed_topics()
            assert a.metrics.counters["gossip.unsubscribed_after_grace"] == 1
            assert a.host.peer_id not in b.host.mesh_peers(topic)


def test_the_default_grace_outlasts_the_prune_backoff_and_a_negative_one_is_refused(tmp_path: Path) -> None:
    assert UNSUBSCRIBE_GRACE_S > 60.0  # gossipsub's PRUNE backoff
    try:
        Gossip(None, None, None, unsubscribe_grace_s=-1.0)  # type: ignore[arg-type]
    except ValueError as exc:
        assert "unsubscribe_grace_s must be >= 0" in str(exc)
    else:
        raise AssertionError("a negative grace was accepted")
