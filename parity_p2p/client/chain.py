"""`parity-client chain deploy | check`: put the contracts on a chain, and check a deployment file against one."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from parity_p2p.chain import JsonRpc, deploy, verify_deployment
from parity_p2p.chain.errors import DeploymentError
from parity_p2p.client import validation
from parity_p2p.client.errors import DeploymentProblem, InvalidInput
from parity_p2p.client.options import (
    ChainOptions,
    DeploymentOption,
    KeyEnvOption,
    KeystoreOption,
    OutputOption,
    PasswordFileOption,
    RpcUrlOption,
    check_url,
    load_account,
    load_deployment_file,
)
from parity_p2p.client.output import OutputFormat, emit, fields_text
from parity_p2p.client.runtime import run

app = typer.Typer(help="Deploy the contracts and check deployment files.", no_args_is_help=True)

DAY = 24 * 3600


@app.command("deploy")
def deploy_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write the deployment file")],
    rpc_url: RpcUrlOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Use this existing ERC-20 (e.g. USDFC) instead of deploying MockUSDFC"),
    ] = None,
    min_stake: Annotated[str, typer.Option("--min-stake", help="Minimum runner stake, in tokens")] = "100",
    unstake_cooldown: Annotated[
        int, typer.Option("--unstake-cooldown", help="Seconds between an unstake request and the withdrawal")
    ] = DAY,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file")] = False,
    output: OutputOption = OutputFormat.TEXT,
) -> None:
    """Deploy MockUSDFC (unless --token), RunnerRegistry and SessionManager, wire them, write --out."""
    opts = ChainOptions(rpc_url=rpc_url, keystore=keystore, key_env=key_env, password_file=password_file)

    async def body() -> None:
        if not rpc_url:
            raise InvalidInput("--rpc-url", "required: the chain to deploy to, e.g. http://127.0.0.1:8545")
        url = check_url(rpc_url, "--rpc-url")
        stake = validation.token_amount(min_stake, "--min-stake")
        validation.positive_int(unstake_cooldown, "--unstake-cooldown", minimum=0, maximum=2**64 - 1)
        token_address = validation.address(token, "--token") if token else None
        validation.writable_target(out, "--out")
        if out.exists() and not force:
            raise InvalidInput("--out", f"{out} exists; pass --force to replace it")
        account = load_account(opts)
        async with JsonRpc(url) as rpc:
            if token_address is not None and not await rpc.get_code(token_address):
                raise InvalidInput("--token", f"no contract code at {token_address} on {url}")
            deployment = await deploy(
                rpc, account, min_stake=stake, unstake_cooldown=unstake_cooldown, token=token_address
            )
        deployment.save(out)
        emit(
            output,
            {"deployment_file": str(out), **asdict(deployment)},
            fields_text([
                ("Deployment", str(out)),
                ("Chain id", str(deployment.chain_id)),
                ("Token", deployment.token + ("" if token_address else " (MockUSDFC, devnet faucet)")),
                ("RunnerRegistry", deployment.registry),
                ("SessionManager", deployment.session_manager),
                ("First block", str(deployment.deploy_block)),
                ("Owner", str(account.address)),
            ]),
        )

    run(body)


@app.command("check")
def check_command(
    deployment: DeploymentOption = None,
    rpc_url: RpcUrlOption = None,
    output: OutputOption = OutputFormat.TEXT,
) -> None:
    """Check a deployment file against the chain: chain id, code at every address, contracts wired together."""
    opts = ChainOptions(rpc_url=rpc_url, deployment=deployment)

    async def body() -> None:
        loaded, url = load_deployment_file(opts)
        async with JsonRpc(url) as rpc:
            try:
                await verify_deployment(rpc, loaded)
            except DeploymentError as exc:
                raise DeploymentProblem(f"{exc} (`parity-client chain deploy --rpc-url {url} --out FILE`)") from None
            block = await rpc.block_number()
        emit(
            output,
            {"ok": True, "rpc_url": url, "block": block, **asdict(loaded)},
            f"OK: chain {loaded.chain_id} at {url} (block {block}) holds this deployment\n"
            + fields_text([
                ("Token", loaded.token), ("RunnerRegistry", loaded.registry),
                ("SessionManager", loaded.session_manager),
            ]),
        )  # fmt: skip

    run(body)
