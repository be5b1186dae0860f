"""The session runner as the daemon's NodeService: `parity-node start` runs sessions through this.

It builds the runner's NodeContext from what the daemon started, runs the SessionService, and answers the control
API's session routes (the chain's view, plus what this node measured) and manual update submissions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

import trio
from eth_utils.address import to_checksum_address

from parity_p2p.chain import ChainClient
from parity_p2p.gossip.topics import KindSpec
from parity_p2p.learning.trainer import warm_up_training
from parity_p2p.node.chain_sessions import ChainSessions
from parity_p2p.node.context import NodeContext
from parity_p2p.node.errors import UpdateRefused
from parity_p2p.node.messages import SESSION_KINDS
from parity_p2p.node.services import NodeRuntime, RoundInfo, ServiceHandles, SessionInfo, SubmittedUpdate
from parity_p2p.node.session_runner import SessionRunner
from parity_p2p.node.session_service import JoinPolicy, SessionService

if TYPE_CHECKING:
    from trio_typing import TaskStatus


class SessionNodeService:
    """Plugged in by `daemon.default_session_service()`."""

    def __init__(self) -> None:
        self.service: SessionService | None = None

    def gossip_kinds(self) -> Sequence[KindSpec]:
        return SESSION_KINDS

    async def serve(self, node: NodeRuntime, *, task_status: TaskStatus[ServiceHandles]) -> None:
        policy = node.config.policy
        def emit(kind: str, data: dict[str, Any]) -> None:
            node.events.publish(kind, data)

        ctx = NodeContext(
            account=node.account,
            chain=node.chain,
            network=node.network,
            store=node.content,
            fetcher=node.fetcher,
            emit=emit,
            auto_claim=policy.auto_claim,
            membership=node.membership,
            local_datasets=node.config.datasets,
            max_recompute_bytes=policy.max_recompute_bytes,
            torch_threads=policy.torch_threads,
        )
        join = JoinPolicy(
            auto_join=policy.auto_join,
            max_concurrent_sessions=policy.max_concurrent_sessions,
            accepted_model_types=policy.accepted_model_types,
            min_reward_per_round=policy.min_reward_per_round,
        )
        async with trio.open_nursery() as nursery:
            # Off any round's critical path: the first optimizer otherwise imports torch._dynamo inside round 1.
            nursery.start_soon(trio.to_thread.run_sync, warm_up_training)
            self.service = await nursery.start(SessionService(ctx, join).serve)
            view = SessionApi(self.service, ChainSessions(node.chain, node.account.address), node.chain)
            task_status.started(ServiceHandles(sessions=view, updates=view, metrics=view.metrics))


class _LiveMetrics(Mapping[str, Any]):
    """Per-session round figures, computed when the API reads them."""

    def __init__(self, service: SessionService) -> None:
        self._service = service

    def _snapshot(self) -> dict[str, Any]:
        runners = {**self._service.finished, **self._service.runners}
        return {
            "sessions": {
                str(sid): {
                    "status": r.status,
                    "round": r.current_round,
                    "participants": [to_checksum_address(p) for p in r.participants],
                    "rounds": [asdict(s) for s in r.history],
                }
                for sid, r in runners.items()
            },
            "declined": {str(sid): reason for sid, reason in self._service.declined.items()},
            # Not joined yet because content could not be fetched; asked again while the session is open.
            "deferred": {str(sid): reason for sid, reason in self._service.deferred.items()},
        }

    def __getitem__(self, key: str) -> Any:
        return self._snapshot()[key]

    def __iter__(self) -> Any:
        return iter(self._snapshot())

    def __len__(self) -> int:
        return len(self._snapshot())


class SessionApi:
    """SessionProvider and UpdateSubmitter over the running SessionService."""

    def __init__(self, service: SessionService, chain_view: ChainSessions, chain: ChainClient) -> None:
        self._service = service
        self._chain = chain_view
        self._client = chain
        self.metrics = _LiveMetrics(service)

    def _runner(self, session_id: int) -> SessionRunner | None:
        return self._service.runners.get(session_id) or self._service.finished.get(session_id)

    def _local(self, session_id: int) -> dict[str, Any]:
        runner = self._runner(session_id)
        if runner is None:
            declined = self._service.declined.get(session_id)
            if declined:
                return {"phase": "declined", "reason": declined}
            deferred = self._service.deferred.get(session_id)
            return {"phase": "deferred", "reason": deferred} if deferred else {}
        shard = runner.work.shard_sizes.get(runner.me) if runner.work else None
        return {"phase": runner.status, "round": runner.current_round, "shard_size": shard}

    async def list_sessions(self) -> Sequence[SessionInfo]:
        return [replace(s, local=self._local(s.session_id)) for s in await self._chain.list_sessions()]

    async def session(self, session_id: int) -> SessionInfo | None:
        info = await self._chain.session(session_id)
        if info is None:
            return None
        return replace(info, local={**self._local(session_id), **await self._participants(session_id, info)})

    async def _participants(self, session_id: int, info: SessionInfo) -> dict[str, Any]:
        """Each participant's contribution points (on-chain) and, once completed, its reward by the contract's
        formula (pool x points / total points)."""
        sessions = self._client.sessions
        me = self._client.address or ""
        view = await sessions.get_session(session_id)
        rows, rewards = [], {}
        for address in await sessions.participants(session_id):
            points = await sessions.points_of(session_id, address)
            state = "this node" if address == me else "participant"
            if info.status == "completed":
                state = "paid"
                if view.total_points:
                    rewards[address] = view.params.reward_pool * points // view.total_points
            rows.append({"address": address, "contribution": points, "state": state})
        return {"participants": rows, "rewards": rewards}

    async def rounds(self, session_id: int) -> Sequence[RoundInfo] | None:
        rounds = await self._chain.rounds(session_id)
        runner = self._runner(session_id)
        if rounds is None or runner is None:
            return rounds
        stats = {s.round: asdict(s) for s in runner.history}
        return [replace(r, local=stats.get(r.round, {})) for r in rounds]

    async def submit_update(self, session_id: int, round_number: int, data: bytes) -> SubmittedUpdate:
        runner = self._service.runners.get(session_id)
        if runner is None:
            raise UpdateRefused(f"this node is not running session {session_id}", 404)
        cid = await runner.submit_own_update(round_number, data)
        return SubmittedUpdate(cid, session_id, round_number, "validated, stored and sent to the round leader")
