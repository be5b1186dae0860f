"""Per-round phase marks: real nodes record when each step of a round happened, in order, and the control API's
rounds view carries them; followers verify with updates fetched on announcement while the leader takes only the
pushed copies; the finalisation watch backs off."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from fixtures.devchain import DevChain
from fixtures.node_network import RunningNode, completed_iris_session

from parity_p2p.consensus.timing import PollBackoff
from parity_p2p.node.chain_sessions import ChainSessions
from parity_p2p.node.context import ChainClock
from parity_p2p.node.session_node_service import SessionApi

LEADER_ORDER = ("trained", "collected", "aggregated", "proposed", "attestation_quorum", "submitted", "receipt")
FOLLOWER_ORDER = ("base_ready", "trained", "update_sent", "finalized_seen")
VERIFY_ORDER = ("proposal_received", "verified", "attested", "finalized_seen")


def _in_order(phases: dict[str, Any], names: tuple[str, ...]) -> None:
    marks = [phases[n] for n in names]
    assert all(isinstance(m, float) for m in marks), dict(zip(names, marks, strict=True))
    assert marks == sorted(marks), dict(zip(names, marks, strict=True))
    assert marks[0] >= 0.0


async def test_every_round_records_its_phases_in_order_and_the_api_shows_them(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    threads_before = torch.get_num_threads()
    torch.set_num_threads(2)
    async with completed_iris_session(dev_chain, tmp_path) as (nodes, _owner, session_id):
        # An Iris-size model trains on one torch thread (policy.torch_threads = 0, automatic): a pool costs more.
        threads_during, _ = torch.get_num_threads(), torch.set_num_threads(threads_before)
        assert threads_during == 1
        leaders, prefetched, carried = set(), 0, 0
        for node in nodes:
            api = SessionApi(node.service, ChainSessions(node.chain, node.account.address), node.chain)
            rounds = await api.rounds(session_id)
            assert rounds is not None and [r.round for r in rounds] == [1, 2]
            for info in rounds:
                local = json.loads(json.dumps(info.local))  # what GET /v1/sessions/{id}/rounds sends
                phases = local["phases"]
                assert phases["opened_at"] > 0
                _in_order(phases, FOLLOWER_ORDER)
                # Round 2 opens on the model this node decoded while proposing or checking round 1: not again.
                assert local["base_reused"] == (info.round > 1), local
                if local["led"] and phases["receipt"] is not None:
                    leaders.add(info.round)
                    _in_order(phases, LEADER_ORDER)
                    assert phases["receipt"] <= phases["finalized_seen"]
                    # The followers' updates came inside their announcements, sent to each runner: no push (the
                    # update would move twice) and no pull by CID.
                    assert (local["pulled"], local["bytes_received"], local["carried"]) == (0, 0, 2), local
                else:
                    _in_order(phases, VERIFY_ORDER)
                    assert local["check"] == "recomputed"
                    prefetched += local["prefetched"]
                    # An Iris update (~11 kB) and model ride inside their gossip: a follower fetches neither.
                    assert (local["pulled"], local["model_carried"]) == (0, True), local
                    carried += local["carried"]
        assert leaders == {1, 2}
        # Three runners: round messages go to each runner directly, not over gossip (each node got at least the
        # others' two announcements of each round that way; gossip alone would bring a pure follower none).
        direct = [node.network.metrics.counters["gossip.direct_delivered"] for node in nodes]
        assert min(direct) >= 4, direct
        # Followers found the others' updates already fetched (on announcement) when the proposal came: up to 2
        # per follower and round (the leader's and the other follower's); a prefetch may lose a race, not all.
        assert prefetched > 0 and carried > 0


def test_the_finalisation_poll_starts_fast_and_slows_to_its_ceiling() -> None:
    backoff = PollBackoff(floor=0.05, ceiling=0.5, factor=2.0)
    waits = [backoff.floor]
    for _ in range(6):
        waits.append(backoff.after(waits[-1]))
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    assert backoff.after(0.0) == 0.05  # never below the floor


@pytest.mark.parametrize(
    ("floor", "ceiling", "factor", "message"),
    [(0.0, 0.5, 1.5, "floor"), (0.6, 0.5, 1.5, "floor"), (0.05, 0.5, 0.9, "factor")],
)
def test_a_poll_backoff_that_cannot_work_is_refused(floor: float, ceiling: float, factor: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PollBackoff(floor, ceiling, factor)


def test_the_chain_clock_anchors_once_per_block_and_holds_between_blocks() -> None:
    clock = ChainClock()
    ahead = int(time.time()) + 100  # a devnet pushed ahead with evm_increaseTime
    clock.observe(7, ahead)
    assert clock.now() - time.time() == pytest.approx(100, abs=1.5)
    clock.observe(7, ahead - 3600)  # the same block seen again later: no re-anchoring on an old stamp
    assert clock.now() - time.time() == pytest.approx(100, abs=1.5)
    clock.observe(8, int(time.time()) - 50)  # a new block: the chain is behind (evm_revert)
    assert clock.now() - time.time() == pytest.approx(-50, abs=1.5)


async def test_followers_see_each_round_close_from_the_leaders_hint_without_polling_for_it(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    # Here a node polls for a round's end once when the round opens, then every 300 s: the three rounds finish, and
    # each runner winds up (having seen the last round close), within the fixture's bounds (120 s, then 30 s) only
    # because each leader's round_closed gossip makes the others read the chain.
    async with completed_iris_session(dev_chain, tmp_path, rounds=3, finalize_poll_s=300.0) as (nodes, _, _):
        for node in nodes:
            assert _finalized(node) == [1, 2, 3], (node.account.address, _finalized(node))


def _finalized(node: RunningNode) -> list[int]:
    return [d["round"] for kind, d in node.events if kind == "round.finalized"]
