"""Secure-aggregation parameters (the session spec's `secure_aggregation` entry) and what follows from them.

Arithmetic is in the ring Z_{2^ring_bits}, 64 or 32 (numpy unsigned words wrap silently), so masks are plain words
from the PRG and cancel exactly. A runner's update is clipped to [-clip, clip] per coordinate and quantized to
`bits` bits; it then enters the sum multiplied by its public sample count n_i (FedAvg's weight), so the ring must hold
sum(n_i) * (2^bits - 1): `max_total_weight` below is that limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from parity_p2p.secagg.errors import SecAggConfigError

RING_BITS = (32, 64)
MAX_BITS = 32
DEFAULT_FULL_GRAPH_MAX = 32  # up to this many runners every pair shares masks (Bonawitz); above, SecAgg+ (Bell)


@dataclass(frozen=True)
class SecAggParams:
    """`clip`: each coordinate of an update is clipped to [-clip, clip] before quantization (values outside are
    lost: pick it from the deltas' scale). `bits`: quantization levels 2^bits - 1 over that range. `rounding`:
    "stochastic" is unbiased (error < one step), "nearest" is deterministic (error <= half a step). `threshold`:
    shares needed to rebuild a secret, per neighbourhood (None: the smallest safe one, see `threshold_for`).
    `degree`: neighbours per runner in the sparse graph (None: ~2 log2 n). `full_graph_max`: sessions up to this
    size use the complete graph. `ring_bits`: 32 halves the masked vector's bytes, but the ring must then hold
    sum(n_i) * (2^bits - 1) in 32 bits (16 bits: up to 65,537 samples in the round)."""

    enabled: bool = True
    clip: float = 1.0
    bits: int = 16
    rounding: Literal["stochastic", "nearest"] = "stochastic"
    threshold: int | None = None
    degree: int | None = None
    full_graph_max: int = DEFAULT_FULL_GRAPH_MAX
    ring_bits: int = 64

    def __post_init__(self) -> None:
        if not (type(self.clip) in (int, float) and math.isfinite(self.clip) and self.clip > 0):
            raise SecAggConfigError("clip", f"must be a finite number > 0, got {self.clip!r}")
        if type(self.bits) is not int or not 1 <= self.bits <= MAX_BITS:
            raise SecAggConfigError("bits", f"must be an integer in 1..{MAX_BITS}, got {self.bits!r}")
        if self.rounding not in ("stochastic", "nearest"):
            raise SecAggConfigError("rounding", f"must be 'stochastic' or 'nearest', got {self.rounding!r}")
        if self.threshold is not None and (type(self.threshold) is not int or self.threshold < 2):
            raise SecAggConfigError("threshold", f"must be an integer >= 2, got {self.threshold!r}")
        if self.degree is not None and (type(self.degree) is not int or self.degree < 2 or self.degree % 2):
            raise SecAggConfigError("degree", f"must be an even integer >= 2, got {self.degree!r}")
        if self.ring_bits not in RING_BITS or type(self.ring_bits) is not int:
            raise SecAggConfigError("ring_bits", f"must be 32 or 64, got {self.ring_bits!r}")
        if self.bits >= self.ring_bits:
            raise SecAggConfigError("bits", f"must be below ring_bits {self.ring_bits}, got {self.bits}")
        if type(self.full_graph_max) is not int or self.full_graph_max < 2:
            raise SecAggConfigError("full_graph_max", f"must be an integer >= 2, got {self.full_graph_max!r}")

    @property
    def levels(self) -> int:
        """The largest quantized value: 2^bits - 1."""
        return (1 << self.bits) - 1

    @property
    def step(self) -> float:
        """One quantization step in update units."""
        return 2 * self.clip / self.levels

    @property
    def error_bound(self) -> float:
        """Per coordinate, for inputs inside [-clip, clip]: |secure weighted mean - exact weighted mean| <= this
        (plus float64 rounding). Half a step when rounding to nearest, one step when stochastic."""
        return self.step / 2 if self.rounding == "nearest" else self.step

    @property
    def max_total_weight(self) -> int:
        """The largest sum of sample counts the ring holds without wrapping."""
        return ((1 << self.ring_bits) - 1) // self.levels

    @property
    def word_dtype(self) -> type[np.unsignedinteger]:
        """The ring's numpy word type."""
        return np.uint64 if self.ring_bits == 64 else np.uint32

    def threshold_for(self, holders: int) -> int:
        """Shares needed out of `holders` (a runner's neighbours plus itself). The default, floor((h+1)/2) + 1, is the
        smallest t with 2t > h + 1: a leader holding one share of everyone (its own) cannot split the honest holders
        into one group revealing a runner's self-mask seed and another revealing its mask key, each reaching t."""
        need = self.threshold if self.threshold is not None else (holders + 1) // 2 + 1
        if need > holders:
            raise SecAggConfigError("threshold", f"{need} exceeds the {holders} share holders of a neighbourhood")
        if 2 * need <= holders:
            raise SecAggConfigError("threshold", f"{need} of {holders} is not a majority: two survivor sets could "
                                    "both be answered")  # fmt: skip
        return need
