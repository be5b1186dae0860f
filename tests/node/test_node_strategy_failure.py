"""A round whose strategy cannot run on what arrived (Krum with n <= 2f + 2) is an event, not a dead runner."""

from __future__ import annotations

from pathlib import Path

from fixtures.devchain import DevChain
from fixtures.node_network import create_iris_session, iris_spec, running_nodes, start_when_joined, wait_for

from parity_p2p.chain import SessionStatus


async def test_a_strategy_that_cannot_run_makes_the_leader_skip_its_proposal_and_stay_alive(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    runners = list(dev_chain.accounts[1:4])
    creator = dev_chain.accounts[6]
    async with running_nodes(dev_chain, tmp_path, runners) as nodes, await dev_chain.client(creator) as owner:
        dataset_cid = nodes[0].store.add((Path(__file__).parents[2] / "examples" / "iris.csv").read_bytes())
        # Krum with f = 1 needs more than 4 updates; three runners can never give it enough.
        spec = iris_spec(dataset_cid, aggregation="krum", aggregation_params={"byzantine": 1})
        session_id = await create_iris_session(owner, nodes[0], spec, min_participants=3, max_participants=3)
        await start_when_joined(owner, session_id, 3)

        def failed_to_aggregate() -> list[str]:
            return [str(d["reason"]) for n in nodes for k, d in n.events if k == "round.aggregate_failed"]

        await wait_for(failed_to_aggregate, 60, "a leader to report that its strategy could not run")
        assert any("n > 2f + 2" in reason for reason in failed_to_aggregate()), failed_to_aggregate()
        # Nobody's runner died of it: no interruption, each node still runs the session, nothing was posted.
        for node in nodes:
            assert "session.interrupted" not in node.kinds(), [e for e in node.events if e[0] == "session.interrupted"]
            assert session_id in node.service.runners
        view = await owner.sessions.get_session(session_id)
        assert view.status is SessionStatus.ACTIVE and view.current_round == 1
