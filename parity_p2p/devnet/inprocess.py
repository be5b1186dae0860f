"""Runners played in one process over a real chain: real keys, stores, training, signatures and transactions.

This stands in for the networked node until `parity-node start` exists: blocks move between the runners' own
content stores through an in-process fetcher (where the libp2p block protocol will plug in), and every decision
goes through the same `consensus/` and `node/work.py` functions the node will use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from parity_p2p.chain import ChainClient, Contribution
from parity_p2p.consensus.attestation import RoundStatement, SigningDomain, sign_attestation, sign_proposal
from parity_p2p.consensus.contribution import IncludedUpdate
from parity_p2p.consensus.merkle import update_digest, updates_root
from parity_p2p.consensus.proposal import RoundProposal, decide_attestation, models_match
from parity_p2p.learning.strategies import AggregateResult, ClientUpdate, State
from parity_p2p.learning.trainer import Metrics
from parity_p2p.node.work import (
    SessionWork,
    aggregate,
    encode_global,
    evaluate_state,
    make_update,
    read_global,
    read_update,
    runner_id,
)
from parity_p2p.storage.content import ContentStore
from parity_p2p.storage.multiformats import Cid


class RoundRefused(RuntimeError):
    """Too few attestations to post a round; `reasons` maps each refusing runner to why."""

    def __init__(self, reasons: dict[str, tuple[str, ...]]) -> None:
        super().__init__(f"attestations refused: {reasons}")
        self.reasons = reasons


@dataclass
class InProcessRunner:
    account: LocalAccount
    chain: ChainClient
    store: ContentStore
    peer_id: str
    key_file: Path

    @property
    def address(self) -> str:
        return to_checksum_address(self.account.address)


@dataclass
class InProcessNetwork:
    """The runners' stores, reachable from each other the way the block protocol will make them."""

    runners: list[InProcessRunner] = field(default_factory=list)
    stores: list[ContentStore] = field(default_factory=list)

    def fetcher_for(self, own: int) -> object:
        def fetch(cid: Cid) -> bytes | None:
            for index, store in enumerate(self.stores):
                if index != own and store.blockstore.has(cid):
                    return store.blockstore.get(cid)
            return None

        return fetch


@dataclass(frozen=True)
class RoundOutcome:
    model_cid: str
    state: State
    result: AggregateResult
    metrics: Metrics
    contributions: tuple[Contribution, ...]
    attestations: tuple[bytes, ...]
    proposal_signature: bytes
    train_loss: float


def _included(updates: Sequence[ClientUpdate], cids: dict[str, str], result: AggregateResult) -> list[IncludedUpdate]:
    ordered = sorted(updates, key=lambda u: int(u.runner, 16))
    used = set(result.included)
    return [
        IncludedUpdate(to_checksum_address(u.runner), cids[u.runner], u.num_examples, used_by_strategy=i in used)
        for i, u in enumerate(ordered)
    ]


def train_all(
    work: SessionWork, runners: Sequence[InProcessRunner], round_number: int, state: State, base_cid: str
) -> tuple[dict[str, str], float]:
    """Every runner trains and stores its update; returns runner id -> update CID and the mean training loss."""
    cids: dict[str, str] = {}
    weighted_loss, examples = 0.0, 0
    for runner in runners:
        made = make_update(work, runner.address, round_number, state, base_cid)
        cids[runner_id(runner.address)] = runner.store.add(made.data)
        weighted_loss += made.metrics.loss * made.metrics.data_size
        examples += made.metrics.data_size
    return cids, weighted_loss / max(examples, 1)


def _collect(
    work: SessionWork, store: ContentStore, cids: dict[str, str], round_number: int, state: State, base_cid: str
) -> list[ClientUpdate]:
    updates = []
    for runner, cid in cids.items():
        update, _ = read_update(
            work, store.get(cid), round_number=round_number, sender=runner, global_state=state, base_model_cid=base_cid
        )
        updates.append(update)
    return updates


def lead_round(
    work: SessionWork,
    leader: InProcessRunner,
    round_number: int,
    state: State,
    base_cid: str,
    cids: dict[str, str],
    domain: SigningDomain,
) -> tuple[RoundProposal, RoundStatement, AggregateResult, Metrics, bytes]:
    """The leader fetches and validates every update by CID, aggregates, stores the model and signs a proposal."""
    updates = _collect(work, leader.store, cids, round_number, state, base_cid)
    result = aggregate(work, round_number, state, updates)
    metrics = evaluate_state(work, result.state)
    model_cid = leader.store.add(encode_global(work, round_number, result, metrics))
    included = _included(updates, cids, result)
    proposal = RoundProposal(work.session_id, round_number, leader.address, model_cid, tuple(included))
    statement = RoundStatement(work.session_id, round_number, model_cid, updates_root(contributions_of(proposal)))
    return proposal, statement, result, metrics, sign_proposal(leader.account, domain, statement)


def contributions_of(proposal: RoundProposal) -> list[Contribution]:
    return [Contribution(u.runner, update_digest(u.update_cid), u.data_size, u.points) for u in proposal.included]


def verify_and_attest(
    work: SessionWork,
    follower: InProcessRunner,
    proposal: RoundProposal,
    statement: RoundStatement,
    *,
    state: State,
    base_cid: str,
    my_update_cid: str | None,
    eligible_leaders: Sequence[str],
    min_participants: int,
    domain: SigningDomain,
) -> tuple[bytes | None, tuple[str, ...]]:
    """A follower fetches the included updates and the model by CID, recomputes, and signs only on a match."""
    cids = {runner_id(u.runner): u.update_cid for u in proposal.included}
    updates = _collect(work, follower.store, cids, proposal.round, state, base_cid)
    recomputed = aggregate(work, proposal.round, state, updates).state
    proposed = read_global(work, follower.store.get(proposal.model_cid), state)
    problems = models_match(
        {k: v.numpy() for k, v in proposed.items()}, {k: v.numpy() for k, v in recomputed.items()}
    )
    decision = decide_attestation(
        proposal,
        eligible_leaders=eligible_leaders,
        participants=work.participants,
        min_participants=min_participants,
        my_address=follower.address,
        my_update_cid=my_update_cid,
        expected_sizes=work.shard_sizes,
        model_problems=problems,
    )
    if not decision.attest:
        return None, decision.reasons
    return sign_attestation(follower.account, domain, statement), ()
