"""Where the session runner plugs into the daemon, and what the control API reads from it.

The daemon owns the lifecycle (lock, keys, chain, content store, libp2p, API). A `NodeService` (the session
runner) gets all of that as a `NodeRuntime`, runs inside the daemon's nursery, and reports back, through
`ServiceHandles`, the providers the API should answer from. Until one is plugged in the daemon answers the
session routes from the chain and refuses update submissions with 503.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from eth_account.signers.local import LocalAccount

from parity_p2p.node.config import NodeConfig
from parity_p2p.node.datadir import DataDir
from parity_p2p.node.events import EventBus

if TYPE_CHECKING:
    from trio_typing import TaskStatus

    from parity_p2p.chain import ChainClient
    from parity_p2p.gossip.network import Network
    from parity_p2p.gossip.topics import KindSpec
    from parity_p2p.node.chain_membership import ChainMembership
    from parity_p2p.node.peer_fetcher import PeerFetcher
    from parity_p2p.storage.content import ContentStore


@dataclass(frozen=True)
class SessionInfo:
    """One session as the API shows it: the chain's view plus what this node knows locally."""

    session_id: int
    name: str
    status: str
    """Lower-case SessionStatus name: open, active, completed, cancelled, abandoned."""
    current_round: int
    total_rounds: int
    participant_count: int
    min_participants: int
    max_participants: int
    reward_pool: int
    dataset_cid: str
    spec_cid: str
    final_model_cid: str
    joined: bool
    """Whether this node's account participates."""
    local: Mapping[str, Any] = field(default_factory=dict)
    """Runner-side details (JSON values), e.g. the local phase of the current round."""


@dataclass(frozen=True)
class RoundInfo:
    round: int
    model_cid: str
    leader: str
    loss: float
    accuracy: float
    finalized_at: int
    """Unix time of the block that finalised the round; 0 while open."""
    local: Mapping[str, Any] = field(default_factory=dict)
    """What this node measured (JSON values): training_s, bytes_sent, bytes_received, waiting_s, ..."""


@dataclass(frozen=True)
class SubmittedUpdate:
    cid: str
    session_id: int
    round: int
    detail: str = ""


class SessionProvider(Protocol):
    async def list_sessions(self) -> Sequence[SessionInfo]: ...

    async def session(self, session_id: int) -> SessionInfo | None:
        """None when there is no such session."""
        ...

    async def rounds(self, session_id: int) -> Sequence[RoundInfo] | None:
        """Rounds so far (finalised ones and the open one); None when there is no such session."""
        ...


class UpdateSubmitter(Protocol):
    async def submit_update(self, session_id: int, round_number: int, data: bytes) -> SubmittedUpdate:
        """Take an update file for a round; raise errors.UpdateRefused (with an HTTP status) to refuse it."""
        ...


@dataclass(frozen=True)
class ServiceHandles:
    """What a started NodeService offers the API; None keeps the daemon's default for that part."""

    sessions: SessionProvider | None = None
    updates: UpdateSubmitter | None = None
    metrics: Mapping[str, Any] | None = None
    """A live mapping (read on every /v1/metrics request), e.g. per-round history."""


@dataclass(frozen=True)
class NodeRuntime:
    """Everything the daemon has started, valid while its services run."""

    data_dir: DataDir
    config: NodeConfig
    account: LocalAccount
    chain: ChainClient
    content: ContentStore
    """Opened on <data dir>/content; missing blocks are asked of peers through `fetcher`."""
    fetcher: PeerFetcher
    network: Network
    membership: ChainMembership
    events: EventBus
    """`events.publish(kind, data)` fits an `EventSink` (context.py)."""


class NodeService(Protocol):
    def gossip_kinds(self) -> Sequence[KindSpec]:
        """Message kinds to register with the gossip validator (the network starts before `serve`)."""
        ...

    async def serve(self, node: NodeRuntime, *, task_status: TaskStatus[ServiceHandles]) -> None:
        """Run until cancelled; call `task_status.started(ServiceHandles(...))` once ready."""
        ...
