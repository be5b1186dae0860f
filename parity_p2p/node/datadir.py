"""The node's data directory: its layout, `init`, the keystore password and unlocking.

<data dir>/            mode 0700
  config.toml          settings (config.py)
  p2p.key              libp2p Ed25519 identity -> peer id (0600)
  keystore.json        Ethereum key, eth-account encrypted JSON (0600)
  api.token            bearer token of the control API (0600)
  content/             blocks and pins of the content store
  node.lock            held by the running node (lock.py)
  api.json             written by the running node: where its API listens (removed on stop)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from parity_p2p.chain.errors import KeyLoadError
from parity_p2p.chain.keys import account_from_env, account_from_keystore, write_keystore
from parity_p2p.node.config import NodeConfig, render_toml
from parity_p2p.node.errors import DataDirError, DataDirExistsError, DataDirMissingError, KeystoreError, PasswordError

DATA_DIR_ENV = "PARITY_DATA_DIR"
PASSWORD_ENV = "PARITY_KEYSTORE_PASSWORD"
DEFAULT_DATA_DIR = Path("~/.parity-p2p")
MIN_PASSWORD_LENGTH = 8
NAME_MAX = 255  # bytes per path component on Linux filesystems (ext4, xfs, btrfs, tmpfs)


def resolve_data_dir(given: Path | None) -> Path:
    """--data-dir, else $PARITY_DATA_DIR, else ~/.parity-p2p; always absolute. DataDirError for a path that no
    filesystem call could use (an unknown user's ~, a name longer than the filesystem allows)."""
    if given is None:
        from_env = os.environ.get(DATA_DIR_ENV)
        given = Path(from_env) if from_env else DEFAULT_DATA_DIR
    try:
        path = given.expanduser()
    except RuntimeError:  # "~name" for a user this machine does not have
        raise DataDirError(given, "its ~user part names no user on this machine; give the path in full") from None
    longest = max((len(os.fsencode(part)) for part in path.parts), default=0)
    if longest > NAME_MAX:
        raise DataDirError(path, f"a name in it is {longest} bytes long; filesystems allow {NAME_MAX}") from None
    return path.resolve()


@dataclass(frozen=True)
class DataDir:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def key_path(self) -> Path:
        return self.path / "p2p.key"

    @property
    def keystore_path(self) -> Path:
        return self.path / "keystore.json"

    @property
    def token_path(self) -> Path:
        return self.path / "api.token"

    @property
    def content_dir(self) -> Path:
        return self.path / "content"

    @property
    def lock_path(self) -> Path:
        return self.path / "node.lock"

    @property
    def api_endpoint_path(self) -> Path:
        return self.path / "api.json"

    def require_initialised(self) -> None:
        if not self.path.is_dir():
            raise DataDirMissingError(self.path, "the directory")
        for label, file in (
            ("config.toml", self.config_path),
            ("p2p.key", self.key_path),
            ("keystore.json", self.keystore_path),
            ("api.token", self.token_path),
        ):
            if not file.is_file():
                raise DataDirMissingError(self.path, label)

    def loose_permissions(self) -> list[Path]:
        """The directory and secret files that others than the owner may read (init makes none)."""
        secrets_ = (self.path, self.key_path, self.keystore_path, self.token_path)
        return [p for p in secrets_ if p.exists() and p.stat().st_mode & 0o077]

    def address(self) -> str:
        """The keystore's Ethereum address, read without the password."""
        try:
            raw = json.loads(self.keystore_path.read_text(encoding="utf-8"))
            return to_checksum_address("0x" + str(raw["address"]).removeprefix("0x"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeystoreError(f"cannot read the address in {self.keystore_path}: {exc}") from None

    def unlock(self, password: str) -> LocalAccount:
        try:
            return account_from_keystore(self.keystore_path, password)
        except KeyLoadError as exc:
            if "wrong password" in str(exc):
                raise PasswordError(f"{exc} (password from ${PASSWORD_ENV}, --password-file or the prompt)") from None
            raise KeystoreError(str(exc)) from None

    def read_token(self) -> str:
        try:
            token = self.token_path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataDirError(self.path, f"cannot read the API token {self.token_path}: {exc}") from None
        if len(token) < 16:
            raise DataDirError(self.path, f"the API token in {self.token_path} is too short; delete it and re-init")
        return token

    def write_api_endpoint(self, url: str) -> None:
        _write_private(self.api_endpoint_path, json.dumps({"url": url, "pid": os.getpid()}) + "\n", replace=True)

    def read_api_endpoint(self) -> str | None:
        """The URL the running node wrote, or None when it is not running (or never bound)."""
        try:
            raw = json.loads(self.api_endpoint_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        url = raw.get("url") if isinstance(raw, dict) else None
        return url if isinstance(url, str) else None

    def clear_api_endpoint(self) -> None:
        self.api_endpoint_path.unlink(missing_ok=True)


@dataclass(frozen=True)
class InitResult:
    data_dir: Path
    address: str
    peer_id: str
    imported: bool


def init_data_dir(
    path: Path,
    password: str,
    *,
    import_key_env: str | None = None,
    config: NodeConfig | None = None,
    kdf_iterations: int | None = None,
) -> InitResult:
    """Create a complete data directory at `path`, or refuse if something is already there.

    Everything is written into a private temporary sibling first and renamed into place, so a failure half way
    leaves nothing that a later `init` would refuse or a `start` would half-trust.
    """
    # Imported lazily: libp2p takes ~2 s to import and only init and start need it.
    from parity_p2p.gossip.errors import KeyFileError
    from parity_p2p.gossip.keyfile import create_key_file
    from parity_p2p.gossip.peer_identity import peer_id_for_key_file

    check_password(password)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DataDirExistsError(path)
    try:
        account = account_from_env(import_key_env) if import_key_env else Account.create()
    except KeyLoadError as exc:
        raise KeystoreError(f"--import-key-env {import_key_env}: {exc}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.init-", dir=path.parent))  # mode 0700
    except OSError as exc:
        raise DataDirError(path, f"cannot create: {exc.strerror}") from None
    layout = DataDir(staging)
    try:
        create_key_file(layout.key_path)
        peer_id = peer_id_for_key_file(layout.key_path)
        write_keystore(account, layout.keystore_path, password, kdf_iterations=kdf_iterations)
        _write_private(layout.token_path, secrets.token_urlsafe(32) + "\n")
        _write_private(layout.config_path, render_toml(config or NodeConfig()))
        layout.content_dir.mkdir(mode=0o700)
        # rename(2) replaces an empty directory and fails on a non-empty one: a racing init cannot be clobbered.
        os.rename(staging, path)
    except KeyFileError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataDirError(path, str(exc)) from None
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if path.exists() and any(path.iterdir()):
            raise DataDirExistsError(path) from None
        raise DataDirError(path, f"cannot create: {exc.strerror or exc}") from None
    os.chmod(path, 0o700)
    return InitResult(path, str(account.address), peer_id, imported=import_key_env is not None)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"the keystore password needs at least {MIN_PASSWORD_LENGTH} characters")


def read_password(
    password_file: Path | None,
    prompt: Callable[[bool], str] | None,
    *,
    confirm: bool,
) -> str:
    """The keystore password from, in order: --password-file, $PARITY_KEYSTORE_PASSWORD, `prompt(confirm)`.

    A password file's trailing newline is dropped (editors add one); nothing else is stripped.
    """
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PasswordError(f"cannot read --password-file {password_file}: {exc}") from None
        password = text.removesuffix("\n").removesuffix("\r")
        if not password:
            raise PasswordError(f"--password-file {password_file} is empty")
        return password
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if prompt is None:
        raise PasswordError(f"no keystore password: set ${PASSWORD_ENV}, pass --password-file, or run interactively")
    return prompt(confirm)


def _write_private(path: Path, text: str, *, replace: bool = False) -> None:
    """Write `text` to a new file created with mode 0600 (never briefly readable by others). With `replace`, the
    text goes to a temporary file renamed over `path`, so a reader sees the old file or the whole new one, never
    an empty or half-written one (a devnet polls api.json while its node writes it)."""
    if replace:
        staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        staging.unlink(missing_ok=True)
        try:
            _write_private(staging, text)
            os.replace(staging, path)
        finally:
            staging.unlink(missing_ok=True)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
