"""The daemon in-process against the session's anvil: real keystore, real libp2p hosts on 127.0.0.1, real API."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from fixtures.anvil import rpc
from fixtures.devchain import MIN_STAKE, DevChain, create_session, fund, session_params

from parity_p2p.chain import Deployment
from parity_p2p.gossip.topics import KindSpec
from parity_p2p.node.api.client import NodeApiClient
from parity_p2p.node.config import NodeConfig, NodeOverrides
from parity_p2p.node.daemon import RunningNode, run_node
from parity_p2p.node.datadir import DataDir, InitResult, init_data_dir
from parity_p2p.node.errors import (
    AlreadyRunningError,
    ApiRequestError,
    NodeChainError,
    NodeNetworkError,
    PasswordError,
)
from parity_p2p.node.lock import NodeLock
from parity_p2p.node.services import NodeRuntime, ServiceHandles, SubmittedUpdate

FAST_KDF = 2**10
PASSWORD = "correct horse battery"


def make_node_dir(tmp_path: Path, name: str, chain: DevChain) -> tuple[Path, InitResult]:
    data_dir = tmp_path / name
    result = init_data_dir(data_dir, PASSWORD, config=NodeConfig(), kdf_iterations=FAST_KDF)
    chain.deployment.save(data_dir / "deployment.json")
    return data_dir, result


def overrides(chain: DevChain, **changes: Any) -> NodeOverrides:
    return NodeOverrides(**({"rpc_url": chain.url, "api_port": 0} | changes))


@asynccontextmanager
async def running(data_dir: Path, chain: DevChain, service: Any = None, **changes: Any) -> AsyncIterator[RunningNode]:
    async with trio.open_nursery() as nursery:
        node: RunningNode = await nursery.start(
            lambda task_status: run_node(
                data_dir, PASSWORD, overrides(chain, **changes), services=service, task_status=task_status
            )
        )
        yield node
        nursery.cancel_scope.cancel()


def api_client(node: RunningNode) -> NodeApiClient:
    assert node.api is not None
    return NodeApiClient(node.api.url, node.data_dir.read_token())


async def test_node_runs_answers_from_the_chain_and_stops_cleanly(tmp_path: Path, dev_chain: DevChain) -> None:
    data_dir, identity = make_node_dir(tmp_path, "node", dev_chain)
    layout = DataDir(data_dir)
    async with running(data_dir, dev_chain) as node, api_client(node) as api:
        assert layout.read_api_endpoint() == node.api.url if node.api else False
        status = await api.status()
        assert (status.address, status.peer_id, status.chain_id) == (identity.address, identity.peer_id, 31337)
        assert status.registered is False and status.stake == 0
        assert status.block is not None and status.block > 0
        assert status.chain_error is None
        assert not status.session_service
        assert all(addr.startswith("/ip4/127.0.0.1/tcp/") for addr in status.listen_addrs)

        async with api.events(since=0) as events:
            kinds = []
            async for event in events:
                kinds.append(event.kind)
                if event.kind == "node.started":
                    break
        assert kinds == ["node.unregistered", "node.started"]

        # Give it gas, then register its peer id with a stake, as `parity-client runner register` will.
        rpc(dev_chain.url, "anvil_setBalance", [identity.address, hex(10**18)])
        async with await dev_chain.client(node.account) as runner:
            await fund(runner, MIN_STAKE)
            await runner.token.approve(dev_chain.deployment.registry, MIN_STAKE)
            await runner.registry.register(identity.peer_id, MIN_STAKE)
        status = await api.status()
        assert status.registered is True and status.stake == MIN_STAKE
        assert status.eth_balance is not None and 0 < status.eth_balance < 10**18  # gas was paid

        # Sessions come from the SessionManager until a session service is plugged in.
        async with await dev_chain.client(dev_chain.accounts[0]) as creator:
            session_id = await create_session(creator, session_params(name="daemon test"))
        sessions = await api.sessions()
        assert [(s.session_id, s.name, s.status, s.joined) for s in sessions] == [
            (session_id, "daemon test", "open", False)
        ]
        assert await api.rounds(session_id) == []
        with pytest.raises(ApiRequestError) as caught:
            await api.session(session_id + 1)
        assert caught.value.status == 404
        with pytest.raises(ApiRequestError) as caught:
            await api.submit_update(session_id, 1, b"update")
        assert caught.value.status == 503
        metrics = await api.metrics()
        assert metrics["api"]["requests"] >= 8
        assert "dropped.bad_signature" in metrics["gossip"]

    assert layout.read_api_endpoint() is None  # gone with the node
    with NodeLock(data_dir, layout.lock_path):  # and so is its lock
        pass


async def test_second_node_on_the_same_data_dir_is_refused(tmp_path: Path, dev_chain: DevChain) -> None:
    data_dir, _ = make_node_dir(tmp_path, "node", dev_chain)
    async with running(data_dir, dev_chain):
        with pytest.raises(AlreadyRunningError, match="already running"):
            await run_node(data_dir, PASSWORD, overrides(dev_chain))


async def test_wrong_password_stops_before_anything_starts(tmp_path: Path, dev_chain: DevChain) -> None:
    data_dir, _ = make_node_dir(tmp_path, "node", dev_chain)
    with pytest.raises(PasswordError):
        await run_node(data_dir, "not the password", overrides(dev_chain))
    assert DataDir(data_dir).read_api_endpoint() is None


async def test_deployment_without_code_is_refused_with_the_fix(tmp_path: Path, dev_chain: DevChain) -> None:
    data_dir, _ = make_node_dir(tmp_path, "node", dev_chain)
    # What a restarted in-memory devnet looks like: the saved addresses hold nothing.
    stale = Deployment(31337, "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, 1, dev_chain.url)
    stale.save(data_dir / "deployment.json")
    with pytest.raises(NodeChainError) as caught:
        await run_node(data_dir, PASSWORD, overrides(dev_chain))
    assert "no contract code" in str(caught.value)
    assert f"parity-devnet deploy --rpc-url {dev_chain.url} --out {data_dir / 'deployment.json'}" in str(caught.value)
    assert caught.value.exit_code == 7

    (data_dir / "deployment.json").unlink()
    with pytest.raises(NodeChainError, match="no deployment file"):
        await run_node(data_dir, PASSWORD, overrides(dev_chain))
    dev_chain.deployment.save(data_dir / "deployment.json")
    with pytest.raises(NodeChainError, match="is the chain node running"):
        await run_node(data_dir, PASSWORD, overrides(dev_chain, rpc_url="http://127.0.0.1:9"))


async def test_two_nodes_connect_and_share_content(tmp_path: Path, dev_chain: DevChain) -> None:
    first_dir, first = make_node_dir(tmp_path, "a", dev_chain)
    second_dir, _ = make_node_dir(tmp_path, "b", dev_chain)
    async with running(first_dir, dev_chain) as a, api_client(a) as api_a:
        bootstrap = tuple(a.network.host.listen_addrs())
        async with running(second_dir, dev_chain, bootstrap=bootstrap) as b, api_client(b) as api_b:
            with trio.fail_after(15):
                while first.peer_id not in (await api_b.peers())["connected"]:
                    await trio.sleep(0.1)
            data = random.Random(7).randbytes(512 * 1024)  # two distinct 256 KiB chunks under a root node
            cid = await api_a.add_content(data)
            assert await api_b.get_content(cid) == data  # fetched over /parity/blocks/1.0.0, verified by CID
            assert (await api_b.metrics())["content"]["blocks_fetched"] == 3


@dataclass
class RecordingService:
    """A minimal NodeService: what the session runner will be, reduced to taking updates into the store."""

    runtime: NodeRuntime | None = None
    taken: list[tuple[int, int, int]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def gossip_kinds(self) -> Sequence[KindSpec]:
        return ()

    async def serve(self, node: NodeRuntime, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.runtime = node
        node.events.publish("service.ready", {"address": str(node.account.address)})
        task_status.started(ServiceHandles(updates=self, metrics=self.metrics))
        await trio.sleep_forever()

    async def submit_update(self, session_id: int, round_number: int, data: bytes) -> SubmittedUpdate:
        assert self.runtime is not None
        self.taken.append((session_id, round_number, len(data)))
        self.metrics["updates_taken"] = len(self.taken)
        return SubmittedUpdate(await self.runtime.content.aadd(data), session_id, round_number)


async def test_a_session_service_plugs_in(tmp_path: Path, dev_chain: DevChain) -> None:
    data_dir, identity = make_node_dir(tmp_path, "node", dev_chain)
    service = RecordingService()
    async with running(data_dir, dev_chain, service) as node, api_client(node) as api:
        assert service.runtime is not None
        assert service.runtime.network.host.peer_id == identity.peer_id
        assert service.runtime.config.api.port == 0
        assert (await api.status()).session_service
        result = await api.submit_update(3, 2, b"an update file")
        assert service.taken == [(3, 2, 14)]
        assert await api.get_content(result.cid) == b"an update file"
        assert (await api.metrics())["sessions"] == {"updates_taken": 1}
        async with api.events(since=0) as events:
            kinds = []
            async for event in events:
                kinds.append(event.kind)
                if event.kind == "node.started":
                    break
        assert kinds == ["node.unregistered", "service.ready", "node.started"]


async def test_busy_ports_are_network_errors(tmp_path: Path, dev_chain: DevChain) -> None:
    data_dir, _ = make_node_dir(tmp_path, "node", dev_chain)
    with trio.socket.socket() as busy:
        await busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(NodeNetworkError, match=f"control API cannot listen on 127.0.0.1:{port}"):
            with trio.fail_after(20):
                await run_node(data_dir, PASSWORD, overrides(dev_chain, api_port=port))
        with trio.fail_after(20), pytest.raises(NodeNetworkError, match="libp2p cannot listen"):
            await run_node(data_dir, PASSWORD, overrides(dev_chain, listen=(f"/ip4/127.0.0.1/tcp/{port}",)))
    assert DataDir(data_dir).read_api_endpoint() is None


@dataclass
class ManualClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


async def test_membership_answers_are_cached_for_their_ttl(dev_chain: DevChain) -> None:
    from parity_p2p.node.chain_membership import ChainMembership

    runner = dev_chain.accounts[5]
    clock = ManualClock()
    async with await dev_chain.client(runner) as chain:
        membership = ChainMembership(chain, ttl_s=5.0, clock=clock)
        answers = membership.membership()
        assert await answers.is_registered(runner.address) is False
        assert await answers.is_registered(runner.address.lower()) is False  # one cache entry per account
        assert membership.chain_calls == 1

        await fund(chain, MIN_STAKE)
        await chain.token.approve(dev_chain.deployment.registry, MIN_STAKE)
        await chain.registry.register("12D3KooW-membership-test", MIN_STAKE)
        clock.now = 4.9
        assert await answers.is_registered(runner.address) is False  # still the cached answer
        clock.now = 5.1
        assert await answers.is_registered(runner.address) is True  # expired: asked again
        assert membership.chain_calls == 2

        async with await dev_chain.client(dev_chain.accounts[0]) as creator:
            session_id = await create_session(creator, session_params())
        assert await answers.current_round(session_id) == 0  # open, not started
        assert await answers.is_participant(session_id, runner.address) is False
        membership.invalidate()
        assert await answers.is_registered(runner.address) is True
        assert membership.chain_calls == 5

        # A "no" lives the short ttl (the runner may join); a "yes" is kept far longer (nobody leaves a session).
        async with await dev_chain.client(runner) as joiner:
            await joiner.sessions.join_session(session_id)
        clock.now += 5.1
        assert await answers.is_participant(session_id, runner.address) is True
        calls = membership.chain_calls
        clock.now += 300
        assert await answers.is_participant(session_id, runner.address) is True
        assert membership.chain_calls == calls, "a participant's yes was asked again within its longer life"
