"""ChainClient: one connection, one optional signing account, typed clients for the three contracts."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from parity_p2p.chain.abi import REGISTRY, SESSION_MANAGER, TOKEN, load_contract
from parity_p2p.chain.contracts import RegistryClient, SessionManagerClient, TokenClient
from parity_p2p.chain.deployment import Deployment, verify_deployment
from parity_p2p.chain.errors import DeploymentError
from parity_p2p.chain.events import ChainEvent, EventDecoder
from parity_p2p.chain.rpc import DEFAULT_TIMEOUT, JsonRpc, hex_to_int
from parity_p2p.chain.sender import TransactionSender, TxPolicy


def event_decoder(deployment: Deployment) -> EventDecoder:
    """A decoder for every event of the deployment's three contracts."""
    return EventDecoder({address: load_contract(name) for name, address in deployment.addresses.items()})


class ChainClient:
    """Use `await ChainClient.connect(...)` (checks the deployment) and `aclose()` (or `async with`)."""

    def __init__(
        self, rpc: JsonRpc, deployment: Deployment, account: LocalAccount | None, policy: TxPolicy
    ) -> None:
        self.rpc = rpc
        self.deployment = deployment
        self.decoder = event_decoder(deployment)
        self.sender = (
            TransactionSender(rpc, account, deployment.chain_id, self.decoder, policy) if account else None
        )
        self.token = TokenClient(rpc, load_contract(TOKEN), deployment.token, self.sender)
        self.registry = RegistryClient(rpc, load_contract(REGISTRY), deployment.registry, self.sender)
        self.sessions = SessionManagerClient(
            rpc, load_contract(SESSION_MANAGER), deployment.session_manager, self.sender
        )

    @classmethod
    async def connect(
        cls,
        deployment: Deployment,
        *,
        rpc_url: str | None = None,
        account: LocalAccount | None = None,
        policy: TxPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ChainClient:
        """Connect to `rpc_url` (default: the deployment's) and refuse a deployment that does not match it."""
        url = rpc_url or deployment.rpc_url
        if not url:
            raise DeploymentError("no RPC URL: pass rpc_url or save one in the deployment")
        rpc = JsonRpc(url, timeout=timeout)
        try:
            await verify_deployment(rpc, deployment)
        except BaseException:
            await rpc.aclose()
            raise
        return cls(rpc, deployment, account, policy or TxPolicy())

    @property
    def address(self) -> str | None:
        """The signing account's address, or None for a read-only client."""
        return self.sender.address if self.sender else None

    async def latest_timestamp(self) -> int:
        """Timestamp of the latest block (the chain's idea of `now`, for election steps and deadlines)."""
        block = await self.rpc.get_block("latest")
        if block is None:
            raise DeploymentError("the node has no latest block")
        return hex_to_int(block["timestamp"])

    async def past_events(
        self, from_block: int | None = None, to_block: int | None = None, *, max_block_range: int = 1000
    ) -> list[ChainEvent]:
        """Every decoded event of the deployment between two blocks (default: deploy block to head), in order.
        One-shot; use EventWatcher to follow the chain."""
        start = self.deployment.deploy_block if from_block is None else from_block
        end = await self.rpc.block_number() if to_block is None else to_block
        events: list[ChainEvent] = []
        for low in range(start, end + 1, max_block_range):
            high = min(end, low + max_block_range - 1)
            logs = await self.rpc.request(
                "eth_getLogs", [{"fromBlock": hex(low), "toBlock": hex(high), "address": self.decoder.addresses}]
            )
            events.extend(e for e in (self.decoder.decode(entry) for entry in logs) if e is not None)
        return sorted(events, key=lambda e: e.meta.position)

    async def latest_block(self) -> tuple[int, int]:
        """(number, timestamp) of the latest block."""
        block = await self.rpc.get_block("latest")
        if block is None:
            raise DeploymentError("the node has no latest block")
        return hex_to_int(block["number"]), hex_to_int(block["timestamp"])

    async def block_number(self) -> int:
        return await self.rpc.block_number()

    async def eth_balance(self, account: str) -> int:
        return hex_to_int(await self.rpc.request("eth_getBalance", [to_checksum_address(account), "latest"]))

    async def aclose(self) -> None:
        await self.rpc.aclose()

    async def __aenter__(self) -> ChainClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
