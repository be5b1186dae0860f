"""One node per data directory: an exclusive flock on <data dir>/node.lock, which holds the owner's pid.

flock belongs to the open file, so the kernel drops it when the owning process dies however it dies: a lock
file left behind by a crashed node is just a file and never blocks the next start. The pid inside only serves
the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from parity_p2p.node.errors import AlreadyRunningError, DataDirError


class NodeLock:
    """`with NodeLock(data_dir, lock_path):` holds the lock for the block; AlreadyRunningError if taken."""

    def __init__(self, data_dir: Path, lock_path: Path) -> None:
        self.data_dir = data_dir
        self.lock_path = lock_path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError("NodeLock.acquire called twice")
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataDirError(self.data_dir, f"cannot open lock file {self.lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunningError(self.data_dir, pid) from None
        except OSError as exc:
            os.close(fd)
            raise DataDirError(self.data_dir, f"cannot lock {self.lock_path}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Empty the file before unlocking so a reader never sees our pid after we let go.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> NodeLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
