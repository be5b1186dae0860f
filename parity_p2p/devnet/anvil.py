"""A real anvil devnet (npm @foundry-rs/anvil) in its own process group: start, wait until it answers, stop
without orphans. Used by the demo, `parity-node devnet`, and the tests (tests/fixtures/anvil.py re-exports it)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

REPO = Path(__file__).resolve().parents[2]  # the repository root, where node_modules lives


def anvil_binary() -> Path:
    """The native anvil binary if the npm package ships one, else the npm launcher. The launcher re-raises
    SIGTERM on itself without waiting for its child, so waiting on it would not wait for the state dump."""
    override = os.environ.get("PARITY_ANVIL")
    if override:
        return Path(override)
    native = sorted((REPO / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    return native[0] if native else REPO / "node_modules" / ".bin" / "anvil"


ANVIL_CHAIN_ID = 31337
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class AnvilStartError(RuntimeError):
    """anvil did not come up; carries its exit code and the tail of its output."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rpc(url: str, method: str, params: list[Any] | None = None, *, timeout: float = 5.0) -> Any:
    """A blocking JSON-RPC call (for fixtures; async code uses parity_p2p.chain.JsonRpc)."""
    response = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=timeout
    )
    body = response.json()
    if "error" in body:
        raise RuntimeError(f"{method}: {body['error']}")
    return body["result"]


@dataclass(frozen=True)
class AnvilNode:
    url: str
    port: int
    chain_id: int
    private_keys: tuple[str, ...]
    accounts: tuple[LocalAccount, ...] = field(repr=False)


class AnvilProcess:
    """`with AnvilProcess(port=..., state_path=...) as node:`; `stop()`/`start()` may be called again
    in between to restart it on the same port."""

    def __init__(
        self,
        *,
        port: int | None = None,
        state_path: Path | None = None,
        chain_id: int = ANVIL_CHAIN_ID,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.port = port or free_port()
        self.chain_id = chain_id
        self.state_path = state_path
        self.extra_args = extra_args
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self) -> AnvilNode:
        if self._proc is not None:
            raise RuntimeError("anvil is already running")
        config_dir = tempfile.mkdtemp(prefix="anvil-config-")
        config_out = Path(config_dir) / "anvil.json"
        args = [
            str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", str(self.chain_id),
            "--config-out", str(config_out), *self.extra_args,
        ]
        if self.state_path is not None:
            args += ["--state", str(self.state_path)]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives until stop()
        # Own session/process group: the npm launcher spawns the native binary; killpg reaches both.
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            self._wait_ready(config_out)
            keys = tuple(json.loads(config_out.read_text())["private_keys"])
        except BaseException:
            self.stop()
            raise
        finally:
            config_out.unlink(missing_ok=True)
            os.rmdir(config_dir)
        return AnvilNode(
            self.url, self.port, self.chain_id, keys, tuple(Account.from_key(k) for k in keys)
        )

    def _wait_ready(self, config_out: Path) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise AnvilStartError(f"anvil exited with {code}: {self._output_tail()}")
            try:
                if config_out.exists() and rpc(self.url, "eth_chainId", timeout=1.0):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.05)
        raise AnvilStartError(f"anvil did not answer on {self.url} within {STARTUP_TIMEOUT} s: {self._output_tail()}")

    def _output_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        text: str = self._log.read().decode(errors="replace")
        return text[-2000:]

    def stop(self) -> None:
        """SIGTERM the group (anvil dumps `--state` on SIGTERM), SIGKILL if it lingers; always reaps."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            # A launcher may exit before its child: wait for the port to close, then leave nothing behind.
            deadline = time.monotonic() + STOP_TIMEOUT
            while self._port_open() and time.monotonic() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            if self._log is not None:
                self._log.close()
                self._log = None

    def _port_open(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --- devnet controls (anvil's evm_* methods) ------------------------------------------------------------------
def snapshot(url: str) -> str:
    result: str = rpc(url, "evm_snapshot")
    return result


def revert(url: str, snapshot_id: str) -> None:
    if not rpc(url, "evm_revert", [snapshot_id]):
        raise RuntimeError(f"evm_revert({snapshot_id}) refused")


def increase_time(url: str, seconds: int) -> None:
    """Move the chain clock forward and mine a block so `block.timestamp` reflects it."""
    rpc(url, "evm_increaseTime", [seconds])
    rpc(url, "evm_mine")


def mine(url: str, blocks: int = 1) -> None:
    for _ in range(blocks):
        rpc(url, "evm_mine")
