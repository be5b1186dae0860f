"""A leader whose own training runs late waits for it: its work (and its reward) is not left out as a straggler's."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures.devchain import DevChain
from fixtures.node_network import create_iris_session, running_nodes, start_when_joined, wait_completed

from parity_p2p.consensus.election import leader_at
from parity_p2p.consensus.timing import TimingPolicy
from parity_p2p.node import session_runner

LATE_S = 2.5  # the round-2 leader's extra training time: five times its collection window (0.5 s)


async def test_a_leader_training_slower_than_its_window_still_includes_its_own_update(
    dev_chain: DevChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow: dict[str, str] = {}
    decided = threading.Event()
    make_update = session_runner.make_update

    def late_for_the_leader(work: Any, runner: str, round_number: int, *args: Any) -> Any:
        if round_number == 2:
            decided.wait(30)  # the test names the round-2 leader once the session's seed is known
            if runner.lower() == slow.get("leader"):
                time.sleep(LATE_S)  # in the training worker thread, as a slow shard would
        return make_update(work, runner, round_number, *args)

    monkeypatch.setattr(session_runner, "make_update", late_for_the_leader)
    # Round 2 collects for 0.5 s (the floor: round 1's training took far less); round 1 has no history, so the
    # whole 60% of the timeout.
    timing = TimingPolicy(slack=1.0, margin=0.0, floor=0.5)
    async with (
        running_nodes(dev_chain, tmp_path, list(dev_chain.accounts[1:4]), timing=timing) as nodes,
        await dev_chain.client(dev_chain.accounts[6]) as owner,
    ):
        session_id = await create_iris_session(owner, nodes[0], min_participants=2, max_participants=3)
        await start_when_joined(owner, session_id, 3)
        view = await owner.sessions.get_session(session_id)
        participants = await owner.sessions.participants(session_id)
        slow["leader"] = leader_at(view.seed, 2, 0, participants).lower()
        decided.set()
        await wait_completed(owner, session_id, 90, nodes)

        record = await owner.sessions.get_round(session_id, 2)
        assert record.leader.lower() == slow["leader"], "the leader named first posted round 2"
        leader = next(n for n in nodes if n.account.address.lower() == slow["leader"])
        proposed = [data for kind, data in leader.events if kind == "round.proposed" and data["round"] == 2]
        assert [p["updates"] for p in proposed] == [3], f"its own update was left out: {proposed}"
        # The others did not wait longer than the leader's training: they were in the round all along.
        points = {a: await owner.sessions.points_of(session_id, a) for a in participants}
        assert all(value > 0 for value in points.values()), points
