"""`parity-node`: init a data directory, start the daemon, ask a running one for its status.

Commands stay thin: they read flags, find the password, call datadir/daemon/api.client and turn NodeError into
a one-line message and its exit code (errors.py; docs/node.md lists them). Never a traceback for a user error.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from parity_p2p.node.config import NodeConfig, NodeOverrides, format_tokens
from parity_p2p.node.datadir import PASSWORD_ENV, init_data_dir, read_password, resolve_data_dir
from parity_p2p.node.errors import ConfigError, NodeError, PasswordError

app = typer.Typer(
    name="parity-node",
    help="Run a Parity P2P runner node: `init` once, then `start`; `status` asks the running node.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory [default: $PARITY_DATA_DIR or ~/.parity-p2p]", show_default=False),
]
PasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help=f"Read the keystore password from this file (else ${PASSWORD_ENV}, else a prompt)"
    ),
]


def _data_dir(given: Path | None) -> Path:
    try:
        return resolve_data_dir(given)
    except NodeError as exc:
        _fail(exc)


def _fail(error: NodeError) -> NoReturn:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(error.exit_code)


def _prompt(confirm: bool) -> str:
    if not sys.stdin.isatty():
        raise PasswordError(
            f"no keystore password: set ${PASSWORD_ENV} or pass --password-file (stdin is not a terminal)"
        )
    password: str = typer.prompt("Keystore password", hide_input=True, confirmation_prompt=confirm)
    return password


@app.command()
def init(
    data_dir: DataDirOption = None,
    password_file: PasswordFileOption = None,
    import_key_env: Annotated[
        str | None,
        typer.Option(
            "--import-key-env",
            metavar="VAR",
            help="Import the hex private key held in environment variable VAR instead of generating one",
        ),
    ] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Chain RPC URL to write into config.toml")] = None,
    deployment: Annotated[
        Path | None, typer.Option("--deployment", help="Deployment file to write into config.toml")
    ] = None,
    listen: Annotated[list[str] | None, typer.Option("--listen", help="libp2p listen multiaddr (repeatable)")] = None,
    api_port: Annotated[int | None, typer.Option("--api-port", help="Control API port (0: any free port)")] = None,
) -> None:
    """Create a data directory: config, libp2p identity, encrypted Ethereum keystore, API token."""
    path = _data_dir(data_dir)
    try:
        overrides = NodeOverrides(
            listen=tuple(listen or ()),
            rpc_url=rpc_url,
            deployment=deployment.resolve() if deployment else None,
            api_port=api_port,
        )
        config = NodeConfig().with_overrides(overrides)
        password = read_password(password_file, _prompt, confirm=True)
        result = init_data_dir(path, password, import_key_env=import_key_env, config=config)
    except NodeError as exc:
        _fail(exc)
    origin = f"imported from ${import_key_env}" if result.imported else "new"
    typer.echo(f"Initialised {result.data_dir}")
    typer.echo(f"  address  {result.address} ({origin}; keystore.json)")
    typer.echo(f"  peer id  {result.peer_id} (p2p.key)")
    typer.echo("")
    typer.echo("Next:")
    typer.echo(f"  1. Fund {result.address} with gas and tokens (on a devnet: its faucet).")
    typer.echo(f"  2. parity-client runner register --stake 100 --data-dir {result.data_dir}")
    typer.echo(f"  3. parity-node start --data-dir {result.data_dir}")
    typer.echo(f"Settings: {result.data_dir / 'config.toml'} (loopback only by default; see docs/node.md).")


@app.command()
def start(
    data_dir: DataDirOption = None,
    password_file: PasswordFileOption = None,
    listen: Annotated[
        list[str] | None, typer.Option("--listen", help="libp2p listen multiaddr (repeatable; replaces the config's)")
    ] = None,
    bootstrap: Annotated[
        list[str] | None, typer.Option("--bootstrap", help="Bootstrap peer /ip4/../tcp/../p2p/<id> (repeatable)")
    ] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Chain RPC URL")] = None,
    deployment: Annotated[Path | None, typer.Option("--deployment", help="Deployment file")] = None,
    api_port: Annotated[int | None, typer.Option("--api-port", help="Control API port (0: any free port)")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error")] = "info",
) -> None:
    """Run the node until SIGINT/SIGTERM (exit 0 on a clean stop)."""
    import trio

    from parity_p2p.node.daemon import run_until_signal

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        _fail(ConfigError("--log-level", f"{log_level!r} is not one of debug, info, warning, error"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # httpx logs every JSON-RPC call at INFO: far too chatty for a daemon's log.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    path = _data_dir(data_dir)
    overrides = NodeOverrides(
        listen=tuple(listen or ()),
        bootstrap=tuple(bootstrap or ()),
        rpc_url=rpc_url,
        deployment=deployment,
        api_port=api_port,
    )
    try:
        password = read_password(password_file, _prompt, confirm=False)
        code = trio.run(run_until_signal, path, password, overrides)
    except NodeError as exc:
        _fail(exc)
    except BaseExceptionGroup as group:
        # Parts run in nurseries, so a NodeError can arrive wrapped; report the first one like any other.
        found = _first_node_error(group)
        if found is None:
            raise
        _fail(found)
    raise typer.Exit(code)


def _first_node_error(group: BaseExceptionGroup[BaseException]) -> NodeError | None:
    for exc in group.exceptions:
        if isinstance(exc, NodeError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_node_error(exc)
            if inner is not None:
                return inner
    return None


@app.command()
def status(
    data_dir: DataDirOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
) -> None:
    """Ask the node running on the data directory for its status."""
    from parity_p2p.node.api.client import NodeApiSync
    from parity_p2p.node.api.routes import _plain

    if output not in ("text", "json"):
        _fail(ConfigError("--output", f"{output!r} is not text or json"))
    path = _data_dir(data_dir)
    try:
        with NodeApiSync.from_data_dir(path) as api:
            result = api.status()
    except NodeError as exc:
        _fail(exc)
    if output == "json":
        typer.echo(json.dumps(_plain(result), indent=2))
        return

    def tokens(units: int | None) -> str:
        return "?" if units is None else format_tokens(units)

    typer.echo(f"node      {result.address}  (parity-p2p {result.version}, up {result.uptime_s:.0f} s)")
    typer.echo(f"peer id   {result.peer_id}  ({result.connected_peers} connected)")
    for addr in result.listen_addrs:
        typer.echo(f"listen    {addr}")
    typer.echo(f"chain     id {result.chain_id} at {result.rpc_url}, block {result.block}")
    if result.chain_error:
        typer.echo(f"          chain error: {result.chain_error}")
    registered = {True: "yes", False: "NO (parity-client runner register --stake 100)", None: "?"}[result.registered]
    typer.echo(f"runner    registered: {registered}, stake {tokens(result.stake)}")
    typer.echo(f"balances  {tokens(result.token_balance)} tokens, {tokens(result.eth_balance)} native")
    typer.echo(f"sessions  {'session service running' if result.session_service else 'no session service'}")
    typer.echo(f"api       {result.api_url}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def tui(ctx: typer.Context, data_dir: DataDirOption = None) -> None:
    """Watch this node in the terminal UI (the same as `parity-tui`; extra options are passed on)."""
    from tui.app import main as tui_main  # the TUI is optional at import time: Textual loads only here

    args = ["--data-dir", str(_data_dir(data_dir)), *ctx.args]
    raise typer.Exit(tui_main(args))


def main() -> None:
    from parity_p2p.devnet.cli import devnet_app

    app.add_typer(devnet_app, name="devnet")
    app()


if __name__ == "__main__":
    main()
