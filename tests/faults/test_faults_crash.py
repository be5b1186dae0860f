"""Crash drills on real `parity-node start` processes (anvil + 5 runners, one Iris session of 6 rounds):

1. the session creator's node (the only holder of the dataset and spec until the runners joined) is killed with -9
   as the session starts;
2. a round leader is killed with -9 mid-aggregation: after it announced that it leads and the followers sent it
   their updates, before it proposed an aggregate (with the creator's node down it cannot have every update, so
   it holds the quorum it has until its collection deadline: that is the window);
3. the creator's node is restarted on its data directory while the session runs;
4. a follower is killed with -9 mid-training: after it opened the round, before its update was made (restarted at
   once, it may still make one for that round: then that one, and only it, counts);
5. the killed leader and follower are restarted.

The session completes, and the chain shows nothing lost or done twice (fixtures/chain_ledger.py): every round
finalised once, points = the contributions posted, rewards credited once by points with the dust to the creator,
claims once each, balances moved by exactly the claims, no nonce gap and no repeated transaction per runner. At the
end the creator reads the final model through a fresh process of its node.

How the moments are hit: training is made slow (100 epochs at batch 1, seconds per round on this machine)
and each node's event stream (GET /v1/events) says when it leads, trains and proposes; the kill waits for the
moment in those events, and afterwards the chain confirms it landed there (the killed leader never posted its
round; the killed follower's update is not in its round).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from eth_utils.address import to_checksum_address
from fixtures.chain_ledger import check_sender
from fixtures.devnet_drills import (
    EXAMPLES,
    EventLog,
    IrisSession,
    audit_claimed_session,
    create_and_start,
    creator_client,
    wait_status,
    wait_until,
)

from parity_p2p.chain import ChainClient, SessionStatus
from parity_p2p.consensus.election import leader_at
from parity_p2p.consensus.merkle import update_digest
from parity_p2p.devnet.network import Devnet, DevnetState
from parity_p2p.learning.codec import DecodeLimits, decode_model, tensor_specs
from parity_p2p.learning.models import build_model, model_state
from parity_p2p.node.api.client import NodeApiClient, endpoint_for
from parity_p2p.node.daemon import supervise_service
from parity_p2p.node.datadir import DataDir
from parity_p2p.node.events import EventBus
from parity_p2p.node.services import NodeRuntime, ServiceHandles
from parity_p2p.storage.content import ContentStore

RUNNERS = 5
ROUNDS = 6
ROUND_TIMEOUT = 30  # seconds: a killed leader costs one of these; a leader waits for stragglers up to 60% of it
LOCAL_EPOCHS = 100  # at batch 1: ~0.4 s of training alone, seconds when 5 nodes share 2 busy cores


async def _round_now(owner: ChainClient, session_id: int) -> int:
    return (await owner.sessions.get_session(session_id)).current_round


def _index_of(state: DevnetState, address: str) -> int:
    return next(n.index for n in state.nodes if n.address == to_checksum_address(address))


@pytest.mark.timeout(600)
async def test_crashed_and_restarted_nodes_lose_nothing_and_nothing_is_paid_twice(tmp_path: Path) -> None:
    net = Devnet(tmp_path / "net", RUNNERS)
    log = EventLog()
    try:
        state = await trio.to_thread.run_sync(net.up, lambda _line: None)
        async with await creator_client(state) as owner, trio.open_nursery() as watchers:
            for node in state.nodes:
                await watchers.start(log.follow, node)
            balances = {n.address: await owner.token.balance_of(n.address) for n in state.nodes}
            try:
                session = await create_and_start(
                    owner, net.node(1), runners=RUNNERS, rounds=ROUNDS, min_participants=3,
                    round_timeout=ROUND_TIMEOUT, local_epochs=LOCAL_EPOCHS, batch_size=1,
                )  # fmt: skip
                assert owner.address is not None
                balances[owner.address] = await owner.token.balance_of(owner.address)
                await _drills(net, state, owner, session, log, watchers, balances)
            except BaseException:
                print(log.dump())
                raise
            watchers.cancel_scope.cancel()
    finally:
        await trio.to_thread.run_sync(net.down)


async def _drills(
    net: Devnet, state: DevnetState, owner: ChainClient, session: IrisSession, log: EventLog, watchers: trio.Nursery,
    balances: dict[str, int],
) -> None:  # fmt: skip
    sid = session.session_id
    view = await owner.sessions.get_session(sid)
    participants = await owner.sessions.participants(sid)
    creator_node = net.node(1)
    peer_before = creator_node.peer_id

    # 1. The creator's node dies as the session starts: the runners fetched the dataset when they joined.
    await trio.to_thread.run_sync(net.kill_node, 1)

    # 2. A leader dies mid-aggregation: the first round from 2 on whose first leader is alive.
    lead_round = next(r for r in range(2, ROUNDS) if leader_at(view.seed, r, 0, participants) != creator_node.address)
    leader = _index_of(state, leader_at(view.seed, lead_round, 0, participants))
    others = [n.index for n in state.nodes if n.index not in (1, leader)]

    def leader_holds_updates() -> bool:
        sent = sum(log.seen(i, "update.sent", sid, lead_round) for i in others)
        leading = log.seen(leader, "round.leading", sid, lead_round)
        return leading and sent >= 2 and not log.seen(leader, "round.proposed", sid, lead_round)

    await wait_until(leader_holds_updates, 180, f"runner {leader} to hold round {lead_round}'s updates")
    await trio.to_thread.run_sync(net.kill_node, leader)
    assert await _round_now(owner, sid) == lead_round, "the round was finalised before the kill: moment missed"

    # 3. The creator's node comes back on its data directory while the session runs, with what it held.
    on_disk = ContentStore.open(DataDir(creator_node.data_dir).content_dir)
    assert on_disk.get(session.dataset_cid) == (EXAMPLES / "iris.csv").read_bytes(), "the crash lost no content"
    restarted = await trio.to_thread.run_sync(net.restart_node, 1)
    await watchers.start(log.follow, restarted)
    async with NodeApiClient(*endpoint_for(restarted.data_dir)) as api:
        status = await api.status()
        assert status.peer_id == peer_before == (await owner.registry.runner_of(restarted.address)).peer_id
        held = await api.get_content(session.dataset_cid)
        assert held == (EXAMPLES / "iris.csv").read_bytes(), "the restarted node serves what it held before"
    back_from = await _round_now(owner, sid)

    # 4. A follower dies mid-training, in the next round that has one to spare.
    train_round = max(back_from, lead_round + 1)
    step0 = _index_of(state, leader_at(view.seed, train_round, 0, participants))
    follower = next(n.index for n in state.nodes if n.index not in (1, leader, step0))

    def follower_training() -> bool:
        return log.seen(follower, "round.started", sid, train_round)

    await wait_until(follower_training, 240, f"runner {follower} to start training round {train_round}")
    assert not log.seen(follower, "update.sent", sid, train_round), "its update was made already: moment missed"
    await trio.to_thread.run_sync(net.kill_node, follower)

    # 5. The killed leader and follower come back too.
    for index in (leader, follower):
        await watchers.start(log.follow, await trio.to_thread.run_sync(net.restart_node, index))

    await wait_status(owner, sid, SessionStatus.COMPLETED, ROUNDS * ROUND_TIMEOUT * 3)
    # The chain's account of it, once every runner claimed.
    txs, books = await audit_claimed_session(owner, [n.address for n in state.nodes], sid, balances)
    for node in state.nodes:
        check_sender(txs, node.address)
    posted = {t.args[1][0]: t for t in txs if t.function == "SessionManager.submitRound" and t.succeeded}
    assert posted[lead_round].sender != net.node(leader).address, "the killed leader's round was posted by another"
    assert not log.seen(leader, "round.proposed", sid, lead_round)
    # The killed follower's process made no update; if its restarted process got back into the same round in time,
    # the round holds the update that process made (once), never one from before the crash.
    made = {
        run: e.data["cid"]
        for run, e in log.events[follower]
        if e.kind == "update.sent" and e.data["round"] == train_round
    }
    assert 1 not in made, "the follower died before its update existed"
    counted = [c for c in posted[train_round].args[1][4] if c[0] == net.node(follower).address]
    assert not counted or counted[0][1] == update_digest(made[2]), "a counted update must be the restarted run's"
    later = [r for r in posted if r > back_from and creator_node.address in {c[0] for c in posted[r].args[1][4]}]
    assert later, f"the restarted creator's node took part in no round after {back_from}"
    failed = {i: [e.data["reason"] for _, e in es if e.kind == "node.service_failed"] for i, es in log.events.items()}
    print(f"session services that failed and were restarted by their daemon: {failed}")
    print(f"leader killed in round {lead_round}, follower in round {train_round}; creator back from {back_from}")
    print(f"points {books.points}; credited {books.credited}; claimed {books.claimed}; dust {books.dust}")

    # The creator reads the result later through a new process of its node.
    await trio.to_thread.run_sync(net.kill_node, 1)
    fresh = await trio.to_thread.run_sync(net.restart_node, 1)
    final = await owner.sessions.get_session(sid)
    async with NodeApiClient(*endpoint_for(fresh.data_dir)) as api:
        data = await api.get_content(final.final_model_cid)
    template = model_state(build_model(session.spec.model_config))
    state_dict, _ = decode_model(data, expected=tensor_specs(template), limits=DecodeLimits())
    assert set(state_dict) == set(template)


class _FailingService:
    """A session service that fails `failures` times after starting (or while starting), then runs."""

    def __init__(self, failures: int, *, while_starting: bool = False) -> None:
        self.failures = failures
        self.while_starting = while_starting
        self.starts = 0

    def gossip_kinds(self) -> tuple[()]:
        return ()

    async def serve(self, node: NodeRuntime, *, task_status: Any) -> None:
        self.starts += 1
        if self.while_starting:
            raise RuntimeError("no config")
        task_status.started(ServiceHandles(metrics={"start": self.starts}))
        if self.starts <= self.failures:
            async with trio.open_nursery():  # fails the way a real service does: inside a nursery, as a group
                raise RuntimeError(f"failure {self.starts}")
        await trio.sleep_forever()


async def test_the_daemon_restarts_a_failed_session_service_and_keeps_running() -> None:
    events = EventBus()
    runtime = NodeRuntime(*([None] * 8), events=events)  # type: ignore[arg-type]  # the service reads none of it
    service = _FailingService(failures=2)
    applied: list[ServiceHandles] = []
    async with trio.open_nursery() as nursery:
        first = await nursery.start(
            lambda task_status: supervise_service(
                service, runtime, applied.append, restart_delay_s=0.01, task_status=task_status
            )
        )
        await wait_until(lambda: service.starts == 3, 10, "the third start")
        nursery.cancel_scope.cancel()
    assert first.metrics == {"start": 1}
    assert [h.metrics for h in applied] == [{"start": 2}, {"start": 3}], "each restart hands the API its handles"
    failed = [e.data for e in events.recent() if e.kind == "node.service_failed"]
    assert failed == [
        {"reason": "RuntimeError: failure 1", "failures": 1}, {"reason": "RuntimeError: failure 2", "failures": 2}
    ]  # fmt: skip


async def test_a_service_that_cannot_start_stops_the_node_with_its_reason() -> None:
    service = _FailingService(failures=0, while_starting=True)
    runtime = NodeRuntime(*([None] * 8), events=EventBus())  # type: ignore[arg-type]
    with pytest.raises(BaseExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: supervise_service(service, runtime, print, task_status=task_status))
    assert caught.group_contains(RuntimeError, match="no config"), "a start failure is not retried but raised"
    assert service.starts == 1
