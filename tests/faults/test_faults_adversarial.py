"""The adversarial drill (issue 8): one malicious participant against three honest nodes, over the real protocols.

The rogue is a real registered, staked, joined runner whose libp2p host sends, during a real 2-round Iris session:
a NaN update, wrong shapes, garbage bytes, a huge safetensors header, an over-size offer, bytes that do not hash to
their CID, a huge stream header frame, a body longer than announced, an endless (trickled) body, a 10x-norm update,
a forged gossip signature, malformed gossip, a replayed message (same round) and an old round's message and update,
and two different signed proposals for one round. For each the drill checks the typed reason (the refusal text,
the event, or the drop-counter key) and the counter; then that the honest nodes are alive and finish the session,
the 10x update earned nothing (the norm screen), and the equivocator was slashed with the reporter paid.

tests/node/test_node_faults.py covers garbage/shapes/forgery/equivocation one at a time; this is the whole list
in one session, which is what proves nothing in it disturbs the rest.
"""

from __future__ import annotations

import dataclasses
import struct
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import trio
from eth_account.signers.local import LocalAccount
from fixtures.devchain import DevChain
from fixtures.node_network import (
    STAKE,
    RunningNode,
    create_iris_session,
    rogue_host,
    running_nodes,
    start_when_joined,
    timeline,
    wait_completed,
    wait_for,
)

from parity_p2p.chain import ChainClient, Contribution
from parity_p2p.chain.events import EquivocationSlashed, RewardCredited
from parity_p2p.consensus.attestation import RoundStatement, sign_attestation, sign_proposal
from parity_p2p.consensus.attestation import SigningDomain as AttestationDomain
from parity_p2p.consensus.contribution import IncludedUpdate
from parity_p2p.consensus.merkle import update_digest, updates_root
from parity_p2p.consensus.timing import TimingPolicy
from parity_p2p.gossip.envelope import SigningDomain, decode_envelope, sign_envelope
from parity_p2p.gossip.errors import EnvelopeError, StreamProtocolError, UpdateRejected
from parity_p2p.gossip.host import P2PHost
from parity_p2p.gossip.metrics import DropReason
from parity_p2p.gossip.streams import FramedStream
from parity_p2p.gossip.topics import session_topic
from parity_p2p.gossip.update_protocol import UPDATE_PROTOCOL, UpdateOffer, push_update
from parity_p2p.learning.codec import decode_update, encode_update, tensor_specs
from parity_p2p.learning.strategies import State
from parity_p2p.node.messages import (
    ATTESTATION_KIND,
    PROPOSAL_KIND,
    UPDATE_KIND,
    AttestationMessage,
    ProposalMessage,
    UpdateAnnouncement,
)
from parity_p2p.node.session_runner import SessionRunner
from parity_p2p.node.work import NORM_FACTOR, SessionWork, aggregate, make_update, read_update
from parity_p2p.storage.importer import compute_cid

ROUND_TIMEOUT = 20
SLASH_BPS, REPORTER_BPS = 5000, 2000  # contracts/SessionManager.sol: half the stake, a fifth of it to the reporter
LENGTH = struct.Struct(">I")


@dataclasses.dataclass
class Rogue:
    """A registered participant whose host speaks the protocols with malice."""

    account: LocalAccount
    host: P2PHost
    chain: ChainClient
    domain: SigningDomain
    seen: list[bytes] = dataclasses.field(default_factory=list)  # raw gossip it received (to replay)

    @property
    def address(self) -> str:
        return str(self.account.address)

    async def push(self, node: RunningNode, session_id: int, round_number: int, data: bytes, cid: str = "") -> str:
        """Push `data`; the leader's refusal reason ("" if it accepted)."""
        try:
            await push_update(self.host, node.network.host.peer_id, session_id=session_id, round=round_number,
                              cid=cid or compute_cid(data), data=data)  # fmt: skip
        except UpdateRejected as refused:
            return refused.reason
        return ""

    async def raw_stream(self, node: RunningNode, frames: Callable[[FramedStream], Awaitable[None]]) -> str:
        """Run `frames(stream)` on a fresh update stream; the name of the error that ended it ("" if none)."""
        stream = await self.host.open_stream(node.network.host.peer_id, UPDATE_PROTOCOL)
        try:
            await frames(stream)
        except StreamProtocolError as exc:
            return type(exc).__name__
        finally:
            await stream.aclose()
        return ""

    async def gossip(self, topic: str, data: bytes) -> None:
        await self.host._pubsub.publish(topic, data)

    def envelope(self, kind: str, topic: str, payload: dict[str, object], session_id: int, round_number: int) -> bytes:
        return sign_envelope(self.account, self.domain, kind=kind, topic=topic, payload=payload,
                             session_id=session_id, round=round_number).encode()  # fmt: skip


async def collect_gossip(rogue: Rogue, topic: str) -> None:
    subscription = await rogue.host._pubsub.subscribe(topic)
    while True:
        message = await subscription.get()
        rogue.seen.append(bytes(message.data))


def rogue_updates(work: SessionWork, rogue: str, state: State) -> dict[str, bytes]:
    """The rogue's honest round-1 update and its malicious variants, all with the honest metadata."""
    honest = make_update(work, rogue, 1, state, "genesis").data
    tensors, meta = decode_update(honest, expected=tensor_specs(state), limits=work.decode_limits(state))
    nan = {k: v.clone() for k, v in tensors.items()}
    next(iter(nan.values())).view(-1)[0] = float("nan")
    limit = work.decode_limits(state).max_total_bytes
    assert limit is not None
    return {
        "nan": encode_update(nan, meta),
        "wrong_shapes": encode_update({k: torch.zeros(v.numel() + 1) for k, v in tensors.items()}, meta),
        "garbage": bytes(range(256)) * 8,
        # a safetensors header length of 2^40 bytes in an otherwise small file
        "huge_header": struct.pack("<Q", 1 << 40) + b'{"__metadata__":{}}' + bytes(64),
        "oversize": bytes(limit + 1),
        "scaled_x10": encode_update({k: v * 10 for k, v in tensors.items()}, meta),
    }


def counters(nodes: list[RunningNode]) -> Counter[str]:
    total: Counter[str] = Counter()
    for node in nodes:
        total.update(node.network.metrics.counters)
        total.update({f"dropped.{r.value}": n for r, n in node.network.metrics.dropped.items()})
    return total


def rejected_reasons(node: RunningNode) -> list[str]:
    return [str(data["reason"]) for kind, data in node.events if kind == "update.rejected"]


async def test_a_malicious_participant_is_refused_with_typed_reasons_counted_and_slashed(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    rogue_account = dev_chain.accounts[7]
    rogue_key = tmp_path / "rogue.key"
    timing = TimingPolicy(floor=10.0)  # room for the rogue's pushes before an honest leader closes collection
    async with (
        running_nodes(dev_chain, tmp_path, list(dev_chain.accounts[1:4]), timing=timing) as nodes,
        await dev_chain.client(dev_chain.accounts[6]) as owner,
        await dev_chain.client(rogue_account) as rogue_chain,
        trio.open_nursery() as nursery,
    ):
        host: P2PHost = await rogue_host(nursery, rogue_chain, rogue_key, nodes)
        domain = SigningDomain(owner.deployment.chain_id, owner.deployment.session_manager)
        rogue = Rogue(rogue_account, host, rogue_chain, domain)

        session_id = await create_iris_session(owner, nodes[0], total_rounds=2, round_timeout=ROUND_TIMEOUT)
        topic = session_topic(session_id)
        nursery.start_soon(collect_gossip, rogue, topic)
        await wait_for(lambda: all("session.join_sent" in n.kinds() for n in nodes), 30, "honest nodes to join")
        await rogue_chain.sessions.join_session(session_id)
        await start_when_joined(owner, session_id, 4)
        await wait_for(lambda: all("round.started" in n.kinds() for n in nodes), 30, "round 1 to start")
        await wait_for(lambda: len(host.pubsub_peers(topic)) == len(nodes), 20, "the rogue to see the topic's peers")
        try:
            await play_round_one(rogue, nodes, session_id, topic)
            await check_norm_screen_and_slash(rogue, nodes, owner, session_id)
            await play_round_two(rogue, nodes, session_id, topic)
            await wait_completed(owner, session_id, 120, nodes)
        except AssertionError:
            print(timeline(nodes))
            raise

        # Nobody crashed: every honest node ran the session to its end, no stream handler failed.
        await wait_for(lambda: all("session.ended" in n.kinds() for n in nodes), 30, "every node to see the end")
        for node in nodes:
            ended = [d for k, d in node.events if k == "session.ended"]
            assert ended and ended[-1]["status"] == "completed", node.account.address
            assert node.network.metrics.counters["stream.handler_error"] == 0
        assert await owner.sessions.points_of(session_id, rogue.address) == 0
        for node in nodes:
            assert await owner.sessions.points_of(session_id, node.account.address) > 0
        nursery.cancel_scope.cancel()


async def play_round_one(rogue: Rogue, nodes: list[RunningNode], session_id: int, topic: str) -> None:
    target = nodes[0]
    runner: SessionRunner = target.service.runners[session_id]
    work, state = runner.work, runner.rounds[1].global_state
    assert work is not None and state is not None
    updates = await trio.to_thread.run_sync(rogue_updates, work, rogue.address.lower(), state)
    before = counters([target])

    # --- bad update pushes: each refused with its typed reason, none stored ------------------------------------
    expected_reasons = {
        "nan": "holds NaN or infinity",
        "wrong_shapes": "has shape",
        "garbage": "header",
        "huge_header": "header length 1099511627776 exceeds the cap",
        "oversize": "exceeds this model's update size",
    }
    for name, fragment in expected_reasons.items():
        reason = await rogue.push(target, session_id, 1, updates[name])
        assert fragment in reason, (name, reason)
    # bytes that do not hash to the offered CID (tampered in flight, or a lie about the content)
    reason = await rogue.push(target, session_id, 1, updates["scaled_x10"], cid=compute_cid(b"something else"))
    assert reason == "the bytes do not hash to the announced CID"
    # every refusal of a participant's offer for the open round is also an update.rejected event, the ones at admit
    # ("oversize") and before decoding (the CID) included
    narrated = rejected_reasons(target)
    for fragment in [*expected_reasons.values(), "the bytes do not hash to the announced CID"]:
        assert any(fragment in r for r in narrated), (fragment, narrated)

    # --- stream abuse: a huge header frame, a longer body than announced, an endless body ----------------------
    # Run alongside the rest of the round: the endless body lasts until the leader's ~10 s frame deadline.
    data = updates["scaled_x10"]
    offer = UpdateOffer(session_id, 1, compute_cid(data), len(data)).to_json()
    admitted = [trio.Event(), trio.Event()]

    async def huge_header_frame(stream: FramedStream) -> None:
        await stream._write(LENGTH.pack(1 << 31))  # a 2 GiB header frame
        await stream.read_frame(4096)  # the leader cuts the stream instead of answering

    async def longer_body(stream: FramedStream) -> None:
        await stream.write_json(offer)
        answer = await stream.read_json(4096, UPDATE_PROTOCOL)
        assert answer["status"] == "READY", answer
        admitted[0].set()
        await stream.write_frame(data + bytes(1 << 20))
        await stream.read_frame(4096)

    async def endless_body(stream: FramedStream) -> None:
        await stream.write_json(offer)
        answer = await stream.read_json(4096, UPDATE_PROTOCOL)
        assert answer["status"] == "READY", answer
        admitted[1].set()
        await stream._write(LENGTH.pack(len(data)) + data[:10])
        with trio.fail_after(60):
            while True:  # one byte a second, for ever: only the leader's deadline ends it
                await trio.sleep(1.0)
                await stream._write(b"\x00")

    outcomes: dict[str, str] = {}

    async def run(name: str, frames: Callable[[FramedStream], Awaitable[None]]) -> None:
        outcomes[name] = await rogue.raw_stream(target, frames)

    async def one_body_at_a_time() -> None:
        # A runner has one admitted body in flight at a time, so these two abuses take turns.
        await run("longer_body", longer_body)
        await run("endless_body", endless_body)

    async with trio.open_nursery() as abuse:
        abuse.start_soon(run, "huge_header_frame", huge_header_frame)
        abuse.start_soon(one_body_at_a_time)
        with trio.fail_after(30):
            for event in admitted:
                await event.wait()
        # While the endless body holds the rogue's slot, a second offer is refused before any byte of it is read.
        assert await rogue.push(target, session_id, 1, data) == "an update from this runner is already arriving"
        await gossip_and_push(rogue, nodes, session_id, topic, data)
    assert all(outcomes.values()) and len(outcomes) == 3, outcomes  # every abusive stream was cut, none hung
    after = counters([target])
    assert after["update.failed.FrameTooLarge"] - before["update.failed.FrameTooLarge"] == 2, after
    assert after["update.failed.StreamTimeout"] - before["update.failed.StreamTimeout"] == 1, after
    assert after["update.rejected"] - before["update.rejected"] == 7  # 5 bad contents, the CID lie, the 2nd offer


async def gossip_and_push(rogue: Rogue, nodes: list[RunningNode], session_id: int, topic: str, scaled: bytes) -> None:
    # --- gossip: a forged signature, malformed bytes, a replay of an honest node's message ---------------------
    gossip_before = counters(nodes)
    announcement = UpdateAnnouncement(compute_cid(b"x"), 5, 0.1, 0.1).payload()
    signed = sign_envelope(rogue.account, rogue.domain, kind=UPDATE_KIND.kind, topic=topic, payload=announcement,
                           session_id=session_id, round=1)  # fmt: skip
    forged = dataclasses.replace(signed, payload={**announcement, "data_size": 5000})
    await rogue.gossip(topic, forged.encode())
    await rogue.gossip(topic, b"\x00not an envelope" * 10)
    await wait_for(lambda: len(honest_envelopes(rogue, nodes)) > 0, 30, "an honest node's gossip to reach the rogue")
    await rogue.gossip(topic, honest_envelopes(rogue, nodes)[0])

    def dropped(reason: DropReason) -> int:
        return counters(nodes)[f"dropped.{reason.value}"] - gossip_before[f"dropped.{reason.value}"]

    reasons = (DropReason.BAD_SIGNATURE, DropReason.MALFORMED, DropReason.REPLAY)
    await wait_for(lambda: all(dropped(r) >= 1 for r in reasons), 30,
                   "honest validators to drop the forgery, the garbage and the replay")  # fmt: skip

    # --- the 10x-norm update, well formed: accepted by every honest node, screened out of the aggregate --------
    for node in nodes:
        incoming = node.service.runners[session_id].rounds[1].incoming
        await wait_for(lambda i=incoming: rogue.address.lower() not in i, 30, "the endless body to be cut off")
        assert await rogue.push(node, session_id, 1, scaled) == ""
        assert node.service.runners[session_id].rounds[1].updates[rogue.address.lower()][1] == compute_cid(scaled)

    # --- equivocation: two different signed proposals for round 1 --------------------------------------------
    sign_domain = AttestationDomain(rogue.domain.chain_id, rogue.domain.verifying_contract)
    for body in (b"model a", b"model b"):
        included = (IncludedUpdate(rogue.address, compute_cid(b"update"), 10, True),)
        root = updates_root([Contribution(u.runner, update_digest(u.update_cid), u.data_size, u.points)
                             for u in included])  # fmt: skip
        statement = RoundStatement(session_id, 1, compute_cid(body), root)
        message = ProposalMessage(statement.model_cid, root, included, 0.1, 0.5,
                                  sign_proposal(rogue.account, sign_domain, statement))  # fmt: skip
        await rogue.gossip(topic, rogue.envelope(PROPOSAL_KIND.kind, topic, message.payload(), session_id, 1))


def honest_envelopes(rogue: Rogue, nodes: list[RunningNode]) -> list[bytes]:
    """Gossip the rogue received that honest nodes signed (their announcements, proposals, attestations)."""
    honest = {n.account.address.lower() for n in nodes}
    found = []
    for raw in rogue.seen:
        try:
            envelope = decode_envelope(raw)
        except EnvelopeError:
            continue  # its own garbage, echoed back by its subscription
        if envelope.sender.lower() in honest:
            found.append(raw)
    return found


async def check_norm_screen_and_slash(
    rogue: Rogue, nodes: list[RunningNode], owner: ChainClient, session_id: int
) -> None:
    stake_before = STAKE

    async def slashed() -> bool:
        return (await owner.sessions.reputation(rogue.address)).slashes == 1

    await wait_for(slashed, 60, "an honest node to report the equivocation on-chain")
    stake_after = await owner.registry.stake_of(rogue.address)
    slashed_amount = stake_before - stake_after
    assert slashed_amount == stake_before * SLASH_BPS // 10_000
    # The chain shows the slash a moment before the reporter's receipt poll returns: wait for its event.
    await wait_for(lambda: any("equivocation.reported" in n.kinds() for n in nodes), 30, "the reporter's event")
    reporters = [n for n in nodes if "equivocation.reported" in n.kinds()]
    assert len(reporters) == 1, [n.kinds().count("equivocation.seen") for n in nodes]
    # The reporter is credited its share of the slashed stake in the slashing transaction itself (rewards come
    # only at completion). Read from the events: a fast session may already be over and its rewards claimed.
    reporter = reporters[0].account.address.lower()
    events = await owner.past_events()
    (slash,) = [e for e in events if isinstance(e, EquivocationSlashed)]
    expected = (rogue.address.lower(), reporter, slashed_amount)
    assert (slash.leader.lower(), slash.reporter.lower(), slash.amount) == expected
    credits = [e for e in events if isinstance(e, RewardCredited) and e.meta.tx_hash == slash.meta.tx_hash]
    assert [(c.account.lower(), c.amount) for c in credits if c.account.lower() == reporter] == [
        (reporter, slashed_amount * REPORTER_BPS // 10_000)
    ]

    # Round 1 closes with the rogue's 10x update listed but unused: the leader's and every follower's aggregate
    # screened it out (the followers attested, so their recomputation agreed).
    async def round_one_closed() -> bool:
        return (await owner.sessions.get_session(session_id)).current_round > 1

    await wait_for(round_one_closed, 90, "round 1 to be finalised")
    record = await owner.sessions.get_round(session_id, 1)
    proposals = [p for n in nodes for leader, p in n.service.runners[session_id].rounds[1].proposals.items()
                 if leader == record.leader.lower() and p.model_cid == record.model_cid]  # fmt: skip
    assert proposals, "no honest node kept the posted proposal"
    listed = {u.runner.lower(): u for u in proposals[0].included}
    mine = listed.get(rogue.address.lower())
    assert mine is not None, f"the 10x update was not included at all: {sorted(listed)}"
    assert not mine.used_by_strategy and mine.points == 0
    assert all(u.used_by_strategy for r, u in listed.items() if r != rogue.address.lower())
    leader = next(n for n in nodes if n.account.address.lower() == record.leader.lower())
    screened = [d for k, d in leader.events if k == "update.screened" and d["round"] == 1]
    assert [d["runner"] for d in screened] == [rogue.address.lower()], screened
    # The typed reason: the node's aggregate over the posted updates (fetched by CID, as a follower does) names
    # the rogue and the rule.
    node = nodes[0]
    runner = node.service.runners[session_id]
    state = runner.rounds[1].global_state
    assert runner.work is not None and state is not None
    updates = []
    for item in proposals[0].included:
        data = await node.store.aget(item.update_cid)
        update, _ = read_update(runner.work, data, round_number=1, sender=item.runner, global_state=state,
                                base_model_cid="genesis")  # fmt: skip
        updates.append(update)
    result = await trio.to_thread.run_sync(aggregate, runner.work, 1, state, updates)
    assert [(s.runner, f"exceeds {NORM_FACTOR:g} x the round's median" in s.reason) for s in result.screened_out] == [
        (rogue.address.lower(), True)
    ]
    # The same model with the rogue marked as used (a leader paying a screened update) fails a follower's check,
    # and so does the honest proposal with an honest runner marked unused: the model bytes alone prove neither.
    follower = next(n for n in nodes if n is not leader).service.runners[session_id]
    rs = follower.rounds[1]
    assert await follower._recompute_check(rs, proposals[0]) == []
    for victim in (rogue.address.lower(), next(r for r in listed if r != rogue.address.lower())):
        flipped = tuple(replace(u, used_by_strategy=not u.used_by_strategy) if u.runner.lower() == victim else u
                        for u in proposals[0].included)  # fmt: skip
        problems = await follower._recompute_check(rs, replace(proposals[0], included=flipped))
        assert len(problems) == 1 and victim in problems[0].lower(), problems


async def play_round_two(rogue: Rogue, nodes: list[RunningNode], session_id: int, topic: str) -> None:
    await wait_for(
        lambda: all(any(k == "round.started" and d.get("round") == 2 for k, d in n.events) for n in nodes),
        30, "round 2 to start on every honest node",
    )  # fmt: skip
    before = counters(nodes)
    # An old round's update, offered again: the round is closed.
    reason = await rogue.push(nodes[0], session_id, 1, b"\x00" * 64)
    assert "round 1 is not open here" in reason, reason
    # An old round's gossip, replayed: an honest node's round-1 message (validly signed, from the past).
    round_one = [raw for raw in honest_envelopes(rogue, nodes) if decode_envelope(raw).round == 1]
    assert round_one
    await rogue.gossip(topic, round_one[-1])

    def stale() -> int:
        return counters(nodes)["dropped.stale_round"] - before["dropped.stale_round"]

    await wait_for(lambda: stale() >= 1, 30, "honest validators to drop the old round's message")

    # Attestations no key can have made, addressed to each honest node as if it led: a mirrored (high-s) copy of
    # the rogue's own valid signature, which the contract would refuse and so revert the leader's submitRound, and
    # a signature with a junk v. Each is a bad payload to its leader, not a crash of its session runner.
    statement = RoundStatement(session_id, 2, compute_cid(b"model"), bytes(32))
    sign_domain = AttestationDomain(rogue.domain.chain_id, rogue.domain.verifying_contract)
    valid = sign_attestation(rogue.account, sign_domain, statement)
    high_s = (SECP256K1_ORDER - int.from_bytes(valid[32:64], "big")).to_bytes(32, "big")
    signatures = {"upper half": valid[:32] + high_s + bytes([55 - valid[64]]), "v is 31": valid[:64] + bytes([31])}
    for signature in signatures.values():
        for node in nodes:
            message = AttestationMessage(node.account.address, statement.model_cid, statement.updates_root, signature)
            await rogue.gossip(topic, rogue.envelope(ATTESTATION_KIND.kind, topic, message.payload(), session_id, 2))

    def refused(node: RunningNode, fragment: str) -> bool:
        return any(k == "gossip.bad_payload" and fragment in d["reason"] for k, d in node.events)

    await wait_for(
        lambda: all(refused(n, fragment) for n in nodes for fragment in signatures), 30,
        "every honest node to refuse both attestations as bad payloads",
    )  # fmt: skip


SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

pytestmark = pytest.mark.timeout(600)
