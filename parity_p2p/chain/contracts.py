"""Typed clients for the three contracts: plain Python in, plain Python (dataclasses) out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils.address import to_checksum_address

from parity_p2p.chain.abi import ContractAbi
from parity_p2p.chain.errors import ChainError, NoSignerError, RpcError
from parity_p2p.chain.events import SessionCreated
from parity_p2p.chain.rpc import JsonRpc, hex_to_bytes, hex_to_int
from parity_p2p.chain.sender import TransactionSender, TxReceipt, revert_from_rpc_error
from parity_p2p.chain.types import (
    Contribution,
    Eip712Domain,
    EligibleLeader,
    Proposal,
    Reputation,
    RoundProgress,
    RoundRecord,
    RoundResult,
    Runner,
    SessionParams,
    SessionView,
)


class ContractClient:
    """Calls and transactions against one deployed contract."""

    def __init__(self, rpc: JsonRpc, abi: ContractAbi, address: str, sender: TransactionSender | None) -> None:
        self.rpc = rpc
        self.abi = abi
        self.address = to_checksum_address(address)
        self.sender = sender

    async def call(self, fn: str, *args: Any, block: str = "latest") -> tuple[Any, ...]:
        """eth_call `fn`; reverts raise ContractRevert."""
        try:
            result = await self.rpc.request(*self.call_request(fn, *args, block=block))
        except RpcError as exc:
            revert = revert_from_rpc_error(exc)
            if revert is not None:
                raise revert from None
            raise
        return self.abi.decode_result(fn, hex_to_bytes(result))

    def call_request(self, fn: str, *args: Any, block: str = "latest") -> tuple[str, list[Any]]:
        """The eth_call of `fn` as (method, params), for JsonRpc.batch; decode its result with `abi.decode_result`."""
        request: dict[str, Any] = {"to": self.address, "data": "0x" + self.abi.encode_call(fn, args).hex()}
        if self.sender is not None:
            request["from"] = self.sender.address
        return "eth_call", [request, block]

    async def call_one(self, fn: str, *args: Any) -> Any:
        return (await self.call(fn, *args))[0]

    async def transact(self, fn: str, *args: Any, gas: int | None = None) -> TxReceipt:
        if self.sender is None:
            raise NoSignerError()
        return await self.sender.send(self.address, self.abi.encode_call(fn, args), gas=gas)


class TokenClient(ContractClient):
    """The ERC-20 reward/stake token (MockUSDFC on devnets; any ERC-20 elsewhere, minus `faucet`)."""

    async def balance_of(self, account: str) -> int:
        return int(await self.call_one("balanceOf", account))

    async def allowance(self, owner: str, spender: str) -> int:
        return int(await self.call_one("allowance", owner, spender))

    async def total_supply(self) -> int:
        return int(await self.call_one("totalSupply"))

    async def decimals(self) -> int:
        return int(await self.call_one("decimals"))

    async def symbol(self) -> str:
        return str(await self.call_one("symbol"))

    async def name(self) -> str:
        return str(await self.call_one("name"))

    async def faucet_max_per_call(self) -> int:
        return int(await self.call_one("FAUCET_MAX_PER_CALL"))

    async def approve(self, spender: str, amount: int) -> TxReceipt:
        return await self.transact("approve", spender, amount)

    async def transfer(self, to: str, amount: int) -> TxReceipt:
        return await self.transact("transfer", to, amount)

    async def transfer_from(self, owner: str, to: str, amount: int) -> TxReceipt:
        return await self.transact("transferFrom", owner, to, amount)

    async def faucet(self, amount: int) -> TxReceipt:
        return await self.transact("faucet", amount)


class RegistryClient(ContractClient):
    """RunnerRegistry: runners, peer ids, stakes."""

    async def runner_of(self, account: str) -> Runner:
        return Runner(*await self.call_one("runnerOf", account))

    async def is_registered(self, account: str) -> bool:
        return bool(await self.call_one("isRegistered", account))

    async def stake_of(self, account: str) -> int:
        return int(await self.call_one("stakeOf", account))

    async def min_stake(self) -> int:
        return int(await self.call_one("minStake"))

    async def unstake_cooldown(self) -> int:
        return int(await self.call_one("unstakeCooldown"))

    async def token(self) -> str:
        return str(await self.call_one("token"))

    async def session_manager(self) -> str:
        return str(await self.call_one("sessionManager"))

    async def owner(self) -> str:
        return str(await self.call_one("owner"))

    async def runner_count(self) -> int:
        return int(await self.call_one("runnerCount"))

    async def runner_at(self, index: int) -> str:
        return str(await self.call_one("runnerAt", index))

    async def runners(self) -> list[str]:
        """Every registered runner in registration order."""
        return [await self.runner_at(i) for i in range(await self.runner_count())]

    async def set_session_manager(self, manager: str) -> TxReceipt:
        return await self.transact("setSessionManager", manager)

    async def register(self, peer_id: str, amount: int) -> TxReceipt:
        return await self.transact("register", peer_id, amount)

    async def set_peer_id(self, peer_id: str) -> TxReceipt:
        return await self.transact("setPeerId", peer_id)

    async def add_stake(self, amount: int) -> TxReceipt:
        return await self.transact("addStake", amount)

    async def request_unstake(self, amount: int) -> TxReceipt:
        return await self.transact("requestUnstake", amount)

    async def withdraw(self) -> TxReceipt:
        return await self.transact("withdraw")

    async def transfer_ownership(self, new_owner: str) -> TxReceipt:
        return await self.transact("transferOwnership", new_owner)

    async def renounce_ownership(self) -> TxReceipt:
        return await self.transact("renounceOwnership")

    async def slash(self, runner: str, bps: int) -> TxReceipt:
        """Only the session manager may slash; exposed for completeness (it reverts NotSessionManager here)."""
        return await self.transact("slash", runner, bps)


class SessionManagerClient(ContractClient):
    """SessionManager: sessions, rounds, rewards, equivocation slashing."""

    # --- constants -----------------------------------------------------------------------------------------
    async def max_participants(self) -> int:
        return int(await self.call_one("MAX_PARTICIPANTS"))

    async def max_rounds(self) -> int:
        return int(await self.call_one("MAX_ROUNDS"))

    async def slash_bps(self) -> int:
        return int(await self.call_one("SLASH_BPS"))

    async def reporter_bps(self) -> int:
        return int(await self.call_one("REPORTER_BPS"))

    async def min_round_timeout(self) -> int:
        return int(await self.call_one("MIN_ROUND_TIMEOUT"))

    async def token(self) -> str:
        return str(await self.call_one("token"))

    async def registry(self) -> str:
        return str(await self.call_one("registry"))

    async def eip712_domain(self) -> Eip712Domain:
        """The manager's EIP-712 domain (ERC-5267): compare with the SigningDomain you sign with."""
        _fields, name, version, chain_id, verifying_contract, _salt, _extensions = await self.call("eip712Domain")
        return Eip712Domain(name, version, chain_id, verifying_contract)

    # --- views ---------------------------------------------------------------------------------------------
    async def get_session(self, session_id: int) -> SessionView:
        return SessionView.from_abi(session_id, await self.call_one("getSession", session_id))

    async def participants(self, session_id: int) -> list[str]:
        return list(await self.call_one("participants", session_id))

    async def get_round(self, session_id: int, round_number: int) -> RoundRecord:
        return RoundRecord(*await self.call_one("getRound", session_id, round_number))

    async def round_progress(self, session_id: int, round_number: int) -> RoundProgress:
        """The latest block, the session and one round's record, read in one batch (one HTTP exchange): what a
        runner reads when told its round closed. A block may land between the reads; the round record is read
        last, so a session that shows the round closed comes with the round's final record."""
        block, session, record = await self.rpc.batch([
            ("eth_getBlockByNumber", ["latest", False]),
            self.call_request("getSession", session_id),
            self.call_request("getRound", session_id, round_number),
        ])  # fmt: skip
        if block is None:
            raise ChainError("the node has no latest block")
        return RoundProgress(
            hex_to_int(block["number"]),
            hex_to_int(block["timestamp"]),
            SessionView.from_abi(session_id, self.abi.decode_result("getSession", hex_to_bytes(session))[0]),
            RoundRecord(*self.abi.decode_result("getRound", hex_to_bytes(record))[0]),
        )

    async def points_of(self, session_id: int, runner: str) -> int:
        return int(await self.call_one("pointsOf", session_id, runner))

    async def owed(self, account: str) -> int:
        return int(await self.call_one("owed", account))

    async def reputation(self, runner: str) -> Reputation:
        return Reputation(*await self.call_one("reputation", runner))

    async def session_count(self) -> int:
        return int(await self.call_one("sessionCount"))

    async def quorum(self, session_id: int) -> int:
        return int(await self.call_one("quorum", session_id))

    async def leader_at(self, session_id: int, round_number: int, step: int) -> str:
        return str(await self.call_one("leaderAt", session_id, round_number, step))

    async def eligible_leader(self, session_id: int) -> EligibleLeader:
        leader, step = await self.call("eligibleLeader", session_id)
        return EligibleLeader(leader, int(step))

    async def is_participant(self, session_id: int, account: str) -> bool:
        return bool(await self.call_one("isParticipant", session_id, account))

    async def attestation_digest(
        self, session_id: int, round_number: int, model_cid: str, updates_root: bytes
    ) -> bytes:
        return bytes(await self.call_one("attestationDigest", session_id, round_number, model_cid, updates_root))

    async def proposal_digest(self, session_id: int, round_number: int, model_cid: str, updates_root: bytes) -> bytes:
        return bytes(await self.call_one("proposalDigest", session_id, round_number, model_cid, updates_root))

    async def updates_root(self, contributions: Sequence[Contribution]) -> bytes:
        return bytes(await self.call_one("updatesRoot", [c.to_abi() for c in contributions]))

    # --- actions -------------------------------------------------------------------------------------------
    async def create_session(self, params: SessionParams) -> int:
        """Creates an Open session (needs a token allowance of `params.reward_pool`); returns its id."""
        receipt = await self.transact("createSession", params.to_abi())
        created = receipt.events_of(SessionCreated)
        if len(created) != 1:
            raise ChainError(f"receipt {receipt.tx_hash} has {len(created)} SessionCreated events")
        return int(created[0].session_id)

    async def join_session(self, session_id: int) -> TxReceipt:
        return await self.transact("joinSession", session_id)

    async def start_session(self, session_id: int) -> TxReceipt:
        return await self.transact("startSession", session_id)

    async def cancel_session(self, session_id: int) -> TxReceipt:
        return await self.transact("cancelSession", session_id)

    async def submit_round(self, session_id: int, result: RoundResult, attestations: Sequence[bytes]) -> TxReceipt:
        return await self.transact("submitRound", session_id, result.to_abi(), list(attestations))

    async def abandon_session(self, session_id: int) -> TxReceipt:
        return await self.transact("abandonSession", session_id)

    async def report_equivocation(
        self, session_id: int, round_number: int, a: Proposal, sig_a: bytes, b: Proposal, sig_b: bytes
    ) -> TxReceipt:
        return await self.transact(
            "reportEquivocation", session_id, round_number, a.to_abi(), sig_a, b.to_abi(), sig_b
        )

    async def claim(self) -> TxReceipt:
        return await self.transact("claim")
