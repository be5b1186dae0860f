"""Typed errors of secure aggregation: one base, narrow subclasses that carry what went wrong.

Every error keeps its constructor arguments in ``args`` so it pickles and compares by content in tests.
"""

from __future__ import annotations

from typing import ClassVar


class SecAggError(Exception):
    """Base of every error raised by ``parity_p2p.secagg``."""

    exit_code: ClassVar[int] = 2


class SecAggConfigError(SecAggError):
    """Secure-aggregation parameters that cannot work; ``field`` names the offending one."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"secure aggregation {self.field}: {self.reason}"


class QuantizationError(SecAggError):
    """A vector or weight that cannot be encoded into the ring (not finite, empty, weight too large)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"quantization: {self.reason}"


class PhaseError(SecAggError):
    """A protocol step called out of order (e.g. masking before the shares were exchanged)."""

    def __init__(self, step: str, phase: str) -> None:
        super().__init__(step, phase)
        self.step = step
        self.phase = phase

    def __str__(self) -> str:
        return f"cannot {self.step} in phase {self.phase}"


class NotEnoughPeers(SecAggError):
    """Fewer share holders (or survivors) than the threshold: going on would protect nothing or recover nothing."""

    def __init__(self, runner: str, have: int, need: int, what: str) -> None:
        super().__init__(runner, have, need, what)
        self.runner = runner
        self.have = have
        self.need = need
        self.what = what

    def __str__(self) -> str:
        return f"runner {self.runner}: {self.have} {self.what}, the threshold is {self.need}"


class NotEnoughShares(SecAggError):
    """Fewer revealed shares of one secret than the threshold: Shamir reconstructs nothing from them."""

    def __init__(self, about: str, kind: str, have: int, need: int) -> None:
        super().__init__(about, kind, have, need)
        self.about = about
        self.kind = kind
        self.have = have
        self.need = need

    def __str__(self) -> str:
        return f"{self.have} {self.kind} shares of runner {self.about}, {self.need} needed"


class ShareMismatch(SecAggError):
    """Reconstructed secret does not match the runner's public commitment: some revealed share is wrong."""

    def __init__(self, about: str, kind: str) -> None:
        super().__init__(about, kind)
        self.about = about
        self.kind = kind

    def __str__(self) -> str:
        return f"the {self.kind} secret rebuilt for runner {self.about} does not match its advertised commitment"


class RevealRefused(SecAggError):
    """An honest runner's refusal to reveal shares for this survivor set (the rule that protects single inputs)."""

    def __init__(self, runner: str, reason: str) -> None:
        super().__init__(runner, reason)
        self.runner = runner
        self.reason = reason

    def __str__(self) -> str:
        return f"runner {self.runner} refuses to reveal: {self.reason}"


class InvalidMessage(SecAggError):
    """A protocol message that is malformed or inconsistent with the round (wrong sender, size, round...)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(kind, reason)
        self.kind = kind
        self.reason = reason

    def __str__(self) -> str:
        return f"secagg {self.kind}: {self.reason}"


class DecryptionFailed(SecAggError):
    """An encrypted share that does not open under the pairwise key with its binding (forged, replayed, misrouted)."""

    def __init__(self, sender: str, recipient: str) -> None:
        super().__init__(sender, recipient)
        self.sender = sender
        self.recipient = recipient

    def __str__(self) -> str:
        return f"share from {self.sender} to {self.recipient} does not decrypt under their pairwise key"
