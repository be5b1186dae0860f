"""Fixtures for the content-store tests."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from parity_p2p.storage import ContentStore, FsBlockstore


def vector_bytes(name: str, size: int) -> bytes:
    """SHAKE-128 of a label, truncated: the same recipe the npm vector generator used."""
    if size == 0:
        return b""
    return hashlib.shake_128(f"parity-p2p storage vector {name}".encode()).digest(size)


@pytest.fixture
def make_vector() -> Callable[[str, int], bytes]:
    """Deterministic test content (see vector_bytes)."""
    return vector_bytes


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(FsBlockstore(tmp_path / "content"))


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs, so the kernel itself answers ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the quota test covers StorageFull without one)")
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


# ---- a real js-ipfs daemon (optional: 300 MB of npm, so never part of the repo) ------------------------
JSIPFS_ENV = "PARITY_JSIPFS_BIN"
JSIPFS_DEFAULT = Path("/tmp/jsipfs/node_modules/.bin/jsipfs")


def _jsipfs_binary() -> Path | None:
    configured = os.environ.get(JSIPFS_ENV)
    candidate = Path(configured) if configured else JSIPFS_DEFAULT
    return candidate if candidate.is_file() else None


@pytest.fixture(scope="session")
def ipfs_api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The RPC URL of an offline js-ipfs 0.66.1 daemon on 127.0.0.1 with a fresh repo (docs/storage.md)."""
    binary = _jsipfs_binary()
    if binary is None:
        pytest.skip(
            f"js-ipfs is not installed: set {JSIPFS_ENV} to the jsipfs of npm ipfs@0.66.1 "
            f"(default {JSIPFS_DEFAULT}); docs/storage.md says how"
        )
    repo = tmp_path_factory.mktemp("jsipfs") / "repo"
    env = {**os.environ, "IPFS_PATH": str(repo)}
    subprocess.run([str(binary), "init", "--profile", "test"], env=env, check=True, capture_output=True, timeout=120)
    config_path = repo / "config"
    config = json.loads(config_path.read_text())
    # The test profile already binds API/Gateway/Swarm to 127.0.0.1:0 and clears Bootstrap; gRPC is fixed at 5003.
    config["Addresses"]["RPC"] = "/ip4/127.0.0.1/tcp/0"
    config["Bootstrap"] = []
    config_path.write_text(json.dumps(config))
    log_path = repo.parent / "daemon.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(binary), "daemon", "--offline"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        api_file = repo / "api"
        deadline = time.monotonic() + 60
        while not (api_file.is_file() and b"Daemon is ready" in log_path.read_bytes()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"js-ipfs daemon did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        # /ip4/127.0.0.1/tcp/<port>/http
        parts = api_file.read_text().strip().split("/")
        yield f"http://{parts[2]}:{parts[4]}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
