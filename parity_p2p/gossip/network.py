"""The whole libp2p adapter as one long-running part: host, signed gossip, discovery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio
from eth_account.signers.local import LocalAccount

from .direct import DirectChannel
from .discovery import Discovery, DiscoverySettings
from .envelope import SigningDomain
from .host import HostConfig, P2PHost
from .host import serve as serve_host
from .metrics import GossipMetrics
from .pubsub import Gossip
from .topics import KindRegistry
from .validator import EnvelopeValidator, Membership, ValidatorPolicy

if TYPE_CHECKING:
    from trio_typing import TaskStatus


@dataclass(frozen=True)
class NetworkConfig:
    host: HostConfig
    domain: SigningDomain
    policy: ValidatorPolicy = field(default_factory=ValidatorPolicy)
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)


@dataclass(frozen=True)
class Network:
    """Handles to the running parts; valid while `serve` runs."""

    host: P2PHost
    gossip: Gossip
    direct: DirectChannel
    discovery: Discovery
    metrics: GossipMetrics


async def serve(
    config: NetworkConfig,
    account: LocalAccount,
    membership: Membership,
    kinds: KindRegistry | None = None,
    *,
    task_status: TaskStatus[Network] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run host, gossip and discovery until cancelled; `task_status.started(Network)` once all are up."""
    metrics = GossipMetrics()
    validator = EnvelopeValidator(config.domain, membership, metrics, kinds=kinds, policy=config.policy)
    async with trio.open_nursery() as nursery:
        host: P2PHost = await nursery.start(serve_host, config.host, metrics)
        gossip: Gossip = await nursery.start(Gossip(host, account, validator).serve)
        direct = DirectChannel(gossip)
        direct.register()
        discovery: Discovery = await nursery.start(
            Discovery(gossip, config.host.bootstrap, config.discovery).serve
        )
        task_status.started(Network(host, gossip, direct, discovery, metrics))
