"""Leader election: the documented formula, failover order and step arithmetic."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from parity_p2p.consensus.election import (
    ElectionInputError,
    current_step,
    failover_order,
    leader_at,
    leader_base,
    step_starts_at,
)

PARTICIPANTS = [f"0x{i:040x}" for i in range(1, 8)]


def test_base_is_keccak_of_seed_and_round_word() -> None:
    seed = keccak(b"seed")
    expected = int.from_bytes(keccak(seed + (5).to_bytes(32, "big")), "big") % 7
    assert leader_base(seed, 5, 7) == expected


def test_failover_walks_every_participant_once_from_the_base() -> None:
    seed = keccak(b"another seed")
    for round_number in range(1, 30):
        order = failover_order(seed, round_number, PARTICIPANTS)
        assert sorted(order) == sorted(PARTICIPANTS)
        base = leader_base(seed, round_number, len(PARTICIPANTS))
        assert order[0] == PARTICIPANTS[base]
        for step, leader in enumerate(order):
            assert leader_at(seed, round_number, step, PARTICIPANTS) == leader
            assert leader_at(seed, round_number, step + len(PARTICIPANTS), PARTICIPANTS) == leader


def test_leaders_vary_across_rounds() -> None:
    seed = keccak(b"x")
    assert len({leader_at(seed, r, 0, PARTICIPANTS) for r in range(1, 60)}) > 1


def test_current_step_boundaries() -> None:
    assert current_step(1000, 1000, 30) == 0
    assert current_step(1029, 1000, 30) == 0
    assert current_step(1030, 1000, 30) == 1
    assert current_step(1095, 1000, 30) == 3
    assert step_starts_at(3, 1000, 30) == 1090


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: leader_base(b"short", 1, 3), "32 bytes"),
        (lambda: leader_base(b"\x00" * 32, 1, 0), "without participants"),
        (lambda: leader_base(b"\x00" * 32, 2**32, 3), "uint32"),
        (lambda: current_step(5, 10, 30), "before the round opened"),
        (lambda: current_step(50, 10, 0), "positive"),
    ],
)
def test_bad_input_is_a_typed_error(call: object, message: str) -> None:
    with pytest.raises(ElectionInputError, match=message):
        call()  # type: ignore[operator]
