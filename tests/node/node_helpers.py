"""Real runner nodes for tests, in one trio loop: libp2p hosts on 127.0.0.1, content stores on disk, the session
service, all against the session's anvil. Each node can be stopped on its own (a crash, as the network sees it)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from eth_account.signers.local import LocalAccount
from fixtures.devchain import DevChain, fund

from parity_p2p.chain import ChainClient, SessionParams, SessionStatus
from parity_p2p.consensus.timing import TimingPolicy
from parity_p2p.gossip.discovery import DiscoverySettings
from parity_p2p.gossip.envelope import SigningDomain
from parity_p2p.gossip.host import HostConfig
from parity_p2p.gossip.network import Network, NetworkConfig
from parity_p2p.gossip.network import serve as serve_network
from parity_p2p.gossip.peer_identity import peer_id_for_key_file
from parity_p2p.gossip.topics import KindRegistry
from parity_p2p.learning.partition import SplitSpec
from parity_p2p.node.chain_membership import ChainMembership
from parity_p2p.node.context import NodeContext
from parity_p2p.node.messages import register_session_kinds
from parity_p2p.node.peer_fetcher import PeerFetcher
from parity_p2p.node.session_service import SessionService
from parity_p2p.session_spec import SessionSpec, TrainingSpec
from parity_p2p.storage.content import ContentStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNIT = 10**18
STAKE = 100 * UNIT


@dataclass
class RunningNode:
    account: LocalAccount
    chain: ChainClient
    network: Network
    store: ContentStore
    service: SessionService
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def stop(self) -> None:
        self.scope.cancel()


async def _run_node(
    chain_env: DevChain, account: LocalAccount, home: Path, bootstrap: tuple[str, ...], timing: TimingPolicy,
    local_datasets: dict[str, Path], max_recompute_bytes: int, *, task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:  # fmt: skip
    chain = await chain_env.client(account)
    events: list[tuple[str, dict[str, Any]]] = []
    with trio.CancelScope() as scope:
        try:
            config = NetworkConfig(
                host=HostConfig(key_path=home / "libp2p.key", bootstrap=bootstrap),
                domain=SigningDomain(chain.deployment.chain_id, chain.deployment.session_manager),
                discovery=DiscoverySettings(announce_interval_s=1.0, bootstrap_retry_s=1.0),
            )
            kinds = register_session_kinds(KindRegistry())
            async with trio.open_nursery() as nursery:
                membership = ChainMembership(chain, 2.0)
                network: Network = await nursery.start(serve_network, config, account, membership.membership(), kinds)
                fetcher = PeerFetcher(network.host, per_peer_timeout_s=5.0)
                store = ContentStore.open(home / "content", fetcher=fetcher.fetch)
                ctx = NodeContext(
                    account, chain, network, store, fetcher,
                    emit=lambda k, d: events.append((k, {**d, "t": time.time()})),
                    timing=timing, poll_interval_s=0.25, membership=membership, local_datasets=local_datasets,
                    max_recompute_bytes=max_recompute_bytes,
                )  # fmt: skip
                service: SessionService = await nursery.start(SessionService(ctx).serve)
                task_status.started(RunningNode(account, chain, network, store, service, events, scope))
        finally:
            with trio.CancelScope(shield=True):
                await chain.aclose()


@asynccontextmanager
async def running_nodes(
    chain_env: DevChain,
    tmp_path: Path,
    accounts: list[LocalAccount],
    timing: TimingPolicy | None = None,
    local_datasets: list[dict[str, Path]] | None = None,
    max_recompute_bytes: int = 256 * 1024 * 1024,
) -> AsyncIterator[list[RunningNode]]:
    """Register each account on-chain with its node's peer id, then start the nodes (bootstrapping from the first)."""
    timing = timing or TimingPolicy(floor=5.0)
    for index, account in enumerate(accounts):
        home = tmp_path / f"node{index}"
        peer_id = peer_id_for_key_file(home / "libp2p.key")
        async with await chain_env.client(account) as client:
            await fund(client, STAKE)
            await client.token.approve(client.deployment.registry, STAKE)
            await client.registry.register(peer_id, STAKE)
    nodes: list[RunningNode] = []
    async with trio.open_nursery() as nursery:
        for index, account in enumerate(accounts):
            bootstrap = tuple(nodes[0].network.host.listen_addrs()) if nodes else ()
            home = tmp_path / f"node{index}"
            local = local_datasets[index] if local_datasets else {}
            nodes.append(
                await nursery.start(_run_node, chain_env, account, home, bootstrap, timing, local, max_recompute_bytes)
            )
        yield nodes
        nursery.cancel_scope.cancel()


async def create_iris_session(
    owner: ChainClient, node: RunningNode, spec: SessionSpec | None = None, **overrides: object
) -> int:
    """The creator stores the Iris CSV (and the spec) on `node` and creates a session over them."""
    dataset_cid = node.store.add((EXAMPLES / "iris.csv").read_bytes())
    spec = spec or iris_spec(dataset_cid)
    spec_cid = node.store.add(spec.canonical_json())
    pool = 300 * UNIT
    await fund(owner, pool)
    await owner.token.approve(owner.deployment.session_manager, pool)
    values: dict[str, object] = {
        "name": "iris", "dataset_cid": spec.dataset_cid, "spec_cid": spec_cid, "spec_hash": spec.spec_hash,
        "total_rounds": 2, "min_participants": 3, "max_participants": 4, "round_timeout": 12,
        "min_stake": STAKE, "reward_pool": pool,
    }  # fmt: skip
    values.update(overrides)
    return await owner.sessions.create_session(SessionParams(**values))  # type: ignore[arg-type]


async def start_when_joined(owner: ChainClient, session_id: int, participants: int) -> None:
    async def joined() -> bool:
        return (await owner.sessions.get_session(session_id)).participant_count == participants

    await wait_for(joined, 60, f"{participants} participants")
    await owner.sessions.start_session(session_id)


async def wait_completed(owner: ChainClient, session_id: int, timeout: float, nodes: list[RunningNode]) -> None:
    async def done() -> bool:
        return (await owner.sessions.get_session(session_id)).status is SessionStatus.COMPLETED

    try:
        await wait_for(done, timeout, "the session to complete")
    except AssertionError:
        print(timeline(nodes))
        raise


def iris_spec(dataset_cid: str, **overrides: Any) -> SessionSpec:
    values: dict[str, Any] = {
        "name": "iris",
        "model": json.loads((EXAMPLES / "iris_model.json").read_text()),
        "dataset_cid": dataset_cid,
        "split": SplitSpec(strategy="stratified"),
        "training": TrainingSpec(learning_rate=0.1, batch_size=8, local_epochs=2),
    }
    values.update(overrides)
    return SessionSpec(**values)


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> None:
    with trio.move_on_after(timeout):
        while not await predicate() if _is_async(predicate) else not predicate():
            await trio.sleep(interval)
        return
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _is_async(fn: Callable[[], Any]) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)


def timeline(nodes: list[RunningNode]) -> str:
    """Every node's events in time order: printed when a test fails, to show what each node did."""
    rows = sorted((data["t"], i, kind, data) for i, node in enumerate(nodes) for kind, data in node.events)
    start = rows[0][0] if rows else 0.0
    return "\n".join(
        f"{t - start:7.2f}s node{i} {kind} {({k: v for k, v in d.items() if k != 't'})}" for t, i, kind, d in rows
    )
