"""`parity-client runner ...`: register a runner node on-chain, manage its stake, see its status, claim rewards."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from parity_p2p.chain import ChainClient, Runner
from parity_p2p.client import validation
from parity_p2p.client.errors import InvalidInput, WrongState, format_tokens
from parity_p2p.client.funds import ApproveOption, ensure_funds
from parity_p2p.client.options import (
    ChainOptions,
    DataDirOption,
    DeploymentOption,
    KeyEnvOption,
    KeystoreOption,
    OutputOption,
    PasswordFileOption,
    RpcUrlOption,
    chain_client,
    data_dir_address,
    load_account,
)
from parity_p2p.client.output import OutputFormat, emit, fields_text
from parity_p2p.client.runtime import run

app = typer.Typer(help="Runner registration, stake and rewards.", no_args_is_help=True)

MAX_PEER_ID_BYTES = 128  # RunnerRegistry._MAX_PEER_ID_BYTES

AmountOption = Annotated[str, typer.Option("--amount", help="Tokens (decimal, e.g. 50 or 0.5)")]


def _peer_id(peer_id: str | None, opts: ChainOptions) -> str:
    if peer_id:
        size = len(peer_id.encode("utf-8", "surrogatepass"))
        if size > MAX_PEER_ID_BYTES or not peer_id.isprintable() or " " in peer_id:
            raise InvalidInput("--peer-id", f"not a libp2p peer id (printable, no spaces, at most "
                               f"{MAX_PEER_ID_BYTES} bytes): {peer_id[:40]!r}")  # fmt: skip
        return peer_id
    if opts.data_dir is None:
        raise InvalidInput("--peer-id", "give the node's peer id, or --data-dir DIR to read it from the node's p2p.key")
    from parity_p2p.gossip.errors import KeyFileError  # libp2p takes ~2 s to import: only when needed
    from parity_p2p.gossip.peer_identity import peer_id_for_key_file

    key = opts.data_dir / "p2p.key"
    try:
        return peer_id_for_key_file(key)
    except (KeyFileError, OSError, ValueError) as exc:
        raise InvalidInput("--data-dir", f"cannot read the peer id from {key}: {exc}") from None


@app.command("register")
def register_command(
    stake: Annotated[str, typer.Option("--stake", help="Initial stake in tokens (at least the registry minimum)")],
    peer_id: Annotated[str | None, typer.Option("--peer-id", help="The node's libp2p peer id")] = None,
    approve: ApproveOption = False,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Register the signing account as a runner with its node's peer id, staking --stake tokens."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        units = validation.token_amount(stake, "--stake")
        peer = _peer_id(peer_id, opts)
        async with chain_client(opts, signer=True) as chain:
            assert chain.address is not None
            minimum = await chain.registry.min_stake()
            if units < minimum:
                raise InvalidInput("--stake", f"{format_tokens(units)} is below the registry minimum "
                                   f"{format_tokens(minimum)}")  # fmt: skip
            if await chain.registry.is_registered(chain.address):
                raise WrongState(f"{chain.address} is already registered; add stake with `parity-client runner stake`")
            await ensure_funds(chain, chain.deployment.registry, units, approve=approve, purpose="the stake")
            await chain.registry.register(peer, units)
        typer.echo(f"Registered {chain.address} with peer id {peer}, stake {format_tokens(units)}")

    run(body)


@app.command("set-peer-id")
def set_peer_id_command(
    peer_id: Annotated[str | None, typer.Option("--peer-id", help="The node's libp2p peer id")] = None,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Point the registration at another peer id (e.g. after re-creating the node's p2p.key)."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        peer = _peer_id(peer_id, opts)
        async with chain_client(opts, signer=True) as chain:
            await _require_registered(chain)
            await chain.registry.set_peer_id(peer)
        typer.echo(f"Peer id of {chain.address} is now {peer}")

    run(body)


@app.command("stake")
def stake_command(
    amount: AmountOption,
    approve: ApproveOption = False,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add --amount tokens to the runner's stake."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        units = validation.token_amount(amount, "--amount")
        async with chain_client(opts, signer=True) as chain:
            await _require_registered(chain)
            await ensure_funds(chain, chain.deployment.registry, units, approve=approve, purpose="the stake")
            await chain.registry.add_stake(units)
            assert chain.address is not None
            total = await chain.registry.stake_of(chain.address)
        typer.echo(f"Staked {format_tokens(units)}; stake now {format_tokens(total)}")

    run(body)


@app.command("unstake")
def unstake_command(
    amount: AmountOption,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Request to take --amount tokens out of the stake (withdrawable after the cooldown; slashable until then)."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        units = validation.token_amount(amount, "--amount")
        async with chain_client(opts, signer=True) as chain:
            runner = await _require_registered(chain)
            if units > runner.stake:
                raise InvalidInput("--amount", f"{format_tokens(units)} is more than the stake "
                                   f"{format_tokens(runner.stake)}")  # fmt: skip
            await chain.registry.request_unstake(units)
            assert chain.address is not None
            after = await chain.registry.runner_of(chain.address)
        typer.echo(
            f"Unstake of {format_tokens(units)} requested; pending {format_tokens(after.pending_unstake)}, "
            f"withdrawable from {_when(after.unlock_at)} with `parity-client runner withdraw`"
        )

    run(body)


@app.command("withdraw")
def withdraw_command(
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Withdraw the unstaked tokens once the cooldown is over."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        async with chain_client(opts, signer=True) as chain:
            runner = await _require_registered(chain)
            if runner.pending_unstake == 0:
                raise WrongState("nothing to withdraw: request an unstake first (`parity-client runner unstake`)")
            now = await chain.latest_timestamp()
            if now < runner.unlock_at:
                raise WrongState(f"the unstake cooldown runs until {_when(runner.unlock_at)} "
                                 f"({runner.unlock_at - now} s from the chain's now)")  # fmt: skip
            await chain.registry.withdraw()
        typer.echo(f"Withdrew {format_tokens(runner.pending_unstake)}")

    run(body)


@app.command("status")
def status_command(
    address: Annotated[str | None, typer.Option("--address", help="Runner to show [default: the signing account]")]
    = None,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
    output: OutputOption = OutputFormat.TEXT,
) -> None:
    """A runner's registration, stake, pending unstake, reputation and unclaimed rewards."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        if address:
            who = validation.address(address, "--address")
        elif data_dir is not None and not (keystore or key_env):
            who = data_dir_address(data_dir)  # no password needed to read the address
        else:
            who = str(load_account(opts).address)
        async with chain_client(opts, signer=False) as chain:
            runner = await chain.registry.runner_of(who)
            reputation = await chain.sessions.reputation(who)
            owed = await chain.sessions.owed(who)
        data = {"address": who, **runner.__dict__, "reputation": reputation, "owed": owed}
        emit(
            output,
            data,
            fields_text([
                ("Runner", who),
                ("Registered", "yes" if runner.registered else "no"),
                ("Peer id", runner.peer_id or "-"),
                ("Stake", format_tokens(runner.stake)),
                ("Pending unstake", format_tokens(runner.pending_unstake)
                 + (f" (withdrawable from {_when(runner.unlock_at)})" if runner.pending_unstake else "")),
                ("Rounds done", str(reputation.rounds_done)),
                ("Leaderships", f"{reputation.leaderships_done} done, {reputation.leaderships_missed} missed"),
                ("Slashes", str(reputation.slashes)),
                ("Unclaimed rewards", format_tokens(owed)),
            ]),
        )  # fmt: skip

    run(body)


@app.command("claim")
def claim_command(
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Claim every reward owed to the signing account (completed sessions)."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        async with chain_client(opts, signer=True) as chain:
            assert chain.address is not None
            owed = await chain.sessions.owed(chain.address)
            if owed == 0:
                raise WrongState(f"nothing to claim for {chain.address}: rewards are owed once a session completes")
            await chain.sessions.claim()
        typer.echo(f"Claimed {format_tokens(owed)} to {chain.address}")

    run(body)


async def _require_registered(chain: ChainClient) -> Runner:
    assert chain.address is not None
    runner = await chain.registry.runner_of(chain.address)
    if not runner.registered:
        raise WrongState(f"{chain.address} is not a registered runner: `parity-client runner register --stake N` first")
    return runner


def _when(unix: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(unix))
