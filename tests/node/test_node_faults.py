"""Faults during a session on real nodes: a dead leader, a dead runner, a malicious participant."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import trio
from eth_account import Account
from fixtures.devchain import DevChain
from fixtures.node_network import (
    create_iris_session,
    rogue_host,
    running_nodes,
    start_when_joined,
    wait_completed,
    wait_for,
)

from parity_p2p.chain import Contribution
from parity_p2p.consensus.attestation import RoundStatement, sign_proposal
from parity_p2p.consensus.attestation import SigningDomain as AttestationDomain
from parity_p2p.consensus.contribution import IncludedUpdate
from parity_p2p.consensus.election import leader_at
from parity_p2p.consensus.merkle import update_digest, updates_root
from parity_p2p.gossip.envelope import SigningDomain, sign_envelope
from parity_p2p.gossip.errors import UpdateRejected
from parity_p2p.gossip.host import P2PHost
from parity_p2p.gossip.metrics import DropReason
from parity_p2p.gossip.topics import session_topic
from parity_p2p.gossip.update_protocol import push_update
from parity_p2p.learning.codec import UpdateMeta, encode_update
from parity_p2p.node.messages import ProposalMessage
from parity_p2p.storage.importer import compute_cid


async def test_a_leader_killed_after_proposing_is_replaced_and_the_dead_runner_is_left_out(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    async with (
        running_nodes(dev_chain, tmp_path, list(dev_chain.accounts[1:5])) as nodes,
        await dev_chain.client(dev_chain.accounts[6]) as owner,
    ):
        session_id = await create_iris_session(owner, nodes[0])
        await start_when_joined(owner, session_id, 4)
        view = await owner.sessions.get_session(session_id)
        participants = await owner.sessions.participants(session_id)
        first_leader = leader_at(view.seed, 1, 0, participants)
        victim = next(n for n in nodes if n.account.address == first_leader)

        await wait_for(lambda: "round.leading" in victim.kinds(), 30, "the round-1 leader to take the lead", 0.01)
        victim.stop()  # a crash while collecting updates: it never proposes nor posts

        await wait_completed(owner, session_id, 90, nodes)
        record = await owner.sessions.get_round(session_id, 1)
        assert record.leader != first_leader
        assert record.leader == leader_at(view.seed, 1, 1, participants), "the next leader in order posts"
        rep = await owner.sessions.reputation(first_leader)
        assert rep.leaderships_missed >= 1
        # Round 2 ran without the dead runner: only live runners contributed and the quorum sufficed.
        survivors = [n for n in nodes if n is not victim]
        assert all("round.finalized" in n.kinds() for n in survivors)
        points = {a: await owner.sessions.points_of(session_id, a) for a in participants}
        assert all(points[n.account.address] > 0 for n in survivors)


@pytest.mark.parametrize("tamper", ["garbage", "wrong_shapes"])
async def test_malformed_updates_and_forged_gossip_are_refused_counted_and_survived(
    dev_chain: DevChain, tmp_path: Path, tamper: str
) -> None:
    rogue = dev_chain.accounts[7]
    rogue_key = tmp_path / "rogue.key"
    async with (
        running_nodes(dev_chain, tmp_path, list(dev_chain.accounts[1:4])) as nodes,
        await dev_chain.client(dev_chain.accounts[6]) as owner,
        await dev_chain.client(rogue) as rogue_chain,
        trio.open_nursery() as nursery,
    ):
        # A registered, staked, participating runner whose host sends what no honest node would.
        host: P2PHost = await rogue_host(nursery, rogue_chain, rogue_key, nodes)
        session_id = await create_iris_session(owner, nodes[0], total_rounds=1, round_timeout=15)
        await wait_for(lambda: all("session.join_sent" in n.kinds() for n in nodes), 30, "honest nodes to join")
        await rogue_chain.sessions.join_session(session_id)
        await start_when_joined(owner, session_id, 4)
        await wait_for(lambda: all("round.started" in n.kinds() for n in nodes), 30, "round 1 to start")

        eligible = await owner.sessions.eligible_leader(session_id)
        leader = next((n for n in nodes if n.account.address == eligible.leader), None)
        if leader is not None:  # the rogue itself may have been elected; then there is nobody to push to
            state = nodes[0].service.runners[session_id].rounds[1].global_state
            assert state is not None
            if tamper == "garbage":
                data = b"\x08\x00\x00\x00\x00\x00\x00\x00{not json" + bytes(100)
            else:
                meta = UpdateMeta(session_id, 1, rogue.address.lower(), "genesis", data_size=10, steps=1, loss=0.1)
                data = encode_update({k: torch.zeros(v.numel() + 1) for k, v in state.items()}, meta)
            with pytest.raises(UpdateRejected) as refused:
                await push_update(
                    host, leader.network.host.peer_id, session_id=session_id, round=1, cid=compute_cid(data), data=data
                )
            assert str(refused.value)
            assert "update.rejected" in leader.kinds()

        # Forged gossip: one from an unregistered key, one with a signature that does not match its payload.
        domain = SigningDomain(owner.deployment.chain_id, owner.deployment.session_manager)
        payload = {"update_cid": compute_cid(b"x"), "data_size": 5, "loss": 0.1, "train_seconds": 0.1}
        stranger = sign_envelope(
            Account.create(), domain, kind="update", topic=session_topic(session_id), payload=payload,
            session_id=session_id, round=1,
        )  # fmt: skip
        signed = sign_envelope(
            rogue, domain, kind="update", topic=session_topic(session_id), payload=payload, session_id=session_id,
            round=1,
        )  # fmt: skip
        tampered = dataclasses.replace(signed, payload={**payload, "data_size": 5000})
        topic = session_topic(session_id)
        await host._pubsub.subscribe(topic)
        await wait_for(lambda: len(host.pubsub_peers(topic)) == len(nodes), 20, "the rogue to see the topic's peers")
        for envelope in (stranger, tampered):
            await host._pubsub.publish(session_topic(session_id), envelope.encode())

        def dropped(reason: DropReason) -> int:
            return sum(n.network.metrics.dropped[reason] for n in nodes)

        await wait_for(
            lambda: dropped(DropReason.UNREGISTERED) >= 1 and dropped(DropReason.BAD_SIGNATURE) >= 1,
            20,
            "honest validators to drop both forgeries",
        )
        # Equivocation: the rogue signs two different proposals for round 1; an honest node reports it on-chain.
        stake_before = await owner.registry.stake_of(rogue.address)
        sign_domain = AttestationDomain(owner.deployment.chain_id, owner.deployment.session_manager)
        for body in (b"model a", b"model b"):
            included = (IncludedUpdate(rogue.address, compute_cid(b"update"), 10, True),)
            root = updates_root([Contribution(u.runner, update_digest(u.update_cid), u.data_size, u.points)
                                 for u in included])  # fmt: skip
            statement = RoundStatement(session_id, 1, compute_cid(body), root)
            message = ProposalMessage(
                statement.model_cid, root, included, 0.1, 0.5, sign_proposal(rogue, sign_domain, statement)
            )
            envelope = sign_envelope(
                rogue, domain, kind="proposal", topic=topic, payload=message.payload(), session_id=session_id, round=1
            )
            await host._pubsub.publish(topic, envelope.encode())

        async def slashed() -> bool:
            return (await owner.sessions.reputation(rogue.address)).slashes == 1

        await wait_for(slashed, 30, "an honest node to report the equivocation on-chain")
        assert await owner.registry.stake_of(rogue.address) < stake_before
        # The chain shows the slash a moment before the reporter's receipt poll returns: wait for its event.
        await wait_for(lambda: any("equivocation.reported" in n.kinds() for n in nodes), 30, "the reporter's event")

        # Nobody crashed: the honest nodes finish the session without the rogue's update.
        await wait_completed(owner, session_id, 90, nodes)
        assert await owner.sessions.points_of(session_id, rogue.address) == 0
        nursery.cancel_scope.cancel()
