"""The rest of the lifecycle through the client: stake changes and unstake cooldown, cancel, abandon,
and the devnet-only faucet refused on another chain id."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

import pytest
from fixtures.anvil import AnvilProcess, increase_time
from fixtures.devchain import (
    FAST_POLICY,
    MIN_STAKE,
    UNSTAKE_COOLDOWN,
    DevChain,
    create_session,
    fund,
    register_runner,
    session_params,
    started_session,
)

from parity_p2p.chain import ChainClient, ContractRevert, JsonRpc, SessionStatus, deploy
from parity_p2p.chain.events import PeerIdChanged, SessionAbandoned, StakeAdded, StakeWithdrawn, UnstakeRequested


async def test_stake_changes_and_cooldown(dev_chain: DevChain) -> None:
    async with await dev_chain.client(dev_chain.accounts[2]) as runner:
        address = runner.address or ""
        with pytest.raises(ContractRevert) as caught:
            await runner.registry.register("peer", MIN_STAKE)  # no allowance yet
        assert caught.value.name == "ERC20InsufficientAllowance"
        await register_runner(runner)
        assert await runner.registry.is_registered(address)
        receipt = await runner.registry.set_peer_id("12D3KooWnew")
        assert receipt.events_of(PeerIdChanged)[0].peer_id == "12D3KooWnew"

        await fund(runner, MIN_STAKE)
        await runner.token.approve(runner.deployment.registry, MIN_STAKE)
        added = (await runner.registry.add_stake(MIN_STAKE)).events_of(StakeAdded)[0]
        assert added.new_stake == 2 * MIN_STAKE

        requested = (await runner.registry.request_unstake(MIN_STAKE)).events_of(UnstakeRequested)[0]
        record = await runner.registry.runner_of(address)
        assert (record.stake, record.pending_unstake, record.unlock_at) == (MIN_STAKE, MIN_STAKE, requested.unlock_at)
        with pytest.raises(ContractRevert) as caught:
            await runner.registry.withdraw()
        assert (caught.value.name, caught.value.args) == ("StakeLocked", (address, requested.unlock_at))

        increase_time(dev_chain.url, UNSTAKE_COOLDOWN)
        before = await runner.token.balance_of(address)
        withdrawn = (await runner.registry.withdraw()).events_of(StakeWithdrawn)[0]
        assert withdrawn.amount == MIN_STAKE
        assert await runner.token.balance_of(address) == before + MIN_STAKE

        with pytest.raises(ContractRevert) as caught:
            await runner.registry.request_unstake(10 * MIN_STAKE)
        assert (caught.value.name, caught.value.args) == ("InsufficientStake", (address, 10 * MIN_STAKE, MIN_STAKE))


async def test_cancel_refunds_the_creator(dev_chain: DevChain) -> None:
    async with await dev_chain.client(dev_chain.accounts[0]) as creator:
        params = session_params()
        session_id = await create_session(creator, params)
        balance = await creator.token.balance_of(creator.address or "")
        await creator.sessions.cancel_session(session_id)
        assert (await creator.sessions.get_session(session_id)).status is SessionStatus.CANCELLED
        assert await creator.token.balance_of(creator.address or "") == balance + params.reward_pool
        with pytest.raises(ContractRevert) as caught:
            await creator.sessions.start_session(session_id)
        assert (caught.value.name, caught.value.args) == ("SessionNotOpen", (session_id, SessionStatus.CANCELLED))
        assert caught.value.args[1] is SessionStatus.CANCELLED
        assert "status=CANCELLED" in str(caught.value)


async def test_abandon_after_everyone_missed(dev_chain: DevChain) -> None:
    async with AsyncExitStack() as stack:
        creator: ChainClient = await stack.enter_async_context(await dev_chain.client(dev_chain.accounts[0]))
        runners = [await stack.enter_async_context(await dev_chain.client(a)) for a in dev_chain.accounts[1:4]]
        params = session_params(min_participants=3, round_timeout=20)
        session_id = await started_session(creator, runners, params)
        with pytest.raises(ContractRevert) as caught:
            await runners[0].sessions.abandon_session(session_id)
        assert caught.value.name == "AbandonTooEarly"
        increase_time(dev_chain.url, 20 * (3 + 1))
        receipt = await runners[0].sessions.abandon_session(session_id)
        assert receipt.events_of(SessionAbandoned)[0].rounds_done == 0
        assert (await creator.sessions.get_session(session_id)).status is SessionStatus.ABANDONED
        assert await creator.sessions.owed(creator.address or "") == params.reward_pool


async def test_faucet_is_refused_off_devnet(anvil_factory: Callable[..., AnvilProcess]) -> None:
    node = anvil_factory(chain_id=314159).start()
    async with JsonRpc(node.url) as rpc:
        deployment = await deploy(rpc, node.accounts[0], min_stake=1, unstake_cooldown=1, policy=FAST_POLICY)
    assert deployment.chain_id == 314159
    async with await ChainClient.connect(deployment, account=node.accounts[1], policy=FAST_POLICY) as client:
        with pytest.raises(ContractRevert) as caught:
            await client.token.faucet(1)
    assert (caught.value.name, caught.value.args) == ("FaucetDisabled", (314159,))
    assert "devnets" in str(caught.value)
