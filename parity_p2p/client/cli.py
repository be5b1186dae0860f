"""`parity-client`: the command line of Parity P2P. One Typer sub-app per command group; each command is thin and
calls library code (parity_p2p.chain, .learning, .storage, the node's control API client)."""

from __future__ import annotations

import typer

from parity_p2p.client import chain, fl, runner, token

app = typer.Typer(
    name="parity-client",
    help="Create and follow federated-learning sessions, manage runners and tokens, deploy the contracts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(fl.app, name="fl")
app.add_typer(runner.app, name="runner")
app.add_typer(token.app, name="token")
app.add_typer(chain.app, name="chain")


def main() -> None:
    app()
