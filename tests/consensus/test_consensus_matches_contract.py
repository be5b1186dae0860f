"""election.py, merkle.py and attestation.py give what the deployed SessionManager gives, for many random inputs
(its own views: leaderAt, updatesRoot, attestationDigest, proposalDigest) on a real anvil."""

from __future__ import annotations

import random

from fixtures.devchain import DevChain, register_runner, session_params, started_session

from parity_p2p.chain import Contribution
from parity_p2p.consensus.attestation import RoundStatement, SigningDomain, attestation_digest, proposal_digest
from parity_p2p.consensus.election import leader_at
from parity_p2p.consensus.merkle import updates_root

SAMPLES = 200


async def test_leader_election_matches_leader_at(dev_chain: DevChain) -> None:
    rng = random.Random(1)
    creator = await dev_chain.client(dev_chain.accounts[0])
    runners = [await dev_chain.client(a) for a in dev_chain.accounts[1:8]]
    try:
        for runner in runners:
            await register_runner(runner)
        # Sessions of 1, 2, 5 and 7 participants, joined in random order.
        for size in (1, 2, 5, 7):
            members = rng.sample(runners, size)
            params = session_params(min_participants=1, max_participants=8, total_rounds=1000)
            session_id = await started_session(creator, members, params, register=False)
            view = await creator.sessions.get_session(session_id)
            participants = await creator.sessions.participants(session_id)
            assert len(participants) == size
            for _ in range(SAMPLES // 4):
                round_number = rng.randrange(0, 2**32)
                step = rng.choice([0, 1, size, rng.randrange(0, 2**64)])
                expected = await creator.sessions.leader_at(session_id, round_number, step)
                assert leader_at(view.seed, round_number, step, participants) == expected
    finally:
        for client in (creator, *runners):
            await client.aclose()


def random_contributions(rng: random.Random, n: int) -> list[Contribution]:
    runners = sorted({f"0x{rng.getrandbits(160):040x}" for _ in range(n)}, key=lambda a: int(a, 16))
    return [
        Contribution(r, rng.randbytes(32), rng.randrange(0, 2**64), rng.choice([0, rng.randrange(0, 2**64)]))
        for r in runners
    ]


async def test_updates_root_matches_contract(dev_chain: DevChain) -> None:
    rng = random.Random(2)
    client = await dev_chain.client()
    try:
        for n in [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 128, *(rng.randrange(1, 129) for _ in range(SAMPLES))]:
            contributions = random_contributions(rng, n)
            assert updates_root(contributions) == await client.sessions.updates_root(contributions), n
    finally:
        await client.aclose()


async def test_eip712_digests_match_contract(dev_chain: DevChain) -> None:
    rng = random.Random(3)
    client = await dev_chain.client()
    domain = SigningDomain(dev_chain.deployment.chain_id, dev_chain.deployment.session_manager)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567ü€"
    try:
        for _ in range(SAMPLES):
            statement = RoundStatement(
                session_id=rng.choice([0, 1, rng.randrange(0, 2**256)]),
                round=rng.randrange(0, 2**32),
                model_cid="".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80))),
                updates_root=rng.randbytes(32),
            )
            args = (statement.session_id, statement.round, statement.model_cid, statement.updates_root)
            assert attestation_digest(domain, statement) == await client.sessions.attestation_digest(*args)
            assert proposal_digest(domain, statement) == await client.sessions.proposal_digest(*args)
    finally:
        await client.aclose()
