"""Shared helpers for the libp2p adapter tests: real hosts on 127.0.0.1, a plain in-memory view of the chain."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import trio
from eth_account import Account
from eth_account.signers.local import LocalAccount

from parity_p2p.gossip.discovery import DiscoverySettings
from parity_p2p.gossip.envelope import SigningDomain
from parity_p2p.gossip.host import HostConfig, P2PHost
from parity_p2p.gossip.host import serve as serve_host
from parity_p2p.gossip.network import Network, NetworkConfig, serve
from parity_p2p.gossip.topics import PRESENCE, FieldType, KindRegistry, KindSpec, Scope
from parity_p2p.gossip.validator import Membership

DOMAIN = SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
NOTE = KindSpec("note", 1, Scope.SESSION, {"text": FieldType.STR})
"""A session-topic kind for tests (the node registers its real round messages the same way)."""
FAST_DISCOVERY = DiscoverySettings(announce_interval_s=1.0, bootstrap_retry_s=1.0)


@dataclass
class ChainView:
    """What the node would learn from the chain: registered runners, session participants, current rounds.
    The validator only sees these three questions; here they are answered from plain sets."""

    registered: set[str] = field(default_factory=set)
    participants: dict[int, set[str]] = field(default_factory=dict)
    rounds: dict[int, int] = field(default_factory=dict)

    def membership(self) -> Membership:
        return Membership(
            is_registered=lambda address: address in self.registered,
            is_participant=lambda session, address: address in self.participants.get(session, set()),
            current_round=lambda session: self.rounds.get(session, 0),
        )

    def new_runner(self, *sessions: int) -> LocalAccount:
        account: LocalAccount = Account.create()
        self.registered.add(account.address)
        for session in sessions:
            self.participants.setdefault(session, set()).add(account.address)
        return account


async def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.05)
        return
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@asynccontextmanager
async def start_networks(
    tmp_path: Path,
    chain: ChainView,
    accounts: list[LocalAccount],
    *,
    host_config: HostConfig | None = None,
) -> AsyncIterator[list[Network]]:
    """One network per account; every node after the first bootstraps from the first only, so any further
    connection comes from peer exchange."""
    base = host_config if host_config is not None else HostConfig(key_path=tmp_path / "unused")
    networks: list[Network] = []
    async with trio.open_nursery() as nursery:
        for index, account in enumerate(accounts):
            bootstrap = tuple(networks[0].host.listen_addrs()) if networks else ()
            config = NetworkConfig(
                host=replace(base, key_path=tmp_path / f"node{index}.key", bootstrap=bootstrap),
                domain=DOMAIN,
                discovery=FAST_DISCOVERY,
            )
            kinds = KindRegistry([PRESENCE, NOTE])
            networks.append(await nursery.start(serve, config, account, chain.membership(), kinds))
        yield networks
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def start_raw_host(tmp_path: Path, name: str) -> AsyncIterator[P2PHost]:
    """A bare libp2p host without our gossip layer: it can publish bytes no honest node would (an attacker)."""
    async with trio.open_nursery() as nursery:
        host: P2PHost = await nursery.start(serve_host, HostConfig(key_path=tmp_path / f"{name}.key"))
        yield host
        nursery.cancel_scope.cancel()


async def raw_subscribe(host: P2PHost, topic: str) -> None:
    await host._pubsub.subscribe(topic)


async def raw_publish(host: P2PHost, topic: str, data: bytes) -> None:
    await host._pubsub.publish(topic, data)
