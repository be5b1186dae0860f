"""A whole session scripted through parity_p2p.chain only, on a real anvil: faucet, approve, register, create,
join, start, every round with real attestations from the runners' keys (leader computed in Python),
completion, rewards credited and claimed."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from fixtures.devchain import MIN_STAKE, TOKEN_UNIT, DevChain, create_session, register_runner, session_params
from fixtures.rounds import by_address, contributions_for, expected_leader, post_round

from parity_p2p.chain import ChainClient, ContractRevert, SessionStatus
from parity_p2p.chain.events import (
    RewardCredited,
    RewardsClaimed,
    RoundFinalized,
    RunnerRegistered,
    SessionCompleted,
    SessionJoined,
    SessionStarted,
)


async def test_full_session(dev_chain: DevChain) -> None:
    async with AsyncExitStack() as stack:
        creator = await stack.enter_async_context(await dev_chain.client(dev_chain.accounts[0]))
        runner_accounts = list(dev_chain.accounts[1:5])
        runners: dict[str, ChainClient] = {
            a.address: await stack.enter_async_context(await dev_chain.client(a)) for a in runner_accounts
        }

        # Registration: faucet, approve, register (event and views agree).
        for client in runners.values():
            await register_runner(client)
            runner_record = await client.registry.runner_of(client.address or "")
            assert runner_record.registered and runner_record.stake == MIN_STAKE
        assert await creator.registry.runner_count() == 4
        assert await creator.registry.runners() == [a.address for a in runner_accounts]

        pool = 1000 * TOKEN_UNIT + 7  # +7: the split leaves dust for the creator
        params = session_params(total_rounds=3, min_participants=3, reward_pool=pool)
        session_id = await create_session(creator, params)
        assert session_id == await creator.sessions.session_count()
        view = await creator.sessions.get_session(session_id)
        assert view.status is SessionStatus.OPEN and view.params == params and view.creator == creator.address

        for client in runners.values():
            receipt = await client.sessions.join_session(session_id)
            assert [e.runner for e in receipt.events_of(SessionJoined)] == [client.address]
        started = (await creator.sessions.start_session(session_id)).events_of(SessionStarted)
        assert started[0].participant_count == 4
        view = await creator.sessions.get_session(session_id)
        assert view.status is SessionStatus.ACTIVE and view.current_round == 1 and view.seed == started[0].seed
        assert await creator.sessions.quorum(session_id) == 3

        points_by_round = [[5, 1, 0, 2], [3, 3, 3, 3], [1, 2, 3, 4]]
        for round_number, points in enumerate(points_by_round, start=1):
            before = await creator.sessions.round_progress(session_id, round_number)
            assert before.session.current_round == round_number and not before.record.finalized
            leader_address = await expected_leader(creator, session_id)
            eligible = await creator.sessions.eligible_leader(session_id)
            assert (eligible.leader, eligible.step) == (leader_address, 0)
            contributions = contributions_for(list(runners), round_number, points)
            model_cid = f"bafkrei-model-round-{round_number}"
            receipt = await post_round(
                runners[leader_address], runner_accounts, session_id, round_number, contributions, model_cid
            )
            [finalized] = receipt.events_of(RoundFinalized)
            assert (finalized.round, finalized.leader, finalized.model_cid) == (round_number, leader_address, model_cid)
            record = await creator.sessions.get_round(session_id, round_number)
            assert record.finalized and record.model_cid == model_cid and record.leader == leader_address
            assert record.updates_root == finalized.updates_root
            # What a runner reads in one exchange when told the round closed: the same as three reads.
            progress = await creator.sessions.round_progress(session_id, round_number)
            assert progress.record == record and progress.session == await creator.sessions.get_session(session_id)
            assert progress.block_number == receipt.block_number

        # Completion and the split: pool * points / totalPoints, dust to the creator.
        view = await creator.sessions.get_session(session_id)
        assert view.status is SessionStatus.COMPLETED and view.final_model_cid == "bafkrei-model-round-3"
        ordered = by_address(list(runners))
        totals = {r: sum(points[i] for points in points_by_round) for i, r in enumerate(ordered)}
        total_points = sum(totals.values())
        assert view.total_points == total_points
        expected = {r: pool * p // total_points for r, p in totals.items()}
        for runner, amount in expected.items():
            assert await creator.sessions.points_of(session_id, runner) == totals[runner]
            assert await creator.sessions.owed(runner) == amount
        assert await creator.sessions.owed(creator.address or "") == pool - sum(expected.values())

        for runner_address, client in runners.items():
            before = await client.token.balance_of(runner_address)
            receipt = await client.sessions.claim()
            assert receipt.events_of(RewardsClaimed)[0].amount == expected[runner_address]
            assert await client.token.balance_of(runner_address) == before + expected[runner_address]
            assert await client.sessions.owed(runner_address) == 0
            with pytest.raises(ContractRevert) as caught:
                await client.sessions.claim()
            assert (caught.value.name, caught.value.args) == ("NothingToClaim", (runner_address,))

        reputations = [await creator.sessions.reputation(r) for r in ordered]
        assert [r.rounds_done for r in reputations] == [3, 3, 3, 3]
        assert sum(r.leaderships_done for r in reputations) == 3


async def test_receipt_events_are_typed(dev_chain: DevChain) -> None:
    async with await dev_chain.client(dev_chain.accounts[3]) as client:
        await client.token.faucet(MIN_STAKE)
        await client.token.approve(client.deployment.registry, MIN_STAKE)
        receipt = await client.registry.register("12D3KooWpeer", MIN_STAKE)
        [event] = receipt.events_of(RunnerRegistered)
        assert (event.runner, event.peer_id, event.stake) == (client.address, "12D3KooWpeer", MIN_STAKE)
        assert event.meta.tx_hash == receipt.tx_hash and event.meta.block_number == receipt.block_number
        assert event.meta.address == client.deployment.registry


async def test_reward_credit_events_match_owed(dev_chain: DevChain) -> None:
    """RewardCredited events of a one-round session sum to the pool."""
    async with AsyncExitStack() as stack:
        creator: ChainClient = await stack.enter_async_context(await dev_chain.client(dev_chain.accounts[0]))
        accounts = list(dev_chain.accounts[1:4])
        runners: dict[str, ChainClient] = {
            a.address: await stack.enter_async_context(await dev_chain.client(a)) for a in accounts
        }
        for client in runners.values():
            await register_runner(client)
        params = session_params(total_rounds=1, min_participants=3)
        session_id = await create_session(creator, params)
        for client in runners.values():
            await client.sessions.join_session(session_id)
        await creator.sessions.start_session(session_id)
        leader = await expected_leader(creator, session_id)
        receipt = await post_round(
            runners[leader], accounts, session_id, 1, contributions_for(list(runners), 1, [1, 1, 1]), "bafkrei-m"
        )
        credited = receipt.events_of(RewardCredited)
        assert sum(e.amount for e in credited) == params.reward_pool
        assert receipt.events_of(SessionCompleted)[0].final_model_cid == "bafkrei-m"
