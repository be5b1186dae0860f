"""The libp2p adapter: host, signed gossip, peer discovery, stream protocols. Plain Python at the boundary:
peer ids and multiaddrs are `str`, messages are dataclasses; no libp2p type leaves this package.

Start everything with `serve(NetworkConfig, account, membership, kinds)` in a nursery; it hands back a `Network`.
"""

import warnings

# py-libp2p 0.8.1 imports `websockets.legacy`, which warns on import. Any import of this package (even of
# topics.py) runs this first, so with `filterwarnings = error` nobody's tests fail on a warning we cannot fix.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)
    import libp2p  # noqa: F401

from .block_protocol import BLOCK_PROTOCOL as BLOCK_PROTOCOL
from .block_protocol import fetch_blocks as fetch_blocks
from .block_protocol import register_block_handler as register_block_handler
from .discovery import Discovery as Discovery
from .discovery import DiscoverySettings as DiscoverySettings
from .discovery import KnownPeer as KnownPeer
from .envelope import MAX_ENVELOPE_BYTES as MAX_ENVELOPE_BYTES
from .envelope import Envelope as Envelope
from .envelope import SigningDomain as SigningDomain
from .envelope import decode_envelope as decode_envelope
from .envelope import sign_envelope as sign_envelope
from .envelope import verify_envelope as verify_envelope
from .errors import BadFrame as BadFrame
from .errors import DialError as DialError
from .errors import EnvelopeError as EnvelopeError
from .errors import FrameTooLarge as FrameTooLarge
from .errors import GossipError as GossipError
from .errors import HostConfigError as HostConfigError
from .errors import KeyFileError as KeyFileError
from .errors import MeshTimeout as MeshTimeout
from .errors import NoiseTransportError as NoiseTransportError
from .errors import PublishError as PublishError
from .errors import SchemaError as SchemaError
from .errors import ServiceStopped as ServiceStopped
from .errors import StreamClosedEarly as StreamClosedEarly
from .errors import StreamOpenError as StreamOpenError
from .errors import StreamProtocolError as StreamProtocolError
from .errors import StreamTimeout as StreamTimeout
from .errors import TopicError as TopicError
from .errors import UpdateRejected as UpdateRejected
from .errors import YamuxProtocolError as YamuxProtocolError
from .host import GossipSettings as GossipSettings
from .host import HostConfig as HostConfig
from .host import P2PHost as P2PHost
from .metrics import DropReason as DropReason
from .metrics import GossipMetrics as GossipMetrics
from .network import Network as Network
from .network import NetworkConfig as NetworkConfig
from .network import serve as serve
from .pubsub import Gossip as Gossip
from .pubsub import GossipMessage as GossipMessage
from .streams import FramedStream as FramedStream
from .streams import StreamLimits as StreamLimits
from .topics import NETWORK_TOPIC as NETWORK_TOPIC
from .topics import PRESENCE as PRESENCE
from .topics import FieldType as FieldType
from .topics import KindRegistry as KindRegistry
from .topics import KindSpec as KindSpec
from .topics import Scope as Scope
from .topics import parse_topic as parse_topic
from .topics import session_topic as session_topic
from .transport_stack import TransportSettings as TransportSettings
from .update_protocol import UPDATE_PROTOCOL as UPDATE_PROTOCOL
from .update_protocol import UpdateLimits as UpdateLimits
from .update_protocol import UpdateOffer as UpdateOffer
from .update_protocol import UpdateSink as UpdateSink
from .update_protocol import Verdict as Verdict
from .update_protocol import push_update as push_update
from .update_protocol import register_update_handler as register_update_handler
from .validator import Membership as Membership
from .validator import ValidatorPolicy as ValidatorPolicy
from .yamux_frames import MuxerSettings as MuxerSettings
