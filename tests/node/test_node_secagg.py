"""Secure aggregation on real nodes: five runners (libp2p on 127.0.0.1, anvil, torch) run a secure FedAvg session;
the leader only ever holds masked vectors, the model is FedAvg of the plain updates within the quantization error,
and a runner killed right after its masked update reached the leader does not stop the round."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fixtures.devchain import DevChain
from fixtures.node_network import (
    RunningNode,
    create_iris_session,
    iris_spec,
    running_nodes,
    wait_completed,
    wait_for,
)

from parity_p2p.node.session_runner import SessionRunner
from parity_p2p.node.work import aggregate, make_update, read_global, read_update, runner_id
from parity_p2p.secagg import SecAggParams

PARAMS = SecAggParams(clip=4.0, bits=24)


def _runner(node: RunningNode, session_id: int) -> SessionRunner | None:
    return node.service.runners.get(session_id) or node.service.finished.get(session_id)


async def test_a_secure_session_completes_with_fedavg_of_the_plain_updates_despite_a_killed_runner(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    accounts = list(dev_chain.accounts[1:6])
    async with (
        running_nodes(dev_chain, tmp_path, accounts) as nodes,
        await dev_chain.client(dev_chain.accounts[6]) as owner,
    ):
        dataset_cid = nodes[0].store.add((Path(__file__).parents[2] / "examples" / "iris.csv").read_bytes())
        spec = iris_spec(dataset_cid, secure_aggregation=PARAMS)
        session_id = await create_iris_session(
            owner, nodes[0], spec, total_rounds=2, min_participants=3, max_participants=5, round_timeout=60
        )

        # Generous: the machine is shared, and five nodes must each fetch the spec and dataset before joining.
        async def joined() -> bool:
            return (await owner.sessions.get_session(session_id)).participant_count == 5

        await wait_for(joined, 120, "5 participants")
        await owner.sessions.start_session(session_id)

        # Round 1: find its leader, then kill a follower as soon as the leader holds its masked vector.
        def leader_node() -> RunningNode | None:
            return next((n for n in nodes if any(k == "round.leading" and d["round"] == 1 for k, d in n.events)), None)

        await wait_for(lambda: leader_node() is not None, 60, "a round-1 leader")
        leader = leader_node()
        assert leader is not None
        lead_runner = _runner(leader, session_id)
        assert lead_runner is not None and lead_runner.secure is not None

        def victim() -> RunningNode | None:
            held = lead_runner.secure.rounds.get(1)
            if held is None:
                return None
            return next((n for n in nodes if n is not leader and runner_id(n.account.address) in held.inputs), None)

        await wait_for(lambda: victim() is not None, 60, "a follower's masked vector at the leader")
        dead = victim()
        assert dead is not None
        dead.stop()
        alive = [n for n in nodes if n is not dead]
        await wait_completed(owner, session_id, 180, alive)

        for node in alive:
            refusals = [e for e in node.events if e[0] in ("attestation.refused", "secagg.reveal_refused")]
            assert not refusals, refusals

        # A follower of both rounds keeps both leaders' proposals.
        records = [await owner.sessions.get_round(session_id, number) for number in (1, 2)]
        leaders = {runner_id(r.leader) for r in records}
        follower = next(n for n in alive if runner_id(n.account.address) not in leaders)
        runner = _runner(follower, session_id)
        assert runner is not None and runner.work is not None

        # Round 1 counted the dead runner (its masked vector was in before it died); its self mask came from shares.
        included = [runner_id(u.runner) for u in runner.rounds[1].proposals[runner_id(records[0].leader)].included]
        assert runner_id(dead.account.address) in included and len(included) == 5

        # Each round's model is FedAvg of the plain (never sent) updates, each retrained here from the same seeds.
        work = runner.work
        base, base_cid = work.initial_state(), "genesis"
        for number, record in enumerate(records, start=1):
            proposal = runner.rounds[number].proposals[runner_id(record.leader)]
            model, _ = read_global(work, await follower.store.aget(record.model_cid), base)
            plain = []
            for item in proposal.included:
                made = make_update(work, item.runner, number, base, base_cid)
                update, _ = read_update(
                    work, made.data, round_number=number, sender=item.runner, global_state=base, base_model_cid=base_cid
                )
                plain.append(update)
            expected = aggregate(work, number, base, plain).state
            worst = max(float(np.max(np.abs(model[k].numpy() - expected[k].numpy()))) for k in model)
            assert worst <= PARAMS.error_bound + 1e-6, (number, worst)
            base, base_cid = model, record.model_cid

        # What the leader held of each runner was masked: words spread over the ring, where an unmasked input
        # (24-bit levels times a shard of ~24 rows) stays below 2^30.
        held = lead_runner.secure.rounds[1].inputs
        assert len(held) == 5
        assert all(int(masked.masked.max()) > 2**60 for masked, _ in held.values())
