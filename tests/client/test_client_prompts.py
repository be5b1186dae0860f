"""The questions `parity-client` asks on a terminal (and only there): the token approval and the keystore password.
Run as a real process on a pseudo-terminal, answered like a user would."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from pathlib import Path

from client_helpers import BIN, CLEARED
from fixtures.devchain import DevChain

from parity_p2p.chain.keys import write_keystore


def _own_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty (getpass reads /dev/tty)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_on_terminal(args: list[str], answers: list[tuple[str, str]], env: dict[str, str]) -> tuple[int, str]:
    """Run parity-client with a pty as stdin/stdout; when the output shows a prompt, type its answer."""
    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k not in CLEARED} | env
    process = subprocess.Popen([str(BIN / "parity-client"), *args], stdin=slave, stdout=slave, stderr=slave,
                               env=full_env, close_fds=True, preexec_fn=_own_terminal)  # fmt: skip
    os.close(slave)
    seen = ""
    pending = list(answers)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    break
                seen += chunk
                if pending and pending[0][0] in seen:
                    # getpass switches echo off with TCSAFLUSH, which drops input typed before: answer like a
                    # person, a moment after the prompt appears.
                    time.sleep(0.5)
                    os.write(master, (pending.pop(0)[1] + "\n").encode())
            elif process.poll() is not None:
                break
        if process.poll() is None:
            process.kill()
        return process.wait(timeout=30), seen
    finally:
        os.close(master)


def test_approval_is_asked_on_a_terminal(dev_chain: DevChain, tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.json"
    dev_chain.deployment.save(deployment)
    env = {"K": dev_chain.node.private_keys[4], "PARITY_DEPLOYMENT": str(deployment)}
    code, _ = run_on_terminal(["token", "faucet", "--amount", "100", "--key-env", "K"], [], env)
    assert code == 0
    register = ["runner", "register", "--stake", "100", "--peer-id", "12D3KooWprompt", "--key-env", "K"]

    code, seen = run_on_terminal(register, [("Approve", "n")], env)
    assert code == 7 and "pass --approve" in seen

    code, seen = run_on_terminal(register, [("Approve", "y")], env)
    assert code == 0, seen
    assert "Registered" in seen and "stake 100 USDFC" in seen


def test_keystore_password_is_asked_on_a_terminal(dev_chain: DevChain, tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.json"
    dev_chain.deployment.save(deployment)
    keystore = tmp_path / "key.json"
    write_keystore(dev_chain.accounts[5], keystore, "correct horse", kdf_iterations=2)
    args = ["token", "balance", "--keystore", str(keystore), "--deployment", str(deployment)]
    code, seen = run_on_terminal(args, [("Keystore password", "correct horse")], {})
    assert code == 0, seen
    assert dev_chain.accounts[5].address in seen
    code, seen = run_on_terminal(args, [("Keystore password", "wrong")], {})
    assert code == 3 and "wrong password" in seen
