"""Failover to the second leader, reverts decoded into the right errors, equivocation slashing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from fixtures.anvil import increase_time
from fixtures.devchain import MIN_STAKE, DevChain, session_params, started_session
from fixtures.rounds import attestations, contributions_for, domain_of, expected_leader, post_round, round_result

from parity_p2p.chain import ChainClient, ContractRevert, Proposal
from parity_p2p.chain.events import EquivocationSlashed, RoundFinalized, RunnerSlashed
from parity_p2p.consensus.attestation import RoundStatement, sign_proposal
from parity_p2p.consensus.election import failover_order

TIMEOUT = 30


@dataclass
class ActiveSession:
    session_id: int
    creator: ChainClient
    runners: dict[str, ChainClient]
    accounts: list[LocalAccount]
    order: list[str]  # failover order of round 1


@asynccontextmanager
async def active_session(dev_chain: DevChain, n: int = 4) -> AsyncIterator[ActiveSession]:
    async with AsyncExitStack() as stack:
        creator = await stack.enter_async_context(await dev_chain.client(dev_chain.accounts[0]))
        accounts = list(dev_chain.accounts[1 : n + 1])
        runners: dict[str, ChainClient] = {
            a.address: await stack.enter_async_context(await dev_chain.client(a)) for a in accounts
        }
        params = session_params(total_rounds=2, min_participants=3, round_timeout=TIMEOUT)
        session_id = await started_session(creator, list(runners.values()), params)
        view = await creator.sessions.get_session(session_id)
        order = failover_order(view.seed, 1, await creator.sessions.participants(session_id))
        yield ActiveSession(session_id, creator, runners, accounts, order)


async def test_second_leader_posts_after_failover(dev_chain: DevChain) -> None:
    async with active_session(dev_chain) as s:
        first, second = s.order[0], s.order[1]
        contributions = contributions_for(list(s.runners), 1, [1, 2, 3, 4])
        increase_time(dev_chain.url, TIMEOUT)  # the first leader stayed silent for a whole timeout
        assert await expected_leader(s.creator, s.session_id) == second
        eligible = await s.creator.sessions.eligible_leader(s.session_id)
        assert (eligible.leader, eligible.step) == (second, 1)

        with pytest.raises(ContractRevert) as caught:
            await post_round(s.runners[first], s.accounts, s.session_id, 1, contributions, "bafkrei-late")
        assert caught.value.name == "NotLeader"
        assert caught.value.args == (s.session_id, first, second)
        assert "eligible leader" in str(caught.value)

        receipt = await post_round(s.runners[second], s.accounts, s.session_id, 1, contributions, "bafkrei-m1")
        assert receipt.events_of(RoundFinalized)[0].leader == second
        missed = await s.creator.sessions.reputation(first)
        done = await s.creator.sessions.reputation(second)
        assert (missed.leaderships_missed, missed.leaderships_done) == (1, 0)
        assert (done.leaderships_missed, done.leaderships_done) == (0, 1)


async def test_python_election_follows_every_failover_step(dev_chain: DevChain) -> None:
    async with active_session(dev_chain) as s:
        for step in range(len(s.order) + 1):  # steps 0..n are eligible; step n is the first choice again
            eligible = await s.creator.sessions.eligible_leader(s.session_id)
            assert eligible.step == step
            assert eligible.leader == s.order[step % len(s.order)]
            assert await expected_leader(s.creator, s.session_id) == eligible.leader
            increase_time(dev_chain.url, TIMEOUT)
        # One more timeout: the round expired, only abandonSession is left.
        with pytest.raises(ContractRevert) as caught:
            contributions = contributions_for(list(s.runners), 1, [1, 1, 1, 1])
            await post_round(s.runners[s.order[0]], s.accounts, s.session_id, 1, contributions, "bafkrei-x")
        assert caught.value.name == "RoundExpired"


async def test_submit_from_a_non_leader_is_not_leader(dev_chain: DevChain) -> None:
    async with active_session(dev_chain) as s:
        intruder = s.order[2]
        contributions = contributions_for(list(s.runners), 1, [1, 1, 1, 1])
        with pytest.raises(ContractRevert) as caught:
            await post_round(s.runners[intruder], s.accounts, s.session_id, 1, contributions, "bafkrei-x")
        assert (caught.value.name, caught.value.args) == ("NotLeader", (s.session_id, intruder, s.order[0]))
        assert caught.value.arg_names == ("sessionId", "caller", "leader")


async def test_too_few_attestations_is_not_enough_attestations(dev_chain: DevChain) -> None:
    async with active_session(dev_chain) as s:
        leader = s.runners[s.order[0]]
        contributions = contributions_for(list(s.runners), 1, [1, 1, 1, 1])
        with pytest.raises(ContractRevert) as caught:
            await post_round(leader, s.accounts[:2], s.session_id, 1, contributions, "bafkrei-x")
        assert (caught.value.name, caught.value.args) == ("NotEnoughAttestations", (s.session_id, 2, 3))
        assert "quorum" in str(caught.value)


async def test_unsorted_attestations_and_wrong_round(dev_chain: DevChain) -> None:
    async with active_session(dev_chain) as s:
        leader = s.runners[s.order[0]]
        contributions = contributions_for(list(s.runners), 1, [1, 1, 1, 1])
        result, statement = round_result(s.session_id, 1, contributions, "bafkrei-x")
        signatures = attestations(s.accounts, domain_of(leader), statement)
        with pytest.raises(ContractRevert) as caught:
            await leader.sessions.submit_round(s.session_id, result, list(reversed(signatures)))
        assert (caught.value.name, caught.value.args) == ("UnsortedAttestations", (1,))
        wrong, _ = round_result(s.session_id, 2, contributions, "bafkrei-x")
        with pytest.raises(ContractRevert) as caught:
            await leader.sessions.submit_round(s.session_id, wrong, signatures)
        assert (caught.value.name, caught.value.args) == ("WrongRound", (s.session_id, 1, 2))


async def test_equivocation_is_reported_and_slashed(dev_chain: DevChain) -> None:
    async with active_session(dev_chain) as s:
        cheat_address = s.order[0]
        cheat = next(a for a in s.accounts if a.address == cheat_address)
        reporter = s.runners[s.order[1]]
        domain = domain_of(reporter)
        a = Proposal("bafkrei-model-a", keccak(b"root-a"))
        b = Proposal("bafkrei-model-b", keccak(b"root-b"))
        sig_a = sign_proposal(cheat, domain, RoundStatement(s.session_id, 1, a.model_cid, a.updates_root))
        sig_b = sign_proposal(cheat, domain, RoundStatement(s.session_id, 1, b.model_cid, b.updates_root))
        pool_before = (await s.creator.sessions.get_session(s.session_id)).params.reward_pool

        receipt = await reporter.sessions.report_equivocation(s.session_id, 1, a, sig_a, b, sig_b)
        [slashed] = receipt.events_of(EquivocationSlashed)
        slash_bps, reporter_bps = await s.creator.sessions.slash_bps(), await s.creator.sessions.reporter_bps()
        amount = MIN_STAKE * slash_bps // 10_000
        assert (slashed.leader, slashed.reporter, slashed.amount) == (cheat_address, reporter.address, amount)
        assert receipt.events_of(RunnerSlashed)[0].amount == amount
        assert await s.creator.registry.stake_of(cheat_address) == MIN_STAKE - amount
        reward = amount * reporter_bps // 10_000
        assert await s.creator.sessions.owed(reporter.address or "") == reward
        after = await s.creator.sessions.get_session(s.session_id)
        assert after.params.reward_pool == pool_before + amount - reward
        assert (await s.creator.sessions.reputation(cheat_address)).slashes == 1

        with pytest.raises(ContractRevert) as caught:
            await reporter.sessions.report_equivocation(s.session_id, 1, a, sig_a, b, sig_b)
        assert (caught.value.name, caught.value.args) == ("AlreadySlashed", (s.session_id, 1, cheat_address))
        with pytest.raises(ContractRevert) as caught:
            await reporter.sessions.report_equivocation(s.session_id, 1, a, sig_a, a, sig_a)
        assert caught.value.name == "IdenticalProposals"
