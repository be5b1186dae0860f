"""Chain drills on real `parity-node start` processes (anvil + 4 runners, one Iris session):

- runner 2 reaches the chain only through a lossy proxy (fixtures/flaky_rpc.py): its first transaction's answer
  comes after its RPC timeout (10 s), every other transaction's answer is lost after anvil took it, and one request
  in 9 of any kind is hung up on unforwarded;
- anvil is stopped mid-session and started again from its state file (`--state`) after a pause, so every node
  sees the chain vanish mid-round, with transactions possibly in flight.

The session completes, and the chain shows nothing lost or done twice: each runner's nonces have no gap or repeat,
no join, round or claim was sent twice or in vain, and the session's books balance (fixtures/chain_ledger.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from fixtures.anvil import AnvilProcess, free_port
from fixtures.chain_ledger import check_sender
from fixtures.devnet_drills import (
    EventLog,
    audit_claimed_session,
    create_and_start,
    creator_client,
    wait_status,
    wait_until,
)
from fixtures.flaky_rpc import EveryNth, FlakyRpcProxy

from parity_p2p.chain import JsonRpc, RpcUnavailableError, SessionStatus
from parity_p2p.chain.rpc import READ_ATTEMPTS
from parity_p2p.devnet.network import Devnet

RUNNERS = 4
ROUNDS = 6
ROUND_TIMEOUT = 20
FLAKY = 2  # the runner behind the proxy
RESTART_AT_ROUND = 3
CHAIN_DOWN_S = 3.0


@pytest.mark.timeout(600)
async def test_nodes_carry_on_through_a_chain_restart_and_a_lossy_rpc_without_sending_twice(tmp_path: Path) -> None:
    port = free_port()
    timeout_first = EveryNth(1, "eth_sendRawTransaction", first=1)
    lose_answers = EveryNth(1, "eth_sendRawTransaction")
    lose_requests = EveryNth(9)
    proxy = FlakyRpcProxy(
        f"http://127.0.0.1:{port}", lose_answer=lambda p: bool(timeout_first.fired) and lose_answers(p),
        lose_request=lose_requests, delay_answer=timeout_first, delay=12.0,
    )  # fmt: skip
    log = EventLog()
    async with trio.open_nursery() as nursery:
        proxy_url = await nursery.start(proxy.serve)
        net = Devnet(
            tmp_path / "net", RUNNERS, anvil_state=tmp_path / "anvil-state.json", anvil_port=port,
            node_rpc_urls={FLAKY: proxy_url},
        )  # fmt: skip
        try:
            state = await trio.to_thread.run_sync(net.up, lambda _line: None)
            for node in state.nodes:
                nursery.start_soon(log.follow, node)
            async with await creator_client(state, rpc_url=f"http://127.0.0.1:{port}") as owner:
                session = await create_and_start(
                    owner, net.node(1), runners=RUNNERS, rounds=ROUNDS, min_participants=3,
                    round_timeout=ROUND_TIMEOUT,
                )  # fmt: skip
                sid = session.session_id

                async def restart_round_open() -> bool:
                    return (await owner.sessions.get_session(sid)).current_round >= RESTART_AT_ROUND

                await wait_until(restart_round_open, 180, f"round {RESTART_AT_ROUND}")
                await trio.to_thread.run_sync(net.restart_chain, CHAIN_DOWN_S)
                assert (await owner.sessions.get_session(sid)).current_round >= RESTART_AT_ROUND, "state lost"
                try:
                    await wait_status(owner, sid, SessionStatus.COMPLETED, ROUNDS * ROUND_TIMEOUT * 3)
                except AssertionError:
                    print(log.dump())
                    raise

                txs, books = await audit_claimed_session(owner, [n.address for n in state.nodes], sid)
                reports = [check_sender(txs, node.address) for node in state.nodes]
        finally:
            await trio.to_thread.run_sync(net.down)
            nursery.cancel_scope.cancel()

    flaky = reports[FLAKY - 1]
    print(f"\nrunner {FLAKY} through the proxy: {flaky.transactions} txs {dict(flaky.by_function)}")
    print(f"proxy: {len(proxy.seen)} requests, answers delayed past the timeout {timeout_first.fired}, "
          f"answers lost {len(lose_answers.fired)}, requests lost {len(lose_requests.fired)}, "
          f"upstream down {proxy.upstream_failures}")  # fmt: skip
    print(f"points {books.points}; claimed {books.claimed}")
    trouble = ("chain.unreachable", "session.interrupted", "node.service_failed")
    noticed = {i: Counter(e.kind for _, e in es if e.kind in trouble) for i, es in log.events.items()}
    print(f"chain trouble the nodes reported: {noticed}")
    reasons = {e.data["reason"] for es in log.events.values() for _, e in es if e.kind == "node.service_failed"}
    print(f"session services that failed and were restarted by their daemon: {reasons}")
    assert any(noticed.values()), "no node noticed the chain going away: the restart tested nothing"
    assert timeout_first.fired and lose_answers.fired, "the proxy never interfered with a transaction"
    assert flaky.by_function["SessionManager.joinSession"] == 1 and flaky.by_function["SessionManager.claim"] == 1


async def test_a_dropped_read_is_retried_and_a_dropped_broadcast_is_not(
    anvil_factory: Callable[..., AnvilProcess],
) -> None:
    node = anvil_factory().start()
    drop_two_reads = EveryNth(1, "eth_blockNumber", first=2)
    drop_every_chain_id = EveryNth(1, "eth_chainId")
    drop_every_broadcast = EveryNth(1, "eth_sendRawTransaction")
    proxy = FlakyRpcProxy(
        node.url,
        lose_request=lambda p: drop_two_reads(p) or drop_every_chain_id(p) or drop_every_broadcast(p),
    )
    async with trio.open_nursery() as nursery:
        url = await nursery.start(proxy.serve)
        async with JsonRpc(url) as rpc:
            assert await rpc.block_number() == 0, "two dropped connections, then the third attempt answers"
            with pytest.raises(RpcUnavailableError):
                await rpc.chain_id()
            with pytest.raises(RpcUnavailableError):
                await rpc.request("eth_sendRawTransaction", ["0x00"])
        nursery.cancel_scope.cancel()
    assert drop_two_reads.fired == [1, 2] and proxy.seen.count("eth_blockNumber") == 3
    assert proxy.seen.count("eth_chainId") == READ_ATTEMPTS, "a read is given up after READ_ATTEMPTS"
    assert proxy.seen.count("eth_sendRawTransaction") == 1, "a broadcast is never repeated by the RPC layer"
