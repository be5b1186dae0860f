"""What a node knows about one round while it runs: updates, proposals, attestations, and its own figures."""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from parity_p2p.learning.strategies import ClientUpdate, State
from parity_p2p.node.messages import ProposalMessage, UpdateAnnouncement


@dataclass
class RoundStats:
    """Per-round figures the node records (and the API and TUI show)."""

    round: int
    train_seconds: float = 0.0
    wait_seconds: float = 0.0
    bytes_sent: int = 0
    bytes_received: int = 0
    loss: float | None = None
    accuracy: float | None = None
    leader: str = ""
    model_cid: str = ""
    led: bool = False
    attested: bool | None = None
    check: str = ""  # how this node verified the leader's proposal: "recomputed" or "light"
    refusal: str = ""


@dataclass
class RoundState:
    round: int
    started_at: int  # chain timestamp of the round's start
    base_cid: str = ""
    global_state: State | None = None
    my_update_cid: str | None = None
    announcements: dict[str, UpdateAnnouncement] = field(default_factory=dict)  # runner id -> announcement
    peers: dict[str, str] = field(default_factory=dict)  # runner id -> libp2p peer that published for it
    updates: dict[str, tuple[ClientUpdate, str]] = field(default_factory=dict)  # runner id -> (update, CID)
    fetching: set[str] = field(default_factory=set)
    proposals: dict[str, ProposalMessage] = field(default_factory=dict)  # leader id -> its proposal
    verifying: set[str] = field(default_factory=set)
    # (model CID, updates root) -> signer id -> EIP-712 attestation signature
    attestations: dict[tuple[str, bytes], dict[str, bytes]] = field(default_factory=dict)
    led_steps: set[int] = field(default_factory=set)
    ready: trio.Event = field(default_factory=trio.Event)  # base model known: verification may start
    changed: trio.Event = field(default_factory=trio.Event)
    stats: RoundStats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = RoundStats(self.round)

    def poke(self) -> None:
        """Wake whoever waits for news on this round."""
        self.changed.set()
        self.changed = trio.Event()
