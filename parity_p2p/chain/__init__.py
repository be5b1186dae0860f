"""Chain adapter: typed async clients for the contracts, deployments, event watcher, keys.

Nothing outside this package needs web3 types: everything here takes and returns plain Python values and
dataclasses. Runs on trio (JSON-RPC over httpx).
"""

from parity_p2p.chain.abi import CONTRACT_NAMES as CONTRACT_NAMES
from parity_p2p.chain.abi import load_contract as load_contract
from parity_p2p.chain.client import ChainClient as ChainClient
from parity_p2p.chain.client import event_decoder as event_decoder
from parity_p2p.chain.contracts import RegistryClient as RegistryClient
from parity_p2p.chain.contracts import SessionManagerClient as SessionManagerClient
from parity_p2p.chain.contracts import TokenClient as TokenClient
from parity_p2p.chain.deployment import Deployment as Deployment
from parity_p2p.chain.deployment import deploy as deploy
from parity_p2p.chain.deployment import load_deployment as load_deployment
from parity_p2p.chain.deployment import verify_deployment as verify_deployment
from parity_p2p.chain.errors import AbiNotFoundError as AbiNotFoundError
from parity_p2p.chain.errors import ChainError as ChainError
from parity_p2p.chain.errors import ChainIdMismatchError as ChainIdMismatchError
from parity_p2p.chain.errors import ChainReorgError as ChainReorgError
from parity_p2p.chain.errors import ContractRevert as ContractRevert
from parity_p2p.chain.errors import DeploymentError as DeploymentError
from parity_p2p.chain.errors import KeyLoadError as KeyLoadError
from parity_p2p.chain.errors import MissingCodeError as MissingCodeError
from parity_p2p.chain.errors import NoSignerError as NoSignerError
from parity_p2p.chain.errors import ReceiptTimeoutError as ReceiptTimeoutError
from parity_p2p.chain.errors import RpcError as RpcError
from parity_p2p.chain.errors import RpcUnavailableError as RpcUnavailableError
from parity_p2p.chain.errors import TransactionFailedError as TransactionFailedError
from parity_p2p.chain.errors import WiringMismatchError as WiringMismatchError
from parity_p2p.chain.events import ChainEvent as ChainEvent
from parity_p2p.chain.events import EventMeta as EventMeta
from parity_p2p.chain.events import LogPosition as LogPosition
from parity_p2p.chain.keys import account_from_env as account_from_env
from parity_p2p.chain.keys import account_from_hex as account_from_hex
from parity_p2p.chain.keys import account_from_keystore as account_from_keystore
from parity_p2p.chain.keys import write_keystore as write_keystore
from parity_p2p.chain.rpc import JsonRpc as JsonRpc
from parity_p2p.chain.sender import TxPolicy as TxPolicy
from parity_p2p.chain.sender import TxReceipt as TxReceipt
from parity_p2p.chain.types import Contribution as Contribution
from parity_p2p.chain.types import EligibleLeader as EligibleLeader
from parity_p2p.chain.types import Proposal as Proposal
from parity_p2p.chain.types import Reputation as Reputation
from parity_p2p.chain.types import RoundRecord as RoundRecord
from parity_p2p.chain.types import RoundResult as RoundResult
from parity_p2p.chain.types import Runner as Runner
from parity_p2p.chain.types import SessionParams as SessionParams
from parity_p2p.chain.types import SessionStatus as SessionStatus
from parity_p2p.chain.types import SessionView as SessionView
from parity_p2p.chain.watcher import EventWatcher as EventWatcher
from parity_p2p.chain.watcher import WatcherConfig as WatcherConfig
