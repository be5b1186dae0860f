"""The network lab's errors: one base, narrow subclasses carrying what failed."""

from __future__ import annotations


class NetlabError(RuntimeError):
    """Base of every error of the network lab."""


class CommandFailed(NetlabError):
    """A system command (ip, tc) exited non-zero."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"`{' '.join(args)}` exited with {returncode}: {stderr.strip()[:400]}")
        self.args_run, self.returncode, self.stderr = args, returncode, stderr


class SwitchError(NetlabError):
    """The userspace switch did not start, died, or refused a control request."""
