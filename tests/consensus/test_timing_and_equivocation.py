"""Round deadlines adapt to training times within the on-chain bound; conflicting proposals become evidence once."""

from __future__ import annotations

import pytest

from parity_p2p.consensus.equivocation import ProposalBook, SignedProposal
from parity_p2p.consensus.timing import Collect, TimingPolicy, collect_decision, p90, round_window

POLICY = TimingPolicy(slack=1.5, margin=2.0, floor=3.0, max_fraction=0.6, give_up_fraction=0.85)


def test_p90_is_nearest_rank() -> None:
    assert p90([5.0]) == 5.0
    assert p90([float(i) for i in range(1, 11)]) == 9.0
    assert p90([1.0, 1.0, 1.0, 30.0]) == 30.0  # one straggler in four sets it
    with pytest.raises(ValueError):
        p90([])


@pytest.mark.parametrize(
    ("history", "expected_collect"),
    [
        ([], 60.0),  # no history: the whole share of the timeout
        ([0.1, 0.2], 3.0),  # fast training: the floor
        ([10.0, 12.0, 8.0], 20.0),  # 1.5 x 12 + 2
        ([100.0], 60.0),  # slow training: capped at 0.6 x timeout
    ],
)
def test_collection_window_adapts_within_bounds(history: list[float], expected_collect: float) -> None:
    window = round_window(1000.0, 100.0, history, POLICY)
    assert window.collect_at - 1000.0 == pytest.approx(expected_collect)
    assert window.own_update_by == pytest.approx(1060.0)  # whatever the history: the whole max_fraction
    assert window.give_up_at == pytest.approx(1085.0)
    assert window.failover_at == pytest.approx(1100.0)


def test_collect_decisions() -> None:
    window = round_window(0.0, 100.0, [10.0], POLICY)  # collect at 17, give up at 85
    assert collect_decision(1.0, window, received=4, expected=4, min_participants=3) is Collect.AGGREGATE
    assert collect_decision(10.0, window, received=3, expected=4, min_participants=3) is Collect.WAIT
    assert collect_decision(17.0, window, received=3, expected=4, min_participants=3) is Collect.AGGREGATE
    assert collect_decision(50.0, window, received=2, expected=4, min_participants=3) is Collect.WAIT
    assert collect_decision(85.0, window, received=2, expected=4, min_participants=3) is Collect.GIVE_UP
    # The leader's own training still runs: past collect_at it waits for it, up to max_fraction (60 here).
    assert collect_decision(17.0, window, received=3, expected=4, min_participants=3, own_pending=True) is Collect.WAIT
    assert collect_decision(59.0, window, received=3, expected=4, min_participants=3, own_pending=True) is Collect.WAIT
    assert collect_decision(60.0, window, received=3, expected=4, min_participants=3, own_pending=True) is (
        Collect.AGGREGATE
    )


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        TimingPolicy(max_fraction=0.9, give_up_fraction=0.8)
    with pytest.raises(ValueError):
        TimingPolicy(slack=0.5)


def _proposal(cid: str, signer: str = "0xAbC", round_number: int = 1, session: int = 1) -> SignedProposal:
    return SignedProposal(session, round_number, signer, cid, b"\x01" * 32, b"sig-" + cid.encode())


def test_second_different_proposal_is_evidence_once() -> None:
    book = ProposalBook()
    assert book.record(_proposal("a")) is None
    assert book.record(_proposal("a")) is None  # the same proposal again (relayed twice) is no offence
    evidence = book.record(_proposal("b", signer="0xabc"))  # signer case does not matter
    assert evidence is not None and evidence.first.model_cid == "a" and evidence.second.model_cid == "b"
    assert book.record(_proposal("c")) is None  # already reported for this round
    assert book.record(_proposal("b", round_number=2)) is None  # another round is a fresh slate
    assert book.record(_proposal("z", signer="0xdef")) is None  # another signer too
    book.forget_session(1)
    assert book.record(_proposal("q")) is None
