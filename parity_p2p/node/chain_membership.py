"""The gossip validator's questions (registered? participant? which round?) answered from the chain, cached.

Every gossip message asks; the chain answers in milliseconds but a burst of messages would turn into a burst
of RPC calls. Answers live `ttl_s` seconds: a runner that registers or joins is recognised within that time,
and the session runner can `invalidate()` when it sees the chain event that changes an answer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, TypeVar

from eth_utils.address import to_checksum_address

if TYPE_CHECKING:
    from parity_p2p.chain import ChainClient
    from parity_p2p.gossip.validator import Membership

T = TypeVar("T")
MAX_ENTRIES = 10_000
PARTICIPANT_TTL_S = 600.0


class ChainMembership:
    def __init__(self, chain: ChainClient, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._chain = chain
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[Hashable, tuple[float, object]] = {}
        self._noted_rounds: dict[int, int] = {}
        self.chain_calls = 0

    async def is_registered(self, address: str) -> bool:
        account = to_checksum_address(address)
        return await self._cached(("registered", account), lambda: self._chain.registry.is_registered(account))

    async def is_participant(self, session_id: int, address: str) -> bool:
        account = to_checksum_address(address)
        key = ("participant", session_id, account)
        answer = await self._cached(key, lambda: self._chain.sessions.is_participant(session_id, account))
        if answer:
            # The contract never removes a participant: a yes is kept (bounded, in case a reorg undid the join).
            expires, value = self._cache[key]
            self._cache[key] = (max(expires, self._clock() + PARTICIPANT_TTL_S), value)
        return answer

    async def current_round(self, session_id: int) -> int:
        async def ask() -> int:
            return (await self._chain.sessions.get_session(session_id)).current_round

        cached = await self._cached(("round", session_id), ask)
        return max(cached, self._noted_rounds.get(session_id, 0))

    def note_round(self, session_id: int, round_number: int) -> None:
        """The session runner saw the chain open `round_number`: rounds can turn over faster than `ttl_s`, and a
        stale answer would make the validator drop the new round's messages as from the future."""
        if round_number > self._noted_rounds.get(session_id, 0):
            self._noted_rounds[session_id] = round_number

    def invalidate(self) -> None:
        self._cache.clear()

    def membership(self) -> Membership:
        from parity_p2p.gossip.validator import Membership

        return Membership(self.is_registered, self.is_participant, self.current_round)

    async def _cached(self, key: Hashable, ask: Callable[[], Awaitable[T]]) -> T:
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]  # type: ignore[return-value]  # stored by this same key's `ask`
        value = await ask()
        self.chain_calls += 1
        if len(self._cache) >= MAX_ENTRIES:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
        self._cache[key] = (now + self._ttl_s, value)
        return value
