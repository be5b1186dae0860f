"""Checks of user input that run before anything touches the chain or the node; each failure is InvalidInput
naming the flag. Typer parses the types; these add the ranges and formats a type cannot express."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path

from eth_utils.address import is_address, to_checksum_address

from parity_p2p.client.errors import TOKEN_DECIMALS, InvalidInput
from parity_p2p.storage.errors import InvalidCid
from parity_p2p.storage.multiformats import parse_cid

MAX_FILE_BYTES = 256 * 1024 * 1024
# uint256 bounds what the contracts can hold; anything above is a typo, not an amount.
MAX_UINT256 = 2**256 - 1


def token_amount(text: str, option: str, *, allow_zero: bool = False) -> int:
    """A decimal token amount ('100', '0.5') as base units (18 decimals)."""
    cleaned = text.strip()
    if len(cleaned) > 100:
        raise InvalidInput(option, "amount too long")
    try:
        value = Decimal(cleaned)
    except (InvalidOperation, ValueError):
        raise InvalidInput(option, f"{text!r} is not a token amount (a decimal number such as 100 or 0.5)") from None
    if not value.is_finite():
        raise InvalidInput(option, f"{text!r} is not a finite amount")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidInput(option, f"must be {'>= 0' if allow_zero else '> 0'}, got {cleaned}")
    if value > Decimal(MAX_UINT256):  # before any scaling: '1e999999999' must not become a giant integer
        raise InvalidInput(option, f"{cleaned} is larger than any token amount")
    # The default context keeps 28 digits; a uint256 amount has up to 78 (plus 18 decimals).
    with localcontext() as exact:
        exact.prec = 200
        units = value.scaleb(TOKEN_DECIMALS)
        if units != units.to_integral_value():
            raise InvalidInput(option, f"{cleaned} has more than {TOKEN_DECIMALS} decimal places")
        result = int(units)
    if result > MAX_UINT256:
        raise InvalidInput(option, f"{cleaned} is larger than any token amount")
    return result


def cid(text: str, option: str) -> str:
    """A CID string as given (it must parse; the contract stores the exact string)."""
    try:
        parse_cid(text)
    except InvalidCid as exc:
        raise InvalidInput(option, f"{text!r} is not a valid CID ({exc.reason})") from None
    return text


def address(text: str, option: str) -> str:
    if not is_address(text):
        raise InvalidInput(option, f"{text!r} is not an Ethereum address (0x followed by 40 hex digits)")
    return to_checksum_address(text)


def read_file(path: Path, option: str, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A file's bytes, or InvalidInput saying why it cannot be read (missing, a directory, too large...)."""
    try:
        if not path.is_file():
            reason = "is a directory" if path.is_dir() else "does not exist"
            raise InvalidInput(option, f"{path} {reason}")
        size = path.stat().st_size
        if size > max_bytes:
            raise InvalidInput(option, f"{path} is {size} bytes, the limit is {max_bytes}")
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(option, f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise InvalidInput(option, f"unusable path {str(path)!r}: {exc}") from None


def writable_target(path: Path, option: str) -> Path:
    """A file path whose directory exists, so a long download does not fail at the very end."""
    try:
        parent = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise InvalidInput(option, f"{path} is a directory; give a file name")
        if not parent.is_dir():
            raise InvalidInput(option, f"directory {parent} does not exist")
    except (OSError, ValueError) as exc:
        raise InvalidInput(option, f"unusable path {str(path)!r}: {exc}") from None
    return path


def positive_int(value: int, option: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    if value < minimum:
        raise InvalidInput(option, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidInput(option, f"must be <= {maximum}, got {value}")
    return value


def positive_float(value: float, option: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInput(option, f"must be a positive finite number, got {value}")
    return value


def fraction(value: float, option: str, *, inclusive_high: bool = True) -> float:
    ok = math.isfinite(value) and value >= 0 and (value <= 1 if inclusive_high else value < 1)
    if not ok:
        raise InvalidInput(option, f"must be in [0, 1{']' if inclusive_high else ')'}, got {value}")
    return value


def one_of(value: str, allowed: tuple[str, ...] | list[str], option: str) -> str:
    if value not in allowed:
        raise InvalidInput(option, f"unknown {value!r}; expected one of: {', '.join(allowed)}")
    return value


def text(value: str, option: str, *, max_chars: int, allow_empty: bool = False) -> str:
    if not allow_empty and not value.strip():
        raise InvalidInput(option, "must not be empty")
    if len(value) > max_chars:
        raise InvalidInput(option, f"at most {max_chars} characters, got {len(value)}")
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in value) or "\x7f" in value:
        raise InvalidInput(option, "contains control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(option, "is not valid Unicode text (lone surrogates)") from None
    return value
