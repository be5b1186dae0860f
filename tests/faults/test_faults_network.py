"""Issue 8, the network drill: five hosts in their own network namespaces, 80 ms one-way delay and 2% frame loss
between them, complete a real Iris session; one host cut off for two rounds rejoins and catches up.

Layout (tests/faults/netlab/lab.py): each host's veth ends on a userspace switch (this kernel has no sch_netem)
that delays and drops host-to-host frames. anvil runs in the root namespace on the lab's control address, reached
through the switch's clear port: the chain stands for a remote RPC provider, the drill is about the peer-to-peer
side. A cut drops everything to and from the host, its chain traffic included.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from fixtures.anvil import AnvilProcess
from netlab import Impairment, NetLab
from netlab.drill import CutPlan, DrillRecord, pick_cut_host, replay_events, watch
from netlab.runners import UNIT, Runner, init_runner, stake, start_runner, wait_connected, wait_started

from parity_p2p.chain import ChainClient, Deployment, JsonRpc, SessionParams, deploy
from parity_p2p.devnet.demo import EXAMPLES, DemoOptions, iris_spec, wait_for_view
from parity_p2p.node.api.client import NodeApiClient, endpoint_for

HOSTS = 5
ROUNDS = 8  # three or four rounds after the rejoin: the rejoined node may sit out a gossip backoff (report)
CUT_FROM, CUT_UNTIL = 3, 5  # cut when round 3 opens, rejoin when round 5 opens: rounds 3 and 4 without it
MIN_PARTICIPANTS = 4  # the four that stay connected are exactly the quorum
ROUND_TIMEOUT_S = 20  # a push, a fetch by CID and the attestations take a few 160 ms RTTs each; leave room
SESSION_TIMEOUT_S = 150.0
CATCH_UP_EVENTS = {
    "chain.unreachable",
    "session.interrupted",
    "session.failed",
    "round.started",
    "update.sent",
    "update.push_failed",
    "round.finalized",
    "round.leading",
    "round.submitted",
    "session.ended",
}


@pytest.mark.timeout(420)  # every wait below is bounded with its own message; this is the backstop
async def test_five_impaired_hosts_complete_a_session_and_a_cut_host_catches_up(
    netns_allowed: None, tmp_path: Path
) -> None:
    started = time.monotonic()
    with (
        NetLab(HOSTS, Impairment(delay_ms=80, loss=0.02, seed=8)) as lab,
        AnvilProcess(extra_args=("--host", lab.control_ip, "--accounts", str(HOSTS + 1))) as chain,
    ):
        phases = {"lab and anvil": time.monotonic() - started}
        rpc_url = f"http://{lab.control_ip}:{chain.port}"
        async with JsonRpc(chain.url) as rpc:
            deployment = await deploy(rpc, chain.accounts[0], min_stake=100 * UNIT, unstake_cooldown=3600)
        deployment_file = tmp_path / "deployment.json"
        deployment.save(deployment_file)
        runners = []
        for index, host in enumerate(lab.hosts, start=1):
            runner = init_runner(host, tmp_path / host.name, chain.private_keys[index], rpc_url, deployment_file)
            await stake(deployment, chain.accounts[index], runner.peer_id)
            runners.append(runner)
        phases["contracts, data dirs, stakes"] = time.monotonic() - started
        bootstraps = [r.multiaddr for r in runners[:2]]  # h1 and h2 (the cut host is preferably another)
        processes = [start_runner(lab, r, [a for a in bootstraps if a != r.multiaddr]) for r in runners]
        for runner, process in zip(runners, processes, strict=True):
            await wait_started(runner, process)
        phases["nodes up"] = time.monotonic() - started
        # A node that cannot fetch the spec when it first sees the session declines it for good (see the report),
        # so the session is created only once every node is connected to every other.
        await wait_connected(runners, HOSTS - 1, timeout=60)
        phases["full mesh"] = setup_s = time.monotonic() - started
        try:
            record = await _play(lab, deployment, chain.accounts[0], runners)
            cut_runner = next(r for r in runners if r.host.name == record.cut_host)
            caught_up = await _cut_host_view(cut_runner, record, runners)
        except BaseException:
            print(_logs(runners))
            raise
        stats = lab.stats()
        print("setup timeline:", ", ".join(f"{k} at {v:.1f} s" for k, v in phases.items()))
        _report(lab, record, caught_up, setup_s, time.monotonic() - started, stats.ports, tmp_path)

    contributions = record.contributions()
    others = [r.host.name for r in runners if r.host.name != record.cut_host]
    assert stats.ports[record.cut_host].dropped_cut > 0, "the cut dropped nothing: the host was never cut off"
    if lab.backend == "userspace-switch":  # netem's losses are not counted by the switch
        assert sum(p.dropped_loss for p in stats.ports.values()) > 0, "no frame lost: the impairment did not apply"
    for number in range(1, ROUNDS + 1):
        contributors = record.contributors_of(number)
        assert len(contributors) >= MIN_PARTICIPANTS, f"round {number}: only {contributors} contributed"
    for number in range(CUT_FROM, CUT_UNTIL):
        assert record.cut_host not in record.contributors_of(number), f"the cut host contributed to round {number}"
    assert all(contributions.get(name, 0) >= ROUNDS - 2 for name in others), contributions
    # Catching up: after the rejoin the cut host trains again and its update is included in a later round ...
    later = [n for n in range(CUT_UNTIL, ROUNDS + 1) if record.cut_host in record.contributors_of(n)]
    assert later, f"the cut host contributed to no round after it rejoined: {record.rounds}"
    assert any(n >= CUT_UNTIL for n in caught_up["rounds_sent_after_rejoin"]), caught_up
    # ... and its own node reports the session's end and the final model, like every other node.
    assert caught_up["status"] == "completed", caught_up
    assert caught_up["final_model_cid"] == record.final_model_cid, caught_up


async def _play(lab: NetLab, deployment: Deployment, creator: object, runners: list[Runner]) -> DrillRecord:
    """Create the Iris session through h1's node, start it once all five joined, and watch it with the cut."""
    async with (
        await ChainClient.connect(deployment, account=creator) as owner,  # type: ignore[arg-type]
        NodeApiClient(*endpoint_for(runners[0].home)) as node,
    ):
        dataset_cid = await node.add_content((EXAMPLES / "iris.csv").read_bytes())
        options = DemoOptions(HOSTS, ROUNDS, "non_iid", 0.5, "fedavg", 2, 0.05, ROUND_TIMEOUT_S, Path("-"), 0)
        spec = iris_spec(options, dataset_cid)
        spec_cid = await node.add_content(spec.canonical_json())
        pool = 1000 * UNIT
        await owner.token.faucet(pool)
        await owner.token.approve(deployment.session_manager, pool)
        session_id = await owner.sessions.create_session(SessionParams(
            name=spec.name, dataset_cid=dataset_cid, spec_cid=spec_cid, spec_hash=spec.spec_hash,
            total_rounds=ROUNDS, min_participants=MIN_PARTICIPANTS, max_participants=HOSTS,
            round_timeout=ROUND_TIMEOUT_S, min_stake=100 * UNIT, reward_pool=pool,
        ))  # fmt: skip
        await wait_for_view(lambda v: v.participant_count == HOSTS, owner, session_id, 90, "all five hosts to join")
        await owner.sessions.start_session(session_id)
        view = await owner.sessions.get_session(session_id)
        participants = await owner.sessions.participants(session_id)
        cut = pick_cut_host(runners[2:] + runners[:2], view.seed, participants, range(CUT_FROM, CUT_UNTIL + 1))
        plan = CutPlan(cut, CUT_FROM, CUT_UNTIL)
        return await watch(owner, session_id, runners, lab, plan, SESSION_TIMEOUT_S)


async def _cut_host_view(runner: Runner, record: DrillRecord, runners: list[Runner]) -> dict[str, Any]:
    """What the cut host's own node says: the session once it is over (bounded), its events from the cut on, and
    what its log and its peers' logs say about the session service and the gossip mesh (see the report)."""
    async with NodeApiClient(*endpoint_for(runner.home)) as node:
        with trio.move_on_after(60):
            while (info := await node.session(record.session_id)).status == "active":
                await trio.sleep(0.5)
        rounds = await node.rounds(record.session_id)
    events = [e for e in await replay_events(runner) if e.time >= record.cut_unix and e.kind in CATCH_UP_EVENTS]
    after = [e for e in events if e.time >= record.rejoined_unix]
    peers_logs = "".join(r.log_tail(10**7) for r in runners if r is not runner)
    return {
        "status": info.status, "current_round": info.current_round, "final_model_cid": info.final_model_cid,
        "rounds_seen": [r.round for r in rounds],
        "events_since_rejoin": [
            f"{e.time - record.rejoined_unix:+.1f}s {e.kind} round={e.data.get('round', '-')}" for e in events
        ],
        "rounds_sent_after_rejoin": sorted({int(e.data["round"]) for e in after if e.kind == "update.sent"}),
        "session_service_restarts": runner.log_tail(10**7).count("the session service failed"),
        "graft_penalties_from_peers": peers_logs.count(f"GRAFT flood detected from peer {runner.peer_id}"),
    }  # fmt: skip


def _report(
    lab: NetLab, record: DrillRecord, caught_up: dict[str, object], setup_s: float, total_s: float,
    ports: object, tmp_path: Path,
) -> None:  # fmt: skip
    """What happened, printed (pytest -s shows it) and kept as JSON beside the node logs."""
    lines = [f"backend {lab.backend}; setup {setup_s:.1f} s; total {total_s:.1f} s; "
             f"cut {record.cut_host} at {record.cut_at_s:.1f} s, rejoined at {record.rejoined_at_s:.1f} s, "
             f"completed at {record.completed_at_s:.1f} s"]  # fmt: skip
    for o in record.rounds:
        lines.append(
            f"round {'+'.join(map(str, o.rounds))}: closed at {o.closed_at_s:5.1f} s by {o.leader} (failover step "
            f"{o.failover_step}, first choice {o.first_choice}); contributors {', '.join(o.contributors)}"
        )
    lines.append(f"rounds contributed: {record.contributions()}; the cut host's node: {caught_up}")
    lines.append(f"switch: {ports}")
    print("\n".join(lines))
    (tmp_path / "drill.json").write_text(json.dumps({"summary": lines}, indent=2))


def _logs(runners: list[Runner]) -> str:
    return "\n".join(f"---- {r.host.name} ({r.host.ip}) ----\n{r.log_tail(3000)}" for r in runners)
