"""Strategy names -> strategies: the built-ins plus any registered under the `parity_p2p.strategies`
entry-point group (a Strategy subclass or a factory returning one)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from parity_p2p.learning.strategies.base import Strategy, StrategyError
from parity_p2p.learning.strategies.dp_fedavg import DpFedAvg
from parity_p2p.learning.strategies.fedavg import FedAvg
from parity_p2p.learning.strategies.fednova import FedNova
from parity_p2p.learning.strategies.fedprox import FedProx
from parity_p2p.learning.strategies.robust import Krum, Median, MultiKrum, TrimmedMean
from parity_p2p.learning.strategies.server_opt import FedAdam, FedYogi

ENTRY_POINT_GROUP = "parity_p2p.strategies"

BUILTIN: dict[str, Callable[..., Strategy]] = {
    cls.name: cls
    for cls in (FedAvg, FedProx, FedNova, Median, TrimmedMean, Krum, MultiKrum, FedAdam, FedYogi, DpFedAvg)
}


def available_strategies() -> list[str]:
    """Every name `build_strategy` accepts, built-ins first."""
    plugins = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN)
    return [*BUILTIN, *plugins]


def _load_plugin(name: str) -> Callable[..., Strategy]:
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        raise StrategyError(name, f"unknown strategy; available: {', '.join(available_strategies())}")
    try:
        loaded = matches[0].load()
    except (ImportError, AttributeError) as error:
        raise StrategyError(name, f"entry point {matches[0].value!r} does not load: {error}") from None
    if not callable(loaded):
        raise StrategyError(name, f"entry point {matches[0].value!r} is not a class or factory")
    factory: Callable[..., Strategy] = loaded
    return factory


def build_strategy(name: str, **params: Any) -> Strategy:
    """A fresh strategy by name with its parameters (e.g. build_strategy("fedprox", mu=0.1))."""
    factory = BUILTIN.get(name) or _load_plugin(name)
    try:
        strategy = factory(**params)
    except TypeError as error:
        raise StrategyError(name, f"bad parameters {sorted(params)}: {error}") from None
    if not isinstance(strategy, Strategy):
        raise StrategyError(name, f"factory returned {type(strategy).__name__}, not a Strategy")
    return strategy
