"""`init` of a data directory: what it creates, with which modes, and the three password sources."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account

from parity_p2p.gossip.peer_identity import peer_id_for_key_file
from parity_p2p.node.config import NodeConfig, load_config
from parity_p2p.node.datadir import PASSWORD_ENV, DataDir, init_data_dir, read_password
from parity_p2p.node.errors import DataDirExistsError, DataDirMissingError, KeystoreError, PasswordError

FAST_KDF = 2**10  # scrypt n: the default (2**18) costs ~1 s per encrypt/decrypt; the format is the same
PASSWORD = "correct horse battery"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_every_file_private(tmp_path: Path) -> None:
    target = tmp_path / "home" / "node"
    result = init_data_dir(target, PASSWORD, kdf_iterations=FAST_KDF)
    layout = DataDir(target)

    assert mode(target) == 0o700
    for file in (layout.config_path, layout.key_path, layout.keystore_path, layout.token_path):
        assert file.is_file(), file
        assert mode(file) == 0o600, file
    assert layout.content_dir.is_dir()
    layout.require_initialised()
    assert result.peer_id == peer_id_for_key_file(layout.key_path)
    assert result.address == layout.address() == layout.unlock(PASSWORD).address
    assert len(layout.read_token()) >= 40
    assert load_config(layout.config_path, target) == NodeConfig()
    assert layout.loose_permissions() == []
    layout.keystore_path.chmod(0o644)
    assert layout.loose_permissions() == [layout.keystore_path]
    # Nothing of the staging directory is left next to it.
    assert [p.name for p in target.parent.iterdir()] == ["node"]


def test_two_inits_give_two_identities(tmp_path: Path) -> None:
    a = init_data_dir(tmp_path / "a", PASSWORD, kdf_iterations=FAST_KDF)
    b = init_data_dir(tmp_path / "b", PASSWORD, kdf_iterations=FAST_KDF)
    assert a.address != b.address
    assert a.peer_id != b.peer_id
    assert DataDir(tmp_path / "a").read_token() != DataDir(tmp_path / "b").read_token()


def test_second_init_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "node"
    init_data_dir(target, PASSWORD, kdf_iterations=FAST_KDF)
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}
    with pytest.raises(DataDirExistsError, match="already exists") as caught:
        init_data_dir(target, PASSWORD, kdf_iterations=FAST_KDF)
    assert caught.value.exit_code == 3
    assert {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()} == before


def test_init_refuses_a_non_empty_foreign_directory_but_takes_an_empty_one(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataDirExistsError):
        init_data_dir(foreign, PASSWORD, kdf_iterations=FAST_KDF)
    assert (foreign / "notes.txt").read_text() == "mine"

    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)
    init_data_dir(empty, PASSWORD, kdf_iterations=FAST_KDF)
    assert mode(empty) == 0o700
    DataDir(empty).require_initialised()


def test_import_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = Account.create()
    monkeypatch.setenv("MY_RUNNER_KEY", account.key.hex())
    result = init_data_dir(tmp_path / "node", PASSWORD, import_key_env="MY_RUNNER_KEY", kdf_iterations=FAST_KDF)
    assert result.imported
    assert result.address == account.address
    assert DataDir(tmp_path / "node").unlock(PASSWORD).key == account.key


def test_bad_imported_key_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_RUNNER_KEY", "0x1234")
    with pytest.raises(KeystoreError, match="MY_RUNNER_KEY"):
        init_data_dir(tmp_path / "node", PASSWORD, import_key_env="MY_RUNNER_KEY", kdf_iterations=FAST_KDF)
    assert list(tmp_path.iterdir()) == []


def test_short_password_refused(tmp_path: Path) -> None:
    with pytest.raises(PasswordError, match="at least 8"):
        init_data_dir(tmp_path / "node", "short", kdf_iterations=FAST_KDF)
    assert not (tmp_path / "node").exists()


def test_wrong_password_does_not_unlock(tmp_path: Path) -> None:
    init_data_dir(tmp_path / "node", PASSWORD, kdf_iterations=FAST_KDF)
    with pytest.raises(PasswordError, match="wrong password") as caught:
        DataDir(tmp_path / "node").unlock("not the password")
    assert caught.value.exit_code == 6


# ---- password sources: each one creates a keystore that the same source unlocks again --------------------------
def test_password_from_file_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "the environment loses to the file")
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")  # editors end files with a newline; it is not part of the password
    password = read_password(secret, None, confirm=True)
    assert password == PASSWORD
    init_data_dir(tmp_path / "node", password, kdf_iterations=FAST_KDF)
    assert DataDir(tmp_path / "node").unlock(read_password(secret, None, confirm=False))


def test_password_from_environment_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    init_data_dir(tmp_path / "node", read_password(None, None, confirm=True), kdf_iterations=FAST_KDF)
    assert DataDir(tmp_path / "node").unlock(PASSWORD)


def test_password_from_prompt_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    asked: list[bool] = []

    def prompt(confirm: bool) -> str:
        asked.append(confirm)
        return PASSWORD

    init_data_dir(tmp_path / "node", read_password(None, prompt, confirm=True), kdf_iterations=FAST_KDF)
    assert DataDir(tmp_path / "node").unlock(read_password(None, prompt, confirm=False))
    assert asked == [True, False]  # init confirms the password, start does not


def test_no_password_source_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(PasswordError, match=PASSWORD_ENV):
        read_password(None, None, confirm=False)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(PasswordError, match="is empty"):
        read_password(empty, None, confirm=False)
    with pytest.raises(PasswordError, match="cannot read"):
        read_password(tmp_path / "absent", None, confirm=False)


def test_missing_parts_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataDirMissingError, match="parity-node init"):
        DataDir(tmp_path / "nothing").require_initialised()
    init_data_dir(tmp_path / "node", PASSWORD, kdf_iterations=FAST_KDF)
    (tmp_path / "node" / "api.token").unlink()
    with pytest.raises(DataDirMissingError, match=r"api\.token"):
        DataDir(tmp_path / "node").require_initialised()


def test_api_endpoint_file(tmp_path: Path) -> None:
    layout = DataDir(tmp_path)
    assert layout.read_api_endpoint() is None
    layout.write_api_endpoint("http://127.0.0.1:1234")
    assert layout.read_api_endpoint() == "http://127.0.0.1:1234"
    assert json.loads(layout.api_endpoint_path.read_text())["url"] == "http://127.0.0.1:1234"
    assert mode(layout.api_endpoint_path) == 0o600
    layout.clear_api_endpoint()
    assert layout.read_api_endpoint() is None
