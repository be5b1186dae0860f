"""The session service survives transient faults: a chain outage under a running session interrupts it (typed
event) and the service starts a fresh runner, instead of ending (errors raised inside the runner's nurseries
arrive wrapped in exception groups); a spec that cannot be fetched yet defers the join instead of declining it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trio
from eth_account.signers.local import LocalAccount
from fixtures.devchain import FAST_POLICY, DevChain
from fixtures.flaky_rpc import FlakyRpcProxy
from fixtures.node_network import (
    RunningNode,
    create_iris_session,
    running_nodes,
    start_when_joined,
    wait_completed,
    wait_for,
)

from parity_p2p.chain import ChainClient
from parity_p2p.gossip.block_protocol import register_block_handler
from parity_p2p.gossip.host import HostConfig, P2PHost
from parity_p2p.gossip.host import serve as serve_host
from parity_p2p.node.chain_sessions import ChainSessions
from parity_p2p.node.session_node_service import SessionApi
from parity_p2p.storage.content import ContentStore
from parity_p2p.storage.multiformats import Cid


@dataclass(frozen=True)
class _OneNodeViaProxy(DevChain):
    """The same deployment; one account (the victim's node) reaches it only through a proxy the test can cut."""

    victim: str = ""
    proxy_url: str = ""

    async def client(self, account: LocalAccount | None = None) -> ChainClient:
        url = self.proxy_url if account is not None and account.address == self.victim else self.url
        return await ChainClient.connect(self.deployment, rpc_url=url, account=account, policy=FAST_POLICY)


async def test_a_chain_outage_interrupts_a_running_session_and_the_service_starts_it_again(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    accounts = list(dev_chain.accounts[1:4])
    victim_account = accounts[1]
    started: list[RunningNode] = []  # the victim's node, once running
    restored = False

    def chain_down(payload: object) -> bool:
        # Down from the moment the victim's first runner has loaded the session (so the fault hits it while it
        # plays rounds, inside its nurseries) until the test sees the interruption.
        return bool(started) and "session.joined" in started[0].kinds() and not restored

    proxy = FlakyRpcProxy(dev_chain.url, lose_request=chain_down)
    async with trio.open_nursery() as nursery:
        proxy_url = await nursery.start(proxy.serve)
        chain = _OneNodeViaProxy(dev_chain.node, dev_chain.deployment, victim_account.address, proxy_url)
        async with (
            running_nodes(chain, tmp_path, accounts) as nodes,
            await dev_chain.client(dev_chain.accounts[6]) as owner,
        ):
            victim = nodes[1]
            started.append(victim)
            session_id = await create_iris_session(owner, nodes[0], min_participants=3, max_participants=3)
            await start_when_joined(owner, session_id, 3)

            await wait_for(lambda: "session.interrupted" in victim.kinds(), 60, "the victim's runner to fail")
            restored = True
            interrupted = next(d for k, d in victim.events if k == "session.interrupted")
            assert interrupted["session"] == session_id
            assert f"chain node at {proxy_url} unavailable" in interrupted["reason"], interrupted

            # The victim's service is still serving: a fresh runner resumes, and the session completes with it.
            await wait_completed(owner, session_id, 120, nodes)
            kinds = victim.kinds()
            assert "session.joined" in kinds[kinds.index("session.interrupted") :], "no fresh runner was started"
            assert await owner.sessions.points_of(session_id, victim_account.address) > 0
        nursery.cancel_scope.cancel()


@dataclass
class _Holder:
    """The only holder of a session's spec and dataset: a bare host serving blocks from its store."""

    host: P2PHost
    store: ContentStore

    def get_block(self, cid_text: str) -> bytes | None:
        cid = Cid.parse(cid_text)
        return self.store.blockstore.get(cid) if self.store.blockstore.has(cid) else None


async def test_a_spec_not_fetchable_yet_defers_the_join_until_its_holder_is_connected(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    async with (
        trio.open_nursery() as nursery,
        running_nodes(dev_chain, tmp_path, [dev_chain.accounts[1]]) as (node,),
        await dev_chain.client(dev_chain.accounts[6]) as owner,
    ):
        host: P2PHost = await nursery.start(serve_host, HostConfig(key_path=tmp_path / "holder.key"))
        holder = _Holder(host, ContentStore.open(tmp_path / "holder"))
        register_block_handler(host, holder.get_block)
        session_id = await create_iris_session(owner, holder)  # type: ignore[arg-type]  # only .store is used

        # No connected peer has the spec: the first fetch fails.
        await wait_for(lambda: "session.declined" in node.kinds(), 30, "the first, failed fetch")
        assert not await owner.sessions.is_participant(session_id, node.account.address)
        # The control API (what `parity-node status` and the TUI read) says why the node has not joined yet.
        api = SessionApi(node.service, ChainSessions(node.chain, node.account.address), node.chain)
        listed = await api.session(session_id)
        assert listed is not None and listed.local["phase"] == "deferred", listed.local
        assert "not fetched" in listed.local["reason"]
        assert "not fetched" in api.metrics["deferred"][str(session_id)]

        await host.connect(node.network.host.listen_addrs()[0])  # the holder comes online for this node
        await wait_for(lambda: "session.join_sent" in node.kinds(), 30, "the join after a retried fetch")
        assert await owner.sessions.is_participant(session_id, node.account.address)
        # Each failed attempt said it would retry; none was a final refusal.
        refusals = [d for k, d in node.events if k == "session.declined"]
        assert all(d["session"] == session_id and d["retry"] is True for d in refusals), refusals
        assert "not fetched" in refusals[0]["reason"] and "will retry" in refusals[0]["reason"], refusals[0]
        assert session_id not in node.service.declined and session_id not in node.service.deferred
        nursery.cancel_scope.cancel()
