"""Aggregation strategies: FedAvg, FedProx, FedNova, median, trimmed mean, (multi-)Krum, FedAdam, FedYogi."""

from parity_p2p.learning.strategies.base import AggregateResult as AggregateResult
from parity_p2p.learning.strategies.base import ClientUpdate as ClientUpdate
from parity_p2p.learning.strategies.base import ScreenedOut as ScreenedOut
from parity_p2p.learning.strategies.base import State as State
from parity_p2p.learning.strategies.base import Strategy as Strategy
from parity_p2p.learning.strategies.base import StrategyError as StrategyError
from parity_p2p.learning.strategies.base import apply_delta as apply_delta
from parity_p2p.learning.strategies.dp_fedavg import DpFedAvg as DpFedAvg
from parity_p2p.learning.strategies.fedavg import FedAvg as FedAvg
from parity_p2p.learning.strategies.fednova import FedNova as FedNova
from parity_p2p.learning.strategies.fedprox import FedProx as FedProx
from parity_p2p.learning.strategies.norm_screen import NormScreen as NormScreen
from parity_p2p.learning.strategies.norm_screen import screen_norms as screen_norms
from parity_p2p.learning.strategies.registry import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from parity_p2p.learning.strategies.registry import available_strategies as available_strategies
from parity_p2p.learning.strategies.registry import build_strategy as build_strategy
from parity_p2p.learning.strategies.robust import Krum as Krum
from parity_p2p.learning.strategies.robust import Median as Median
from parity_p2p.learning.strategies.robust import MultiKrum as MultiKrum
from parity_p2p.learning.strategies.robust import TrimmedMean as TrimmedMean
from parity_p2p.learning.strategies.server_opt import FedAdam as FedAdam
from parity_p2p.learning.strategies.server_opt import FedYogi as FedYogi
