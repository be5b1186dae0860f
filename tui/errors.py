"""Errors of the TUI: one base, narrow subclasses carrying what went wrong and the process exit code."""

from __future__ import annotations


class TuiError(Exception):
    exit_code = 1


class UsageError(TuiError):
    """Bad command line: which option and why."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EndpointError(TuiError):
    """The node's API address or token cannot be read (data directory not initialised, no api.json, token file)."""

    exit_code = 3

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class NodeUnreachableError(TuiError):
    """No node answers at start (the same exit code as `parity-node status`)."""

    exit_code = 9

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"no node answers at {url}: {reason}")
        self.url = url
        self.reason = reason


class NodeRefusedError(TuiError):
    """A node answers at start but refuses the request (a wrong token: 401); as `parity-node`'s exit code 10."""

    exit_code = 10

    def __init__(self, url: str, status: int, message: str) -> None:
        super().__init__(f"the node at {url} refused the request ({status}): {message}")
        self.url = url
        self.status = status
