"""The pure pieces of the CLI: token amounts both ways, tables, and which exit code a library error becomes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity_p2p.chain.errors import ContractRevert, KeyLoadError, MissingCodeError, RpcUnavailableError
from parity_p2p.client.errors import InvalidInput, format_tokens, translate
from parity_p2p.client.output import table
from parity_p2p.client.validation import MAX_UINT256, token_amount
from parity_p2p.learning.errors import ModelConfigError, ShapeMismatch
from parity_p2p.node.errors import ApiRequestError, NodeNotRunningError
from parity_p2p.storage.errors import InvalidCid

UNIT = 10**18


@pytest.mark.parametrize(
    ("text", "units"),
    [("100", 100 * UNIT), ("0.5", UNIT // 2), (" 2.25 ", 9 * UNIT // 4), ("1e2", 100 * UNIT),
     ("0.000000000000000001", 1), ("10000000000.000000000000000001", 10**28 + 1)],
)  # fmt: skip
def test_token_amounts(text: str, units: int) -> None:
    assert token_amount(text, "--amount") == units


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "not a token amount"), ("abc", "not a token amount"), ("-1", "must be > 0"), ("0", "must be > 0"),
     ("NaN", "not a finite amount"), ("Infinity", "not a finite amount"), ("1e-19", "more than 18 decimal places"),
     ("1e80", "larger than any token amount"),
     ("1e999999999", "larger than any token amount"), ("1" * 101, "amount too long")],
)  # fmt: skip
def test_bad_token_amounts(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        token_amount(text, "--amount")
    assert caught.value.option == "--amount" and reason in caught.value.reason


@given(st.integers(min_value=0, max_value=MAX_UINT256))
def test_format_tokens_round_trips(units: int) -> None:
    shown = format_tokens(units)
    assert shown.endswith(" USDFC")
    assert token_amount(shown.removesuffix(" USDFC"), "--amount", allow_zero=True) == units


def test_table_aligns_columns() -> None:
    lines = table(["ID", "Name"], [["1", "iris"], ["10", "a"]]).splitlines()
    assert lines == ["ID  Name", "--  ----", "1   iris", "10  a"]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ContractRevert("UnknownSession", (9,)), 11),
        (ContractRevert("NotEnoughParticipants", (1, 1, 3)), 12),
        (ContractRevert("InvalidTotalRounds", (0,)), 6),
        (KeyLoadError("bad key"), 3),
        (MissingCodeError("MockUSDFC", "0x" + "1" * 40), 4),
        (RpcUnavailableError("http://x", "refused"), 5),
        (NodeNotRunningError("http://x", "refused"), 8),
        (ApiRequestError(503, "no session service"), 9),
        (ShapeMismatch("layer0.weight"), 10),
        (InvalidCid("x", "bad"), 2),
        (ModelConfigError("input_size", "missing"), 2),
    ],
)
def test_library_errors_map_to_documented_exit_codes(error: Exception, code: int) -> None:
    translated = translate(error)
    assert translated is not None and translated.exit_code == code
    assert str(translated)


def test_unknown_exceptions_are_not_user_errors() -> None:
    assert translate(ZeroDivisionError()) is None
