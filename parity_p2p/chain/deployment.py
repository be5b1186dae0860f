"""Deployments: where the three contracts live on which chain, saved as JSON, checked before use."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

from parity_p2p.chain.abi import REGISTRY, SESSION_MANAGER, TOKEN, load_contract
from parity_p2p.chain.errors import (
    ChainError,
    ChainIdMismatchError,
    DeploymentError,
    MissingCodeError,
    WiringMismatchError,
)
from parity_p2p.chain.events import EventDecoder
from parity_p2p.chain.rpc import JsonRpc
from parity_p2p.chain.sender import TransactionSender, TxPolicy

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    token: str
    registry: str
    session_manager: str
    deploy_block: int  # first block to scan for events
    rpc_url: str | None = None

    def __post_init__(self) -> None:
        for label in ("token", "registry", "session_manager"):
            value = getattr(self, label)
            if not isinstance(value, str) or not is_address(value):
                raise DeploymentError(f"deployment {label} is not an address: {value!r}")
            object.__setattr__(self, label, to_checksum_address(value))
        if self.chain_id <= 0 or self.deploy_block < 0:
            raise DeploymentError(f"bad chain id {self.chain_id} or deploy block {self.deploy_block}")

    @property
    def addresses(self) -> dict[str, str]:
        """Contract name -> address."""
        return {TOKEN: self.token, REGISTRY: self.registry, SESSION_MANAGER: self.session_manager}

    def to_json(self) -> str:
        return json.dumps({"version": FORMAT_VERSION, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        try:
            data: dict[str, Any] = json.loads(text)
            version = data.pop("version", None)
            if version != FORMAT_VERSION:
                raise DeploymentError(f"deployment format version {version!r}, expected {FORMAT_VERSION}")
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise DeploymentError(f"malformed deployment JSON: {exc}") from None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)  # atomic: a crash never leaves half a file

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DeploymentError(f"cannot read deployment file {path}: {exc.strerror}") from None
        return cls.from_json(text)


async def _view_address(rpc: JsonRpc, contract: str, address: str, fn: str) -> str | None:
    abi = load_contract(contract)
    try:
        call = {"to": address, "data": "0x" + abi.encode_call(fn, []).hex()}
        result = await rpc.request("eth_call", [call, "latest"])
        value = abi.decode_result(fn, bytes.fromhex(str(result).removeprefix("0x")))[0]
    except (ChainError, ValueError):
        return None  # not this contract at all
    return str(value)


async def verify_deployment(rpc: JsonRpc, deployment: Deployment) -> None:
    """Refuse a deployment whose chain id differs, whose addresses hold no code (a reset devnet), or whose
    contracts do not point at each other (a devnet redeployed in another order reuses the same addresses)."""
    actual = await rpc.chain_id()
    if actual != deployment.chain_id:
        raise ChainIdMismatchError(deployment.chain_id, actual)
    for name, address in deployment.addresses.items():
        if not await rpc.get_code(address):
            raise MissingCodeError(name, address)
    links = [
        (SESSION_MANAGER, deployment.session_manager, "registry", deployment.registry),
        (SESSION_MANAGER, deployment.session_manager, "token", deployment.token),
        (REGISTRY, deployment.registry, "sessionManager", deployment.session_manager),
        (REGISTRY, deployment.registry, "token", deployment.token),
    ]
    for contract, address, fn, expected in links:
        found = await _view_address(rpc, contract, address, fn)
        if found != expected:
            raise WiringMismatchError(contract, fn, expected, found)


async def load_deployment(path: Path, *, rpc_url: str | None = None) -> Deployment:
    """Read a deployment file and check it against the node at `rpc_url` (default: the file's own URL)."""
    deployment = Deployment.load(path)
    url = rpc_url or deployment.rpc_url
    if not url:
        raise DeploymentError(f"{path} names no RPC URL: pass one")
    async with JsonRpc(url) as rpc:
        await verify_deployment(rpc, deployment)
    return deployment


async def deploy(
    rpc: JsonRpc,
    account: LocalAccount,
    *,
    min_stake: int,
    unstake_cooldown: int,
    token: str | None = None,
    policy: TxPolicy | None = None,
) -> Deployment:
    """Deploy RunnerRegistry and SessionManager (and MockUSDFC unless `token` is an existing ERC-20) from
    `account`, which owns the registry, and wire the registry to the manager."""
    chain_id = await rpc.chain_id()
    sender = TransactionSender(rpc, account, chain_id, EventDecoder({}), policy or TxPolicy())
    owner = to_checksum_address(account.address)
    first_block: int | None = None

    async def create(name: str, args: list[Any]) -> str:
        nonlocal first_block
        receipt = await sender.send(None, load_contract(name).encode_deploy(args))
        if receipt.contract_address is None:
            raise DeploymentError(f"{name} deployment {receipt.tx_hash} created no contract")
        first_block = receipt.block_number if first_block is None else first_block
        return receipt.contract_address

    token_address = to_checksum_address(token) if token else await create(TOKEN, [])
    registry = await create(REGISTRY, [token_address, min_stake, unstake_cooldown, owner])
    manager = await create(SESSION_MANAGER, [token_address, registry])
    await sender.send(registry, load_contract(REGISTRY).encode_call("setSessionManager", [manager]))
    if first_block is None:  # only when every contract pre-existed, which create() above rules out
        raise DeploymentError("nothing was deployed")
    return Deployment(chain_id, token_address, registry, manager, first_block, rpc.url)
