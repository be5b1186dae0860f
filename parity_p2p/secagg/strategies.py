"""Which aggregation strategies can run on the secure sum, and why the others cannot.

Secure aggregation gives the leader one thing: the data-size-weighted mean of the runners' deltas. A strategy works
with it exactly when that mean is all it needs. Plug-in strategies are refused: nothing says what they need.
"""

from __future__ import annotations

WORKS: dict[str, str] = {
    "fedavg": "the weighted mean of the deltas is FedAvg",
    "fedprox": "FedAvg on the server; the proximal term only changes local training",
    "fedadam": "the server optimizer steps on the weighted mean delta",
    "fedyogi": "the server optimizer steps on the weighted mean delta",
}

CANNOT: dict[str, str] = {
    "median": "the coordinate-wise median needs every individual update",
    "trimmed_mean": "trimming the extremes needs every individual update",
    "krum": "Krum scores each update by its distances to the others",
    "multi_krum": "Multi-Krum scores each update by its distances to the others",
    "fednova": "FedNova divides each delta by that runner's own step count before summing (not implemented here)",
    "dp_fedavg": "central DP clips each update at the leader, which never sees one",
}


def incompatibility(strategy: str) -> str | None:
    """None when `strategy` works on the secure sum, else the reason it does not."""
    if strategy in WORKS:
        return None
    return CANNOT.get(strategy, "not known to work on a secure sum (only fedavg, fedprox, fedadam, fedyogi are)")
