"""The daemon's default answers to the session routes, read from the SessionManager contract.

Used until a session service is plugged in (and by it, if it likes, for sessions it does not follow).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from parity_p2p.node.services import RoundInfo, SessionInfo

if TYPE_CHECKING:
    from parity_p2p.chain import ChainClient, SessionView

MAX_LISTED = 100
"""/v1/sessions lists at most the newest this many sessions (each costs two eth_calls)."""
METRIC_SCALE = 1e6
"""Loss and accuracy are stored on-chain multiplied by 1e6."""


class ChainSessions:
    def __init__(self, chain: ChainClient, account: str) -> None:
        self._chain = chain
        self._account = account

    async def list_sessions(self) -> Sequence[SessionInfo]:
        count = await self._chain.sessions.session_count()
        found = []
        for session_id in range(count, max(0, count - MAX_LISTED), -1):
            info = await self.session(session_id)
            if info is not None:
                found.append(info)
        return found

    async def session(self, session_id: int) -> SessionInfo | None:
        view = await self._view(session_id)
        if view is None:
            return None
        joined = await self._chain.sessions.is_participant(session_id, self._account)
        p = view.params
        return SessionInfo(
            session_id=session_id,
            name=p.name,
            status=view.status.name.lower(),
            current_round=view.current_round,
            total_rounds=p.total_rounds,
            participant_count=view.participant_count,
            min_participants=p.min_participants,
            max_participants=p.max_participants,
            reward_pool=p.reward_pool,
            dataset_cid=p.dataset_cid,
            spec_cid=p.spec_cid,
            final_model_cid=view.final_model_cid,
            joined=joined,
        )

    async def rounds(self, session_id: int) -> Sequence[RoundInfo] | None:
        view = await self._view(session_id)
        if view is None:
            return None
        last = min(view.current_round, view.params.total_rounds)
        rounds = []
        for number in range(1, last + 1):
            record = await self._chain.sessions.get_round(session_id, number)
            rounds.append(
                RoundInfo(
                    round=number,
                    model_cid=record.model_cid,
                    leader=record.leader,
                    loss=record.loss / METRIC_SCALE,
                    accuracy=record.accuracy / METRIC_SCALE,
                    finalized_at=record.finalized_at,
                )
            )
        return rounds

    async def _view(self, session_id: int) -> SessionView | None:
        from parity_p2p.chain import SessionStatus

        if session_id < 1 or session_id > await self._chain.sessions.session_count():
            return None
        view = await self._chain.sessions.get_session(session_id)
        return None if view.status is SessionStatus.NONE else view
