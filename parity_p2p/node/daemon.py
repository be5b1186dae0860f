"""The runner daemon's lifecycle: lock -> config -> keys -> content store -> chain -> libp2p -> control API ->
session service, torn down in reverse order when cancelled (SIGINT/SIGTERM through `run_until_signal`).

Nothing here decides anything about sessions: the session runner is a `NodeService` plugged in at the marked
place below. Without one the node still gossips presence, serves and fetches content, and answers its API.
"""

from __future__ import annotations

import importlib.metadata
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from parity_p2p.node.api.models import NodeStatus
from parity_p2p.node.api.routes import ApiRoutes
from parity_p2p.node.api.server import BoundAddress, HttpServer, Request, ServerLimits
from parity_p2p.node.chain_membership import ChainMembership
from parity_p2p.node.chain_sessions import ChainSessions
from parity_p2p.node.config import NodeConfig, NodeOverrides, load_config
from parity_p2p.node.datadir import DataDir
from parity_p2p.node.errors import ConfigError, NodeChainError, NodeNetworkError, sole_node_error
from parity_p2p.node.events import EventBus
from parity_p2p.node.lock import NodeLock
from parity_p2p.node.services import NodeRuntime, NodeService, ServiceHandles, SessionProvider, UpdateSubmitter

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from trio_typing import TaskStatus

    from parity_p2p.chain import ChainClient
    from parity_p2p.gossip.network import Network, NetworkConfig
    from parity_p2p.storage.content import ContentStore

logger = logging.getLogger(__name__)

STATUS_CALL_TIMEOUT_S = 5.0
REGISTER_HINT = "parity-client runner register --stake 100"
"""What a runner runs once its account holds tokens (the client CLI registers the node's peer id with the stake)."""


def node_version() -> str:
    try:
        return importlib.metadata.version("parity-p2p")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def redeploy_hint(rpc_url: str, deployment: Path) -> str:
    return f"parity-devnet deploy --rpc-url {rpc_url} --out {deployment}"


@dataclass
class RunningNode:
    """The running node as the control API sees it (implements api.routes.NodeBackend)."""

    data_dir: DataDir
    config: NodeConfig
    account: LocalAccount
    chain: ChainClient
    content: ContentStore
    network: Network
    membership: ChainMembership
    events: EventBus
    sessions: SessionProvider
    updates: UpdateSubmitter | None = None
    service_metrics: Mapping[str, Any] | None = None
    api: BoundAddress | None = None
    api_server: HttpServer | None = None
    started_at: float = field(default_factory=time.monotonic)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def apply(self, handles: ServiceHandles) -> None:
        if handles.sessions is not None:
            self.sessions = handles.sessions
        if handles.updates is not None:
            self.updates = handles.updates
        if handles.metrics is not None:
            self.service_metrics = handles.metrics

    async def status(self) -> dict[str, Any]:
        from parity_p2p.chain import ChainError
        from parity_p2p.node.api.routes import _plain

        block = registered = stake = eth = tokens = None
        chain_error = None
        try:
            with trio.fail_after(STATUS_CALL_TIMEOUT_S):
                block = await self.chain.block_number()
                runner = await self.chain.registry.runner_of(self.address)
                registered, stake = runner.registered, runner.stake
                eth = await self.chain.eth_balance(self.address)
                tokens = await self.chain.token.balance_of(self.address)
        except trio.TooSlowError:
            chain_error = f"the chain did not answer within {STATUS_CALL_TIMEOUT_S:g} s"
        except ChainError as exc:
            chain_error = str(exc)
        host = self.network.host
        status = NodeStatus(
            version=node_version(),
            address=self.address,
            peer_id=host.peer_id,
            listen_addrs=host.listen_addrs(),
            uptime_s=round(time.monotonic() - self.started_at, 3),
            api_url=self.api.url if self.api else "",
            chain_id=self.chain.deployment.chain_id,
            rpc_url=self.config.chain.rpc_url,
            block=block,
            registered=registered,
            stake=stake,
            eth_balance=eth,
            token_balance=tokens,
            connected_peers=len(host.connected_peers()),
            session_service=self.updates is not None,
            chain_error=chain_error,
        )
        result: dict[str, Any] = _plain(status)
        return result

    async def peers(self) -> dict[str, Any]:
        host = self.network.host
        known = []
        connected = set(host.connected_peers())
        for p in self.network.discovery.known_peers():
            entry: dict[str, Any] = {"peer_id": p.peer_id, "addrs": list(p.addrs), "address": p.address}
            entry.update(await self._standing(p.address))
            if p.peer_id in connected:
                entry["latency_ms"] = await host.ping(p.peer_id, timeout_s=1.0)
            entry["sessions"] = self._shared_sessions(p.address)
            known.append(entry)
        return {"self": host.peer_id, "connected": host.connected_peers(), "known": known}

    def _shared_sessions(self, address: str | None) -> list[int]:
        """Sessions this node runs in which `address` participates too (what the session service reports)."""
        sessions = (self.service_metrics or {}).get("sessions", {})
        if not address or not isinstance(sessions, Mapping):
            return []
        return sorted(int(sid) for sid, info in sessions.items() if address in info.get("participants", ()))

    async def _standing(self, address: str | None) -> dict[str, Any]:
        """A peer's stake and reputation score from the chain (empty when unknown or the chain does not answer).
        Score = rounds done + leaderships done - leaderships missed - 10 x slashes (docs/node.md)."""
        from parity_p2p.chain import ChainError

        if not address:
            return {}
        try:
            with trio.fail_after(2):
                stake = await self.chain.registry.stake_of(address)
                rep = await self.chain.sessions.reputation(address)
        except (ChainError, trio.TooSlowError):
            return {}
        score = rep.rounds_done + rep.leaderships_done - rep.leaderships_missed - 10 * rep.slashes
        return {"stake": stake, "reputation": float(score)}

    def metrics(self) -> dict[str, Any]:
        stats = self.content.blockstore.stats()
        api_stats = self.api_server.stats if self.api_server else None
        return {
            "gossip": self.network.metrics.snapshot(),
            "content": {
                "blocks": stats.blocks,
                "bytes": stats.bytes,
                "blocks_fetched": self.content.blocks_fetched,
                "corrupt_blocks_found": stats.corrupt_blocks_found,
            },
            "events": {
                "last_seq": self.events.last_seq,
                "dropped": self.events.dropped,
                "subscribers": self.events.subscriber_count,
            },
            "membership": {"chain_calls": self.membership.chain_calls},
            "api": {
                "requests": api_stats.requests if api_stats else 0,
                "refused_unauthorized": api_stats.refused_unauthorized if api_stats else 0,
                "errors": {str(k): v for k, v in (api_stats.errors if api_stats else {}).items()},
            },
            "sessions": dict(self.service_metrics or {}),
        }


async def run_node(
    data_dir: Path,
    password: str,
    overrides: NodeOverrides | None = None,
    *,
    services: NodeService | None = None,
    task_status: TaskStatus[RunningNode] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the node on `data_dir` until cancelled; `task_status.started(RunningNode)` once every part is up."""
    layout = DataDir(data_dir)
    layout.require_initialised()
    with NodeLock(layout.path, layout.lock_path):
        for path in layout.loose_permissions():
            logger.warning("%s is readable by other users: chmod go-rwx %s", path, path)
        config = load_config(layout.config_path, layout.path).with_overrides(overrides or NodeOverrides())
        # scrypt takes about a second: in a thread, so signals are still handled meanwhile.
        account = await trio.to_thread.run_sync(layout.unlock, password)
        from parity_p2p.storage.content import ContentStore

        content = ContentStore.open(layout.content_dir)
        chain = await connect_chain(config, layout, account)
        try:
            await _run_connected(layout, config, account, content, chain, services, task_status)
        except BaseExceptionGroup as group:
            explained = sole_node_error(group)
            if explained is None:
                raise
            raise explained from None
        finally:
            layout.clear_api_endpoint()
            with trio.CancelScope(shield=True):
                await chain.aclose()


async def _run_connected(
    layout: DataDir,
    config: NodeConfig,
    account: LocalAccount,
    content: ContentStore,
    chain: ChainClient,
    services: NodeService | None,
    task_status: TaskStatus[RunningNode],
) -> None:
    from parity_p2p.gossip.block_protocol import register_block_handler
    from parity_p2p.gossip.topics import PRESENCE, KindRegistry
    from parity_p2p.node.api.auth import bearer_matches
    from parity_p2p.node.peer_fetcher import PeerFetcher

    events = EventBus()
    membership = ChainMembership(chain, config.chain.membership_ttl_s)
    kinds = KindRegistry([PRESENCE, *(services.gossip_kinds() if services else ())])
    await _check_registration(chain, account, layout, events)
    async with trio.open_nursery() as nursery:
        network = await _start_network(nursery, network_config(config, layout, chain), account, membership, kinds)
        fetcher = PeerFetcher(network.host)
        content.fetcher = fetcher.fetch  # missing blocks are asked of peers (and verified against their CID)
        register_block_handler(network.host, _block_reader(content))
        node = RunningNode(
            layout, config, account, chain, content, network, membership, events,
            sessions=ChainSessions(chain, str(account.address)),
        )
        token = layout.read_token()

        def authorize(request: Request) -> bool:
            return bearer_matches(request.headers.get("authorization"), token)

        server = HttpServer(ApiRoutes(node).handle, authorize, ServerLimits(max_body_bytes=config.api.max_body_bytes))
        try:
            node.api = await nursery.start(server.serve, config.api.host, config.api.port)
        except OSError as exc:
            raise NodeNetworkError(
                f"control API cannot listen on {config.api.host}:{config.api.port}: {exc.strerror or exc} "
                "(another node? pick --api-port)"
            ) from None
        node.api_server = server
        layout.write_api_endpoint(node.api.url)
        logger.info("control API on %s (token in %s)", node.api.url, layout.token_path)

        # ---- the session service plugs in here --------------------------------------------------------------
        # The session runner (parity_p2p/node/sessions*.py) is a NodeService: it gets everything started above
        # and hands back the providers the API answers from. Without one, sessions are read from the chain and
        # POST /v1/updates answers 503.
        if services is not None:
            runtime = NodeRuntime(layout, config, account, chain, content, fetcher, network, membership, events)
            handles: ServiceHandles = await nursery.start(supervise_service, services, runtime, node.apply)
            node.apply(handles)
        # -------------------------------------------------------------------------------------------------------

        events.publish(
            "node.started",
            {"address": node.address, "peer_id": network.host.peer_id, "listen": network.host.listen_addrs(),
             "api": node.api.url, "session_service": services is not None},
        )
        logger.info("node %s (peer %s) listening on %s", node.address, network.host.peer_id,
                    ", ".join(network.host.listen_addrs()))
        task_status.started(node)
        await trio.sleep_forever()


SERVICE_RESTART_DELAY_S = 2.0


async def supervise_service(
    service: NodeService,
    runtime: NodeRuntime,
    apply: Callable[[ServiceHandles], None],
    *,
    restart_delay_s: float = SERVICE_RESTART_DELAY_S,
    task_status: TaskStatus[ServiceHandles] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `service`; if it fails after it started, log why, publish `node.service_failed` and start it again.

    The session service's state worth keeping lives on-chain and in the content store, and a fresh one resumes at
    the chain's round, so a failure (a bug, or a fault nobody caught) costs a round, not the node: the control
    API, the content the node serves to peers and its libp2p identity stay up. A failure while starting is not
    retried: it reaches `run_node` and says what is wrong.
    """
    started = False
    failures = 0
    while True:
        try:
            async with trio.open_nursery() as inner:
                handles: ServiceHandles = await inner.start(service.serve, runtime)
                if started:
                    apply(handles)
                else:
                    started = True
                    task_status.started(handles)
        except Exception as exc:  # every failure of a started service is logged, published, and restarted
            if not started:
                raise
            failures += 1
            logger.error("the session service failed (restart %d in %g s)", failures, restart_delay_s, exc_info=exc)
            runtime.events.publish("node.service_failed", {"reason": _leaf_reasons(exc), "failures": failures})
        else:
            return  # the service chose to stop
        await trio.sleep(restart_delay_s)


def _leaf_reasons(exc: BaseException) -> str:
    """`Type: message` of the innermost exceptions (a trio nursery wraps even a single failure in a group)."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_leaf_reasons(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def network_config(config: NodeConfig, layout: DataDir, chain: ChainClient) -> NetworkConfig:
    from parity_p2p.gossip.envelope import SigningDomain
    from parity_p2p.gossip.errors import HostConfigError
    from parity_p2p.gossip.host import HostConfig
    from parity_p2p.gossip.network import NetworkConfig

    n = config.network
    try:
        host = HostConfig(
            key_path=layout.key_path,
            listen_addrs=n.listen,
            bootstrap=n.bootstrap,
            max_connections=n.max_connections,
            target_peers=n.target_peers,
        )
    except HostConfigError as exc:
        raise ConfigError(f"network.{exc.setting}", exc.reason) from None
    domain = SigningDomain(chain.deployment.chain_id, chain.deployment.session_manager)
    return NetworkConfig(host=host, domain=domain)


async def _start_network(
    nursery: trio.Nursery, config: NetworkConfig, account: LocalAccount, membership: ChainMembership, kinds: Any
) -> Network:
    from parity_p2p.gossip.network import serve

    network: Network = await nursery.start(serve, config, account, membership.membership(), kinds)
    bound = network.host.listen_addrs()
    # py-libp2p logs a listener that failed (address in use, no such interface) and carries on without it.
    if len(bound) < len(config.host.listen_addrs):
        raise NodeNetworkError(
            f"libp2p cannot listen on {', '.join(config.host.listen_addrs)} (listening on {bound or 'nothing'}): "
            "address in use or not on this machine; see the log, or pick another --listen"
        )
    return network


def _block_reader(content: ContentStore) -> Any:
    from parity_p2p.storage.errors import InvalidCid, StorageError
    from parity_p2p.storage.multiformats import Cid

    async def read(cid_text: str) -> bytes | None:
        try:
            cid = Cid.parse(cid_text)
            return await trio.to_thread.run_sync(content.blockstore.get, cid)
        except (InvalidCid, StorageError):  # BlockNotFound is a StorageError: we simply do not have it
            return None

    return read


async def connect_chain(config: NodeConfig, layout: DataDir, account: LocalAccount) -> ChainClient:
    """Connect and check the deployment; every failure says what to do about it."""
    from parity_p2p.chain import (
        ChainClient,
        ChainError,
        Deployment,
        DeploymentError,
        MissingCodeError,
        RpcUnavailableError,
        WiringMismatchError,
    )

    path = config.deployment_path(layout.path)
    url = config.chain.rpc_url
    if not path.is_file():
        raise NodeChainError(
            f"no deployment file at {path}: copy the network's deployment.json there or pass --deployment PATH "
            f"(on a devnet: `{redeploy_hint(url, path)}`)"
        )
    try:
        deployment = Deployment.load(path)
        return await ChainClient.connect(deployment, rpc_url=url, account=account)
    except (MissingCodeError, WiringMismatchError) as exc:
        raise NodeChainError(f"{exc}. Fix: `{redeploy_hint(url, path)}`, then start again") from None
    except RpcUnavailableError as exc:
        raise NodeChainError(f"{exc}: is the chain node running? (set --rpc-url or chain.rpc_url)") from None
    except DeploymentError as exc:
        raise NodeChainError(f"{path}: {exc}") from None
    except ChainError as exc:
        raise NodeChainError(str(exc)) from None


async def _check_registration(chain: ChainClient, account: LocalAccount, layout: DataDir, events: EventBus) -> None:
    """Say exactly what to run when this runner cannot take part yet (not registered, or another peer id)."""
    from parity_p2p.chain import ChainError
    from parity_p2p.gossip.peer_identity import peer_id_for_key_file

    peer_id = peer_id_for_key_file(layout.key_path)
    try:
        runner = await chain.registry.runner_of(str(account.address))
    except ChainError as exc:
        logger.warning("could not read this runner's registration: %s", exc)
        return
    if not runner.registered:
        logger.warning(
            "account %s is not a registered runner: it can relay gossip but joins no session. Fund it, then run: "
            "%s --data-dir %s", account.address, REGISTER_HINT, layout.path,
        )
        events.publish("node.unregistered", {"address": str(account.address), "command": REGISTER_HINT})
    elif runner.peer_id != peer_id:
        logger.warning(
            "the registry holds peer id %s for %s but this node is %s: run `parity-client runner set-peer-id "
            "--data-dir %s`", runner.peer_id, account.address, peer_id, layout.path,
        )
        events.publish("node.peer_id_mismatch", {"registered": runner.peer_id, "actual": peer_id})


def default_session_service() -> NodeService | None:
    """The session runner `parity-node start` plugs in.

    The session runner (node/session_node_service.py): follows the chain, joins sessions by policy, trains, leads
    and attests rounds, and answers the API's session routes and update submissions.
    """
    from parity_p2p.node.session_node_service import SessionNodeService

    return SessionNodeService()


async def run_until_signal(
    data_dir: Path,
    password: str,
    overrides: NodeOverrides | None = None,
    *,
    services: NodeService | None = None,
) -> int:
    """Run the node until SIGINT or SIGTERM, then shut down cleanly; returns the exit code (0).
    Without `services`, `default_session_service()` decides."""
    services = services if services is not None else default_session_service()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for signum in signals:
                    name = signal.Signals(signum).name
                    logger.info("%s received: stopping", name)
                    if node is not None:
                        node.events.publish("node.stopping", {"signal": name})
                    nursery.cancel_scope.cancel()
                    return

            node: RunningNode | None = None
            nursery.start_soon(stop_on_signal)  # also during start-up: a slow chain must not trap Ctrl-C
            node = await nursery.start(
                lambda task_status: run_node(data_dir, password, overrides, services=services,
                                             task_status=task_status)
            )
    logger.info("node stopped")
    return 0
