"""What `fl get-session` and `fl list-sessions` show: the chain's view of a session, its rounds, leader, rewards."""

from __future__ import annotations

from dataclasses import dataclass

from parity_p2p.chain import ChainClient, SessionStatus, SessionView
from parity_p2p.chain.events import RewardCredited
from parity_p2p.client.errors import SessionNotFound, format_tokens
from parity_p2p.client.output import fields_text, table

METRIC_SCALE = 1_000_000  # loss and accuracy are posted on-chain as integers scaled by 1e6


@dataclass(frozen=True)
class RoundSummary:
    round: int
    model_cid: str
    leader: str
    loss: float
    accuracy: float
    finalized_at: int


@dataclass(frozen=True)
class ParticipantReward:
    runner: str
    points: int
    credited: int  # paid out to the runner's claimable balance when the session ended (0 before)


@dataclass(frozen=True)
class SessionDetails:
    session_id: int
    name: str
    status: SessionStatus
    current_round: int
    total_rounds: int
    participants: tuple[str, ...]
    min_participants: int
    max_participants: int
    average_loss: float | None  # of the latest finalized round (the mean over its participants' updates)
    average_accuracy: float | None
    leader: str | None  # the runner allowed to post the current round, while active
    model_cid: str  # the final model, else the latest finalized round's, else ""
    creator: str
    dataset_cid: str
    spec_cid: str
    reward_pool: int
    min_stake: int
    round_timeout: int
    total_points: int
    rewards: tuple[ParticipantReward, ...]
    creator_refund: int  # the part of the pool credited back to the creator (unearned share, rounding dust)
    rounds: tuple[RoundSummary, ...]


async def session_view(chain: ChainClient, session_id: int) -> SessionView:
    """The session, or SessionNotFound (the contract answers an unknown id with an empty record)."""
    count = await chain.sessions.session_count()
    if not 1 <= session_id <= count:
        raise SessionNotFound(session_id, count)
    return await chain.sessions.get_session(session_id)


async def session_details(chain: ChainClient, session_id: int) -> SessionDetails:
    view = await session_view(chain, session_id)
    p = view.params
    participants = tuple(await chain.sessions.participants(session_id))
    last_round = p.total_rounds if view.status is SessionStatus.COMPLETED else view.current_round - 1
    rounds = []
    for number in range(1, max(last_round, 0) + 1):
        record = await chain.sessions.get_round(session_id, number)
        if record.finalized:
            rounds.append(RoundSummary(number, record.model_cid, record.leader, record.loss / METRIC_SCALE,
                                       record.accuracy / METRIC_SCALE, record.finalized_at))  # fmt: skip
    leader = None
    if view.status is SessionStatus.ACTIVE:
        leader = (await chain.sessions.eligible_leader(session_id)).leader
    latest = rounds[-1] if rounds else None
    credited = await _credited(chain, session_id) if view.status in _PAID_OUT else {}
    rewards = tuple([
        ParticipantReward(r, await chain.sessions.points_of(session_id, r), credited.get(r, 0)) for r in participants
    ])  # fmt: skip
    return SessionDetails(
        session_id=session_id, name=p.name, status=view.status, current_round=view.current_round,
        total_rounds=p.total_rounds, participants=participants, min_participants=p.min_participants,
        max_participants=p.max_participants, average_loss=latest.loss if latest else None,
        average_accuracy=latest.accuracy if latest else None, leader=leader,
        model_cid=view.final_model_cid or (latest.model_cid if latest else ""), creator=view.creator,
        dataset_cid=p.dataset_cid, spec_cid=p.spec_cid, reward_pool=p.reward_pool, min_stake=p.min_stake,
        round_timeout=p.round_timeout, total_points=view.total_points, rewards=rewards,
        creator_refund=credited.get(view.creator, 0), rounds=tuple(rounds),
    )  # fmt: skip


_PAID_OUT = (SessionStatus.COMPLETED, SessionStatus.ABANDONED, SessionStatus.CANCELLED)


async def _credited(chain: ChainClient, session_id: int) -> dict[str, int]:
    """What the session's payout credited to each account (RewardCredited events)."""
    totals: dict[str, int] = {}
    for event in await chain.past_events():
        if isinstance(event, RewardCredited) and event.session_id == session_id:
            totals[event.account] = totals.get(event.account, 0) + event.amount
    return totals


def _metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_details(d: SessionDetails) -> str:
    current = d.total_rounds if d.status is SessionStatus.COMPLETED else d.current_round
    text = fields_text([
        ("Session ID", str(d.session_id)),
        ("Name", d.name),
        ("Status", d.status.name.lower()),
        ("Current Round", f"{current}/{d.total_rounds}"),
        ("Participants", f"{len(d.participants)} (min {d.min_participants}, max {d.max_participants})"),
        ("Average Loss", _metric(d.average_loss)),
        ("Average Accuracy", _metric(d.average_accuracy)),
        ("Leader", d.leader or "-"),
        ("Model CID", d.model_cid or "-"),
        ("Reward Pool", format_tokens(d.reward_pool)),
        ("Contribution Points", str(d.total_points)),
        ("Creator", d.creator),
        ("Dataset CID", d.dataset_cid),
        ("Spec CID", d.spec_cid),
    ])  # fmt: skip
    if d.rewards:
        rows = [[r.runner, str(r.points), format_tokens(r.credited)] for r in d.rewards]
        text += "\n\n" + table(["Participant", "Points", "Reward"], rows)
        if d.status in _PAID_OUT:
            text += f"\nCredited back to the creator: {format_tokens(d.creator_refund)}"
    if d.rounds:
        rows = [[str(r.round), f"{r.loss:.4f}", f"{r.accuracy:.4f}", r.leader, r.model_cid] for r in d.rounds]
        text += "\n\n" + table(["Round", "Loss", "Accuracy", "Leader", "Model CID"], rows)
    return text


@dataclass(frozen=True)
class SessionRow:
    session_id: int
    name: str
    status: SessionStatus
    current_round: int
    total_rounds: int
    participants: int
    reward_pool: int


async def session_rows(chain: ChainClient, status: SessionStatus | None) -> list[SessionRow]:
    rows = []
    for session_id in range(1, await chain.sessions.session_count() + 1):
        view = await chain.sessions.get_session(session_id)
        if status is not None and view.status is not status:
            continue
        p = view.params
        rows.append(SessionRow(session_id, p.name, view.status, view.current_round, p.total_rounds,
                               view.participant_count, p.reward_pool))  # fmt: skip
    return rows


def render_rows(rows: list[SessionRow]) -> str:
    if not rows:
        return "no sessions"
    return table(
        ["ID", "Name", "Status", "Round", "Participants", "Reward Pool"],
        [[str(r.session_id), r.name, r.status.name.lower(), f"{r.current_round}/{r.total_rounds}",
          str(r.participants), format_tokens(r.reward_pool)] for r in rows],
    )  # fmt: skip
