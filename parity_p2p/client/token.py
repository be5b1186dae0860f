"""`parity-client token balance | faucet`: the stake and reward token (MockUSDFC on devnets, USDFC elsewhere)."""

from __future__ import annotations

from typing import Annotated

import typer

from parity_p2p.client import validation
from parity_p2p.client.errors import InvalidInput, WrongState, format_tokens
from parity_p2p.client.funds import DEVNET_CHAIN_IDS
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
    load_account,
)
from parity_p2p.client.output import OutputFormat, emit, fields_text
from parity_p2p.client.runtime import run

app = typer.Typer(help="Token balance and the devnet faucet.", no_args_is_help=True)

AddressOption = Annotated[
    str | None, typer.Option("--address", help="Account to show [default: the signing account]", show_default=False)
]


@app.command("balance")
def balance_command(
    address: AddressOption = None,
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
    output: OutputOption = OutputFormat.TEXT,
) -> None:
    """Token and gas balance of an account."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        who = validation.address(address, "--address") if address else str(load_account(opts).address)
        async with chain_client(opts, signer=False) as chain:
            tokens = await chain.token.balance_of(who)
            gas = await chain.eth_balance(who)
            symbol = await chain.token.symbol()
        emit(
            output,
            {"address": who, "token": chain.deployment.token, "symbol": symbol, "balance": tokens, "eth_balance": gas},
            fields_text([
                ("Address", who),
                ("Balance", format_tokens(tokens).replace("USDFC", symbol)),
                ("Gas (ETH/FIL)", f"{gas / 10**18:.6f}"),
            ]),
        )  # fmt: skip

    run(body)


@app.command("faucet")
def faucet_command(
    amount: Annotated[str, typer.Option("--amount", help="Tokens to mint to the signing account")] = "1000",
    rpc_url: RpcUrlOption = None,
    deployment: DeploymentOption = None,
    key_env: KeyEnvOption = None,
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Mint MockUSDFC to the signing account (devnets only: chain id 31337 or 1337)."""
    opts = ChainOptions(rpc_url, deployment, keystore, key_env, password_file, data_dir)

    async def body() -> None:
        units = validation.token_amount(amount, "--amount")
        async with chain_client(opts, signer=True) as chain:
            chain_id = chain.deployment.chain_id
            if chain_id not in DEVNET_CHAIN_IDS:
                raise WrongState(
                    f"the faucet exists only on devnets (chain id 31337 or 1337); this is chain {chain_id}: obtain "
                    "the real token (e.g. USDFC) and transfer it to this account"
                )
            cap = await chain.token.faucet_max_per_call()
            if units > cap:
                raise InvalidInput("--amount", f"the faucet gives at most {format_tokens(cap)} per call")
            await chain.token.faucet(units)
            assert chain.address is not None
            balance = await chain.token.balance_of(chain.address)
        typer.echo(f"Minted {format_tokens(units)} to {chain.address}; balance {format_tokens(balance)}")

    run(body)
