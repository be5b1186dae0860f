"""One node per data directory: a live holder (this process or another) blocks, a dead one does not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from parity_p2p.node.errors import AlreadyRunningError
from parity_p2p.node.lock import NodeLock

HOLDER = """
import sys, time
from pathlib import Path
from parity_p2p.node.lock import NodeLock
lock = NodeLock(Path(sys.argv[1]), Path(sys.argv[1]) / "node.lock")
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_lock_refused_while_held_then_free_after_release(tmp_path: Path) -> None:
    first = NodeLock(tmp_path, tmp_path / "node.lock")
    with first:
        assert (tmp_path / "node.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(AlreadyRunningError) as caught:
            NodeLock(tmp_path, tmp_path / "node.lock").acquire()
        assert caught.value.pid == os.getpid()
        assert str(os.getpid()) in str(caught.value)
        assert caught.value.exit_code == 5
    assert (tmp_path / "node.lock").read_text() == ""  # released: no pid left to mislead anyone
    with NodeLock(tmp_path, tmp_path / "node.lock") as again:
        assert again.held


def test_lock_held_by_another_process_then_its_death_frees_it(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunningError) as caught:
            NodeLock(tmp_path, tmp_path / "node.lock").acquire()
        assert caught.value.pid == holder.pid
        os.kill(holder.pid, signal.SIGKILL)  # no chance to clean up: the lock file still names it
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert (tmp_path / "node.lock").read_text().strip() == str(holder.pid)
    with NodeLock(tmp_path, tmp_path / "node.lock") as lock:
        assert lock.held
        assert (tmp_path / "node.lock").read_text().strip() == str(os.getpid())


def test_stale_lock_file_with_a_dead_pid_does_not_block(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "node.lock").write_text(f"{dead.pid}\n")
    with NodeLock(tmp_path, tmp_path / "node.lock") as lock:
        assert lock.held
