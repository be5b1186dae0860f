"""Running a command's async body under trio and turning every user-facing error into one line and an exit code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import trio
import typer

from parity_p2p.client.errors import ClientError, translate

T = TypeVar("T")


def fail(error: ClientError) -> NoReturn:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(error.exit_code)


def _user_error(exc: BaseException) -> ClientError | None:
    found = translate(exc)
    if found is not None:
        return found
    # Errors raised inside a nursery arrive wrapped; a group whose leaves are all one user error is that error.
    if isinstance(exc, BaseExceptionGroup):
        leaves = [translate(e) for e in exc.exceptions]
        if len(leaves) == 1 and leaves[0] is not None:
            return leaves[0]
    return None


def run(body: Callable[[], Awaitable[T]]) -> T:
    """`trio.run(body)`; a known error becomes `error: <message>` on stderr and its exit code."""
    try:
        return trio.run(body)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except (Exception, BaseExceptionGroup) as exc:
        error = _user_error(exc)
        if error is None:
            raise  # a bug: keep the traceback
        fail(error)
