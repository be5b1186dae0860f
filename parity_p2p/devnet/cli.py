"""`parity-node devnet up|down`: a local network that keeps running, to attach the TUI or drive it by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from parity_p2p.devnet.anvil import AnvilStartError
from parity_p2p.devnet.network import Devnet, DevnetError, down_recorded

devnet_app = typer.Typer(
    name="devnet", help="A local network: anvil, the contracts and N staked runner nodes.", no_args_is_help=True
)
RootOption = Annotated[Path, typer.Option("--root", help="Folder holding the devnet's data dirs and state")]


@devnet_app.command()
def up(
    root: RootOption = Path("devnet-data"),
    runners: Annotated[int, typer.Option(help="runner nodes (1-64)")] = 4,
) -> None:
    """Start anvil, deploy, fund and stake RUNNERS nodes, start them; leave everything running."""
    try:
        net = Devnet(root, runners)
        state = net.up(typer.echo)
    except (DevnetError, AnvilStartError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"\ndevnet up: chain {state.rpc_url}, deployment {state.deployment_file}")
    for node in state.nodes:
        typer.echo(f"  node {node.index}: --data-dir {node.data_dir}  (log {node.log})")
    typer.echo(f"watch it:   parity-tui --data-dir {state.nodes[0].data_dir}")
    typer.echo(f"drive it:   parity-client fl list-sessions --data-dir {state.nodes[0].data_dir}")
    typer.echo(f"stop it:    parity-node devnet down --root {root}")


@devnet_app.command()
def down(root: RootOption = Path("devnet-data")) -> None:
    """Stop every process `devnet up` started in ROOT."""
    try:
        state = down_recorded(root)
    except DevnetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"stopped {len(state.nodes)} nodes and anvil ({state.rpc_url})")
