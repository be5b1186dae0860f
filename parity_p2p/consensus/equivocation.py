"""Equivocation: a leader that signs two different proposals for one round.

Every node keeps the signed proposals it sees; the second, different one from the same signer for the same
(session, round) is evidence that anyone may submit on-chain (`reportEquivocation`), which slashes the signer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignedProposal:
    session_id: int
    round: int
    signer: str  # recovered from the signature, never taken from the message
    model_cid: str
    updates_root: bytes
    signature: bytes

    @property
    def body(self) -> tuple[str, bytes]:
        return (self.model_cid, self.updates_root)


@dataclass(frozen=True)
class Evidence:
    first: SignedProposal
    second: SignedProposal


class ProposalBook:
    """The first proposal seen per (session, round, signer); conflicting later ones become evidence once."""

    def __init__(self) -> None:
        self._first: dict[tuple[int, int, str], SignedProposal] = {}
        self._reported: set[tuple[int, int, str]] = set()

    def record(self, proposal: SignedProposal) -> Evidence | None:
        key = (proposal.session_id, proposal.round, proposal.signer.lower())
        first = self._first.setdefault(key, proposal)
        if first.body == proposal.body or key in self._reported:
            return None
        self._reported.add(key)
        return Evidence(first, proposal)

    def forget_session(self, session_id: int) -> None:
        """Drop a finished session's proposals (evidence stays reportable only while the node keeps them)."""
        self._first = {k: v for k, v in self._first.items() if k[0] != session_id}
        self._reported = {k for k in self._reported if k[0] != session_id}
