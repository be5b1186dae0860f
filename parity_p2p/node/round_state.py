"""What a node knows about one round while it runs: updates, proposals, attestations, and its own figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import trio

from parity_p2p.learning.strategies import ClientUpdate, State
from parity_p2p.node.messages import ProposalMessage, UpdateAnnouncement


@dataclass
class RoundPhases:
    """When each step of the round happened on this node, in seconds since it opened the round (None: not here).

    `opened_at` is the raw `time.monotonic()` of the opening. On Linux that clock is system-wide, so a benchmark can
    line up the marks of several node processes on one machine (bench/rounds.py does)."""

    opened_at: float = field(default_factory=time.monotonic)
    base_ready: float | None = None  # the round's base model fetched and decoded
    trained: float | None = None
    update_sent: float | None = None  # announced, and pushed to the leader (or kept, when leading)
    # as leader
    collected: float | None = None  # collection ended (all updates, or the deadline with a quorum)
    aggregated: float | None = None  # aggregated, evaluated, encoded and stored
    proposed: float | None = None  # proposal gossiped
    attestation_quorum: float | None = None
    submitted: float | None = None  # submitRound sent
    receipt: float | None = None  # submitRound mined
    # as follower
    proposal_received: float | None = None
    verified: float | None = None  # the proposal checked (recomputed or light)
    attested: float | None = None  # attestation gossiped
    # everyone
    finalized_seen: float | None = None  # this node saw the chain close the round

    def now(self) -> float:
        """Seconds since the round opened here: the value to store in a mark."""
        return time.monotonic() - self.opened_at


@dataclass
class RoundStats:
    """Per-round figures the node records (and the API and TUI show)."""

    round: int
    train_seconds: float = 0.0
    wait_seconds: float = 0.0
    bytes_sent: int = 0
    bytes_received: int = 0
    push_attempts: int = 0  # more than one: the leader refused at first (still closing the previous round)
    loss: float | None = None
    accuracy: float | None = None
    leader: str = ""
    model_cid: str = ""
    led: bool = False
    attested: bool | None = None
    check: str = ""  # how this node verified the leader's proposal: "recomputed" or "light"
    refusal: str = ""
    prefetched: int = 0  # others' updates a recomputation found here (fetched on announcement, before the proposal)
    pulled: int = 0  # others' updates this node fetched by CID (a leader normally has them pushed instead)
    carried: int = 0  # others' updates taken from their announcement (small ones ride along: no fetch)
    model_carried: bool = False  # the proposal we checked brought its model along (no fetch)
    base_reused: bool = False  # the base model was the one this node decoded while proposing or checking it
    phases: RoundPhases = field(default_factory=RoundPhases)


@dataclass
class RoundState:
    round: int
    started_at: int  # chain timestamp of the round's start
    base_cid: str = ""
    global_state: State | None = None
    server_state: State = field(default_factory=dict)  # the strategy's, from the base model file (FedAdam)
    my_update_cid: str | None = None
    own_update_pending: bool = False  # our training for this round runs (a leader waits for it: consensus/timing.py)
    announcements: dict[str, UpdateAnnouncement] = field(default_factory=dict)  # runner id -> announcement
    peers: dict[str, str] = field(default_factory=dict)  # runner id -> libp2p peer that published for it
    updates: dict[str, tuple[ClientUpdate, str]] = field(default_factory=dict)  # runner id -> (update, CID)
    fetching: set[str] = field(default_factory=set)
    incoming: dict[str, str] = field(default_factory=dict)  # runner id -> CID of its push admitted and in flight
    announced_at: dict[str, float] = field(default_factory=dict)  # runner id -> time.monotonic() of its announcement
    proposals: dict[str, ProposalMessage] = field(default_factory=dict)  # leader id -> its proposal
    verifying: set[str] = field(default_factory=set)
    # (model CID, updates root) -> signer id -> EIP-712 attestation signature
    attestations: dict[tuple[str, bytes], dict[str, bytes]] = field(default_factory=dict)
    led_steps: set[int] = field(default_factory=set)
    ready: trio.Event = field(default_factory=trio.Event)  # base model known: verification may start
    closed_hint: trio.Event = field(default_factory=trio.Event)  # our submitRound mined, or the leader said so
    changed: trio.Event = field(default_factory=trio.Event)
    stats: RoundStats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = RoundStats(self.round)

    def poke(self) -> None:
        """Wake whoever waits for news on this round."""
        self.changed.set()
        self.changed = trio.Event()
