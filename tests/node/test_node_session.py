"""Four real nodes (libp2p on 127.0.0.1, anvil, torch) run a session end to end, with no coordinator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from fixtures.devchain import DevChain
from fixtures.node_network import (
    EXAMPLES,
    completed_iris_session,
    create_iris_session,
    iris_spec,
    running_nodes,
    start_when_joined,
    wait_completed,
    wait_for,
)

from parity_p2p.consensus.proposal import models_match
from parity_p2p.learning.server_state import pack
from parity_p2p.learning.strategies import State
from parity_p2p.node.work import aggregate, read_global, read_update, runner_id
from parity_p2p.storage.importer import compute_cid


@pytest.mark.parametrize("aggregation", ["fedavg", "fedadam"])
async def test_four_nodes_complete_a_session_and_the_final_model_is_the_verified_aggregate(
    dev_chain: DevChain, tmp_path: Path, aggregation: str
) -> None:
    runners = list(dev_chain.accounts[1:5])
    creator = dev_chain.accounts[6]
    async with running_nodes(dev_chain, tmp_path, runners) as nodes, await dev_chain.client(creator) as owner:
        # The creator's content lives on a node of the network (here: the first runner's store).
        spec = iris_spec(compute_cid((EXAMPLES / "iris.csv").read_bytes()), aggregation=aggregation)
        session_id = await create_iris_session(owner, nodes[0], spec, total_rounds=3, round_timeout=30)
        await start_when_joined(owner, session_id, 4)
        await wait_completed(owner, session_id, 150, nodes)
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
        # FedAdam's moments travel in the model files: round 3 continued from those round 2's file carried.
        recomputed = aggregate(work, 3, last.global_state, updates, last.server_state)
        final, final_server = read_global(work, finals[0], last.global_state)
        expected = pack(recomputed.state, recomputed.server_state)
        assert models_match(_numpy(pack(final, final_server)), _numpy(expected)) == []
        assert len(proposal.included) >= 3
        if aggregation == "fedadam":
            assert sorted(final_server) == sorted(f"{m}/{k}" for m in "mv" for k in final)
            restarted = aggregate(work, 3, last.global_state, updates)  # as if the moments began again at zero
            assert models_match(_numpy(final), _numpy(restarted.state)) != [], "the carried moments changed nothing"
        else:
            assert final_server == {}

        # Rewards were split by points and claimed by the nodes themselves.
        async def all_claimed() -> bool:
            return all([await owner.sessions.owed(a.address) == 0 for a in runners])

        await wait_for(all_claimed, 30, "every node to claim its reward")
        shares = [await owner.sessions.points_of(session_id, a.address) for a in runners]
        assert sum(shares) == view.total_points > 0
        assert np.all(np.array(shares) > 0)
        for node in nodes:  # the chain shows the claim a moment before the node's receipt poll returns
            await wait_for(lambda n=node: "rewards.claimed" in n.kinds(), 30, "the node's rewards.claimed event")


async def test_above_the_recompute_limit_followers_attest_by_the_light_check(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    async with completed_iris_session(dev_chain, tmp_path, max_recompute_bytes=0) as (nodes, _owner, session_id):
        checks = []
        for node in nodes:
            assert "attestation.refused" not in node.kinds()
            checks += [s.check for s in node.service.finished[session_id].history if s.check]
        assert checks and set(checks) == {"light"}, checks


def _numpy(state: State) -> dict[str, npt.NDArray[np.floating]]:
    return {name: tensor.numpy() for name, tensor in state.items()}
