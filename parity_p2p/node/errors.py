"""Errors of the node daemon and its CLI: one base, narrow subclasses, each with the exit code the CLI returns.

Exit codes (also in docs/node.md): 0 clean stop, 1 unexpected failure, 2 bad command-line usage (Typer),
3 data directory, 4 configuration, 5 already running, 6 key or password, 7 chain, 8 network, 9 node not
reachable, 10 control API refused the request.
"""

from __future__ import annotations

from pathlib import Path


class NodeError(Exception):
    """Base of every error raised by parity_p2p.node; `exit_code` is what `parity-node` exits with."""

    exit_code: int = 1


class DataDirError(NodeError):
    exit_code = 3

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"data directory {path}: {reason}")
        self.path = path
        self.reason = reason


class DataDirExistsError(DataDirError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            path, "already exists and is not empty; refusing to overwrite an identity (pick another --data-dir)"
        )


class DataDirMissingError(DataDirError):
    def __init__(self, path: Path, missing: str) -> None:
        super().__init__(path, f"{missing} is missing: run `parity-node init --data-dir {path}` first")
        self.missing = missing


class ConfigError(NodeError):
    """A configuration value is wrong; `field` is its dotted name in config.toml (or the flag that set it)."""

    exit_code = 4

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"config {field}: {reason}")
        self.field = field
        self.reason = reason


class AlreadyRunningError(NodeError):
    exit_code = 5

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"a node is already running on {data_dir} ({who} holds its lock); stop it first or use another --data-dir"
        )
        self.data_dir = data_dir
        self.pid = pid


class KeystoreError(NodeError):
    """The keystore could not be created or unlocked (wrong password, unreadable file, bad imported key)."""

    exit_code = 6


class PasswordError(KeystoreError):
    pass


class NodeChainError(NodeError):
    """The chain is unreachable or the deployment does not match it; the message says what to run."""

    exit_code = 7


class NodeNetworkError(NodeError):
    exit_code = 8


class NodeNotRunningError(NodeError):
    exit_code = 9

    def __init__(self, where: Path | str, reason: str) -> None:
        super().__init__(f"no running node answers at {where}: {reason} (start one with `parity-node start`)")
        self.where = where
        self.reason = reason


class ApiRequestError(NodeError):
    """The control API answered with an error status."""

    exit_code = 10

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"control API answered {status}: {message}")
        self.status = status
        self.message = message


class UpdateRefused(NodeError):
    """The session service refused a submitted update; `http_status` is what the control API answers."""

    exit_code = 10

    def __init__(self, reason: str, http_status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


def sole_node_error(group: BaseExceptionGroup[BaseException]) -> NodeError | None:
    """The NodeError inside `group` when nothing else (but cancellations it caused) is: a part started in a
    nursery failed for a reason we can explain, and the caller should see that reason, not a group."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    errors = [exc for exc in leaves if isinstance(exc, NodeError)]
    others = [exc for exc in leaves if not isinstance(exc, NodeError) and type(exc).__name__ != "Cancelled"]
    return errors[0] if errors and not others else None
