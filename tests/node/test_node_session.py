"""Four real nodes (libp2p on 127.0.0.1, anvil, torch) run a session end to end, with no coordinator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trio
from fixtures.devchain import DevChain, fund
from node_helpers import EXAMPLES, UNIT, iris_spec, running_nodes, wait_for

from parity_p2p.chain import SessionParams, SessionStatus
from parity_p2p.consensus.proposal import models_match
from parity_p2p.node.work import aggregate, read_global, read_update, runner_id


async def test_four_nodes_complete_a_session_and_the_final_model_is_the_verified_aggregate(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    runners = list(dev_chain.accounts[1:5])
    creator = dev_chain.accounts[6]
    async with running_nodes(dev_chain, tmp_path, runners) as nodes, await dev_chain.client(creator) as owner:
        # The creator's content lives on a node of the network (here: the first runner's store).
        dataset_cid = nodes[0].store.add((EXAMPLES / "iris.csv").read_bytes())
        spec = iris_spec(dataset_cid)
        spec_cid = nodes[0].store.add(spec.canonical_json())
        pool = 900 * UNIT
        await fund(owner, pool)
        await owner.token.approve(owner.deployment.session_manager, pool)
        params = SessionParams(
            name="iris", dataset_cid=dataset_cid, spec_cid=spec_cid, spec_hash=spec.spec_hash, total_rounds=3,
            min_participants=3, max_participants=4, round_timeout=30, min_stake=100 * UNIT, reward_pool=pool,
        )  # fmt: skip
        session_id = await owner.sessions.create_session(params)

        async def all_joined() -> bool:
            return (await owner.sessions.get_session(session_id)).participant_count == 4

        await wait_for(all_joined, 60, "every node to join the session by itself")
        await owner.sessions.start_session(session_id)

        async def completed() -> bool:
            return (await owner.sessions.get_session(session_id)).status is SessionStatus.COMPLETED

        try:
            await wait_for(completed, 150, "the session to complete")
        finally:
            for i, node in enumerate(nodes):
                for kind, data in node.events:
                    print(i, f"{data['t']:.1f}", kind, {k: v for k, v in data.items() if k != "t"})
        view = await owner.sessions.get_session(session_id)

        # Every round was posted by the elected leader with at least the quorum, and every node attested.
        for number in (1, 2, 3):
            record = await owner.sessions.get_round(session_id, number)
            assert record.model_cid.startswith("bafk")
        for node in nodes:
            assert "attestation.refused" not in node.kinds(), [e for e in node.events if e[0] == "attestation.refused"]

        # Any node can fetch the final model by CID, and it is the aggregate of what round 3 included.
        finals = [await node.store.aget(view.final_model_cid) for node in nodes]
        assert all(f == finals[0] for f in finals)
        leader = runner_id((await owner.sessions.get_round(session_id, 3)).leader)
        follower = next(n for n in nodes if runner_id(n.account.address) != leader)
        await wait_for(lambda: session_id in follower.service.finished, 30, "the runner to wind up")
        runner = follower.service.finished[session_id]
        assert {s.check for s in runner.history if s.check} == {"recomputed"}
        last = runner.rounds[3]
        proposal = last.proposals[leader]
        work = runner.work
        assert work is not None and last.global_state is not None
        updates = []
        for item in proposal.included:
            data = await nodes[2].store.aget(item.update_cid)
            update, _ = read_update(
                work, data, round_number=3, sender=item.runner, global_state=last.global_state,
                base_model_cid=last.base_cid,
            )  # fmt: skip
            updates.append(update)
        recomputed = aggregate(work, 3, last.global_state, updates).state
        final = read_global(work, finals[0], last.global_state)
        as_numpy = {k: v.numpy() for k, v in final.items()}
        assert models_match(as_numpy, {k: v.numpy() for k, v in recomputed.items()}) == []
        assert len(proposal.included) >= 3

        # Rewards were split by points and claimed by the nodes themselves.
        async def all_claimed() -> bool:
            return all([await owner.sessions.owed(a.address) == 0 for a in runners])

        await wait_for(all_claimed, 30, "every node to claim its reward")
        shares = [await owner.sessions.points_of(session_id, a.address) for a in runners]
        assert sum(shares) == view.total_points > 0
        assert np.all(np.array(shares) > 0)
        for node in nodes:
            assert "rewards.claimed" in node.kinds()
        await trio.sleep(0)


async def test_above_the_recompute_limit_followers_attest_by_the_light_check(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    runners = list(dev_chain.accounts[1:4])
    async with running_nodes(
        dev_chain, tmp_path, runners, max_recompute_bytes=0
    ) as nodes, await dev_chain.client(dev_chain.accounts[6]) as owner:
        dataset_cid = nodes[0].store.add((EXAMPLES / "iris.csv").read_bytes())
        spec = iris_spec(dataset_cid)
        spec_cid = nodes[0].store.add(spec.canonical_json())
        pool = 300 * UNIT
        await fund(owner, pool)
        await owner.token.approve(owner.deployment.session_manager, pool)
        params = SessionParams(
            name="iris", dataset_cid=dataset_cid, spec_cid=spec_cid, spec_hash=spec.spec_hash, total_rounds=2,
            min_participants=3, max_participants=3, round_timeout=30, min_stake=100 * UNIT, reward_pool=pool,
        )  # fmt: skip
        session_id = await owner.sessions.create_session(params)

        async def all_joined() -> bool:
            return (await owner.sessions.get_session(session_id)).participant_count == 3

        await wait_for(all_joined, 60, "every node to join")
        await owner.sessions.start_session(session_id)

        async def completed() -> bool:
            return (await owner.sessions.get_session(session_id)).status is SessionStatus.COMPLETED

        await wait_for(completed, 90, "the session to complete")
        checks = []
        for node in nodes:
            assert "attestation.refused" not in node.kinds()
            await wait_for(lambda n=node: session_id in n.service.finished, 30, "the runner to wind up")
            checks += [s.check for s in node.service.finished[session_id].history if s.check]
        assert checks and set(checks) == {"light"}, checks
