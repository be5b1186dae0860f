"""Token balance and allowance checks before a transaction that pulls tokens (stake, reward pool)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from parity_p2p.chain import ChainClient
from parity_p2p.client.errors import InsufficientFunds, format_tokens

DEVNET_CHAIN_IDS = (31337, 1337)

ApproveOption = Annotated[
    bool,
    typer.Option("--approve", help="Approve the token allowance this needs without asking"),
]


async def check_funds(chain: ChainClient, spender: str, amount: int, *, approve: bool, purpose: str) -> bool:
    """Refuse when the balance is short, or the allowance is short and approving is neither allowed by --approve
    nor confirmed at the prompt. Returns whether an approval must be sent (nothing is sent here)."""
    owner = chain.address
    assert owner is not None, "a signing client is required"
    balance = await chain.token.balance_of(owner)
    if balance < amount:
        fix = (
            "get tokens with `parity-client token faucet --amount N`"
            if chain.deployment.chain_id in DEVNET_CHAIN_IDS
            else "transfer tokens to this account first"
        )
        raise InsufficientFunds(f"token balance of {owner} for {purpose}", balance, amount, fix)
    allowance = await chain.token.allowance(owner, spender)
    if allowance >= amount:
        return False
    if not approve:
        question = f"Approve {spender} to take {format_tokens(amount)} for {purpose}?"
        if not (sys.stdin.isatty() and typer.confirm(question, default=False)):
            raise InsufficientFunds(
                f"token allowance of {owner} to {spender} for {purpose}", allowance, amount,
                "pass --approve to approve it in this command",
            )  # fmt: skip
    return True


async def ensure_funds(chain: ChainClient, spender: str, amount: int, *, approve: bool, purpose: str) -> None:
    """check_funds, then send the approval when one is needed."""
    if await check_funds(chain, spender, amount, approve=approve, purpose=purpose):
        await chain.token.approve(spender, amount)
