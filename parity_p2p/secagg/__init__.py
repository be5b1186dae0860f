"""Secure aggregation (Bonawitz et al. 2017; SecAgg+ graph of Bell et al. 2020): the leader learns only the sum.

Pure protocol library (no networking): docs/secagg.md has the protocol, threat model and parameters; the node
carries its messages over gossip and the update stream protocol.
"""

from parity_p2p.secagg.aggregator import UnmaskedSum as UnmaskedSum
from parity_p2p.secagg.aggregator import choose_survivors as choose_survivors
from parity_p2p.secagg.aggregator import unmask as unmask
from parity_p2p.secagg.context import RoundContext as RoundContext
from parity_p2p.secagg.errors import DecryptionFailed as DecryptionFailed
from parity_p2p.secagg.errors import InvalidMessage as InvalidMessage
from parity_p2p.secagg.errors import NotEnoughPeers as NotEnoughPeers
from parity_p2p.secagg.errors import NotEnoughShares as NotEnoughShares
from parity_p2p.secagg.errors import PhaseError as PhaseError
from parity_p2p.secagg.errors import QuantizationError as QuantizationError
from parity_p2p.secagg.errors import RevealRefused as RevealRefused
from parity_p2p.secagg.errors import SecAggConfigError as SecAggConfigError
from parity_p2p.secagg.errors import SecAggError as SecAggError
from parity_p2p.secagg.errors import ShareMismatch as ShareMismatch
from parity_p2p.secagg.graph import NeighbourGraph as NeighbourGraph
from parity_p2p.secagg.graph import build_graph as build_graph
from parity_p2p.secagg.messages import KeyAdvert as KeyAdvert
from parity_p2p.secagg.messages import MaskedInput as MaskedInput
from parity_p2p.secagg.messages import Reveal as Reveal
from parity_p2p.secagg.messages import RevealedShare as RevealedShare
from parity_p2p.secagg.messages import ShareKind as ShareKind
from parity_p2p.secagg.messages import SharePacket as SharePacket
from parity_p2p.secagg.messages import SurvivorSet as SurvivorSet
from parity_p2p.secagg.params import SecAggParams as SecAggParams
from parity_p2p.secagg.runner import RunnerRound as RunnerRound
