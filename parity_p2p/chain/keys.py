"""Loading the account that signs transactions: an eth-account keystore file, or a hex key in the environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from parity_p2p.chain.errors import KeyLoadError

DEFAULT_KEY_ENV = "PARITY_PRIVATE_KEY"


def account_from_hex(key: str) -> LocalAccount:
    """A LocalAccount from a 32-byte hex private key (with or without 0x)."""
    text = key.strip().removeprefix("0x")
    if len(text) != 64:
        raise KeyLoadError(f"a private key is 64 hex digits, got {len(text)} characters")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise KeyLoadError("the private key is not hexadecimal") from None
    try:
        account: LocalAccount = Account.from_key(raw)
    except ValueError as exc:  # zero or >= the curve order
        raise KeyLoadError(f"not a valid secp256k1 private key: {exc}") from None
    return account


def account_from_env(variable: str = DEFAULT_KEY_ENV) -> LocalAccount:
    """A LocalAccount from the hex key in environment variable `variable`."""
    value = os.environ.get(variable)
    if not value:
        raise KeyLoadError(f"environment variable {variable} is not set (expected a hex private key)")
    return account_from_hex(value)


def account_from_keystore(path: Path, password: str) -> LocalAccount:
    """A LocalAccount from an encrypted eth-account (Web3 Secret Storage v3) keystore file."""
    try:
        keyfile = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeyLoadError(f"cannot read keystore {path}: {exc.strerror}") from None
    except ValueError:
        raise KeyLoadError(f"keystore {path} is not JSON") from None
    try:
        key = Account.decrypt(keyfile, password)
    except ValueError as exc:
        # eth-keyfile raises ValueError("MAC mismatch") for a wrong password.
        raise KeyLoadError(f"cannot decrypt keystore {path}: {exc} (wrong password?)") from None
    except (KeyError, TypeError) as exc:
        raise KeyLoadError(f"keystore {path} is malformed: missing {exc}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def write_keystore(account: LocalAccount, path: Path, password: str, *, kdf_iterations: int | None = None) -> None:
    """Encrypt `account` into a keystore file readable by `account_from_keystore` (mode 0600)."""
    keyfile = Account.encrypt(account.key, password, iterations=kdf_iterations)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(keyfile, handle)
