"""Loading signing keys: keystore file + password, hex key from an environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from parity_p2p.chain import KeyLoadError, account_from_env, account_from_hex, account_from_keystore, write_keystore

KEY = "0x" + "4c" * 32


def test_keystore_round_trip(tmp_path: Path) -> None:
    account = Account.from_key(KEY)
    path = tmp_path / "key.json"
    write_keystore(account, path, "correct horse", kdf_iterations=2)
    assert path.stat().st_mode & 0o777 == 0o600
    assert account_from_keystore(path, "correct horse").address == account.address
    with pytest.raises(KeyLoadError, match="wrong password"):
        account_from_keystore(path, "wrong")


def test_keystore_unreadable_or_garbage(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="cannot read"):
        account_from_keystore(tmp_path / "absent.json", "x")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{{{")
    with pytest.raises(KeyLoadError, match="not JSON"):
        account_from_keystore(garbage, "x")


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARITY_TEST_KEY", KEY)
    assert account_from_env("PARITY_TEST_KEY").address == Account.from_key(KEY).address
    monkeypatch.delenv("PARITY_TEST_KEY")
    with pytest.raises(KeyLoadError, match="PARITY_TEST_KEY is not set"):
        account_from_env("PARITY_TEST_KEY")


@pytest.mark.parametrize("bad", ["0x1234", "zz" * 32, "0x" + "00" * 32])
def test_malformed_hex_keys(bad: str) -> None:
    with pytest.raises(KeyLoadError):
        account_from_hex(bad)
