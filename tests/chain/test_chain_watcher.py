"""The event watcher on a real anvil: order, exactly once, confirmations, a node restart (state kept via
`--state`), and a reset detected by block hash."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio
from fixtures.anvil import AnvilNode, AnvilProcess, mine
from fixtures.devchain import FAST_POLICY

from parity_p2p.chain import (
    ChainClient,
    ChainEvent,
    ChainReorgError,
    Deployment,
    EventWatcher,
    JsonRpc,
    LogPosition,
    WatcherConfig,
    deploy,
    event_decoder,
)
from parity_p2p.chain.events import Transfer

if TYPE_CHECKING:
    from trio_typing import TaskStatus



def fast_config(
    from_block: int, *, confirmations: int = 0, resume_after: LogPosition | None = None, max_block_range: int = 1000
) -> WatcherConfig:
    return WatcherConfig(
        from_block,
        confirmations=confirmations,
        max_block_range=max_block_range,
        poll_interval=0.05,
        request_timeout=1.0,
        backoff_initial=0.05,
        backoff_max=0.3,
        resume_after=resume_after,
    )


async def deploy_on(node: AnvilNode) -> Deployment:
    async with JsonRpc(node.url) as rpc:
        return await deploy(rpc, node.accounts[0], min_stake=1, unstake_cooldown=1, policy=FAST_POLICY)


async def faucet_many(deployment: Deployment, node: AnvilNode, amounts: list[int]) -> None:
    async with await ChainClient.connect(
        deployment, rpc_url=node.url, account=node.accounts[1], policy=FAST_POLICY
    ) as client:
        for amount in amounts:
            await client.token.faucet(amount)


async def collect(
    watcher: EventWatcher, received: list[ChainEvent], *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    send, receive = trio.open_memory_channel[ChainEvent](1000)
    async with trio.open_nursery() as nursery:
        await nursery.start(watcher.serve, send)
        task_status.started()
        async with receive:
            async for event in receive:
                received.append(event)


async def wait_for(received: list[ChainEvent], count: int, timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        while len([e for e in received if isinstance(e, Transfer)]) < count:
            await trio.sleep(0.02)


def faucet_amounts(received: list[ChainEvent]) -> list[int]:
    return [e.value for e in received if isinstance(e, Transfer)]


def assert_strictly_ordered(received: list[ChainEvent]) -> None:
    positions = [e.meta.position for e in received]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


async def test_watcher_survives_restart_with_state(
    anvil_factory: Callable[..., AnvilProcess], tmp_path: Path
) -> None:
    process = anvil_factory(state_path=tmp_path / "state.json")
    node = process.start()
    deployment = await deploy_on(node)
    # Ranges of 2 blocks: the deployment and the faucet calls span several eth_getLogs calls.
    config = fast_config(deployment.deploy_block, max_block_range=2)
    watcher = EventWatcher(node.url, event_decoder(deployment), config)
    received: list[ChainEvent] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(collect, watcher, received)
        await faucet_many(deployment, node, [1, 2, 3])
        await wait_for(received, 3)

        process.stop()  # anvil dumps its state on SIGTERM
        await trio.sleep(0.5)  # the watcher keeps polling a dead port and backs off
        process.start()  # same port, state reloaded
        await faucet_many(deployment, node, [4, 5])
        await wait_for(received, 5)
        await trio.sleep(0.3)  # a few more polls: nothing may come twice
        nursery.cancel_scope.cancel()

    assert watcher.reconnects >= 1
    assert faucet_amounts(received) == [1, 2, 3, 4, 5]
    assert_strictly_ordered(received)
    # The watcher saw exactly what a one-shot scan of the whole chain sees.
    async with await ChainClient.connect(deployment) as client:
        assert await client.past_events(max_block_range=3) == received


async def test_watcher_detects_a_reset_chain(anvil_factory: Callable[..., AnvilProcess]) -> None:
    process = anvil_factory()
    node = process.start()
    deployment = await deploy_on(node)
    watcher = EventWatcher(node.url, event_decoder(deployment), fast_config(deployment.deploy_block))
    received: list[ChainEvent] = []
    with pytest.raises(ExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            await nursery.start(collect, watcher, received)
            await faucet_many(deployment, node, [1])
            await wait_for(received, 1)
            process.stop()
            process.start()  # no --state: a new chain with other blocks
            await deploy_on(node)
            await faucet_many(deployment, node, [9])
            await trio.sleep(5)
    assert caught.group_contains(ChainReorgError)
    assert faucet_amounts(received) == [1]


async def test_confirmations_and_resume(anvil_factory: Callable[..., AnvilProcess]) -> None:
    process = anvil_factory()
    node = process.start()
    deployment = await deploy_on(node)
    await faucet_many(deployment, node, [1, 2])
    config = fast_config(deployment.deploy_block, confirmations=3)
    watcher = EventWatcher(node.url, event_decoder(deployment), config)
    received: list[ChainEvent] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(collect, watcher, received)
        await trio.sleep(0.3)
        assert faucet_amounts(received) == []  # the faucet blocks are not 3 deep yet
        mine(node.url, 3)
        await wait_for(received, 2)
        nursery.cancel_scope.cancel()
    assert faucet_amounts(received) == [1, 2]

    # A new watcher resuming after the first event delivers only what came after it.
    first = next(e for e in received if isinstance(e, Transfer))
    resumed = EventWatcher(
        node.url, event_decoder(deployment), fast_config(0, resume_after=first.meta.position)
    )
    later: list[ChainEvent] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(collect, resumed, later)
        await wait_for(later, 1)
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    assert faucet_amounts(later) == [2]
    assert all(e.meta.position > first.meta.position for e in later)
    assert isinstance(first.meta.position, LogPosition)
