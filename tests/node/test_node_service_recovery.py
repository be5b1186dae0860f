"""The session service survives faults of its runners: a chain outage under running sessions interrupts them
(typed event) and the service starts them again, instead of ending (fix: errors raised inside the runner's
nurseries arrive wrapped in exception groups)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trio
from fixtures.devchain import DevChain
from fixtures.flaky_rpc import FlakyRpcProxy
from fixtures.node_network import create_iris_session, running_nodes, start_when_joined, wait_completed, wait_for


@dataclass(frozen=True)
class _ChainViaProxy(DevChain):
    """The same deployment, reached through a proxy the test can cut (the nodes' view of the chain)."""

    proxy_url: str = ""

    @property
    def url(self) -> str:
        return self.proxy_url


async def test_a_chain_outage_interrupts_running_sessions_and_the_service_resumes_them(
    dev_chain: DevChain, tmp_path: Path
) -> None:
    outage = False
    proxy = FlakyRpcProxy(dev_chain.url, lose_request=lambda payload: outage)
    async with trio.open_nursery() as nursery:
        proxy_url = await nursery.start(proxy.serve)
        via_proxy = _ChainViaProxy(dev_chain.node, dev_chain.deployment, proxy_url)
        async with (
            running_nodes(via_proxy, tmp_path, list(dev_chain.accounts[1:4])) as nodes,
            await dev_chain.client(dev_chain.accounts[6]) as owner,  # the creator's own line to the chain
        ):
            session_id = await create_iris_session(owner, nodes[0], min_participants=3, max_participants=3)
            await start_when_joined(owner, session_id, 3)
            await wait_for(lambda: all("session.joined" in n.kinds() for n in nodes), 60, "every runner to start")

            outage = True  # every request of the nodes is hung up on, as by a dead chain node
            await wait_for(lambda: any("session.interrupted" in n.kinds() for n in nodes), 60, "an interruption")
            outage = False

            # Each service is still serving: it starts a fresh runner, which resumes and completes the session.
            await wait_completed(owner, session_id, 120, nodes)
            for node in nodes:
                kinds = node.kinds()
                if "session.interrupted" in kinds:
                    interrupted = kinds.index("session.interrupted")
                    assert "session.joined" in kinds[interrupted:], "no fresh runner after the interruption"
                    reason = next(d for k, d in node.events if k == "session.interrupted")["reason"]
                    assert f"chain node at {proxy_url} unavailable" in reason, reason
        nursery.cancel_scope.cancel()
