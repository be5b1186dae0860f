"""Errors of the libp2p adapter: one base, narrow subclasses that carry what went wrong."""

from __future__ import annotations


class GossipError(Exception):
    """Base of every error raised by parity_p2p.gossip."""


class KeyFileError(GossipError):
    """The libp2p key file cannot be read, parsed or written."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"libp2p key file {path}: {reason}")
        self.path = path
        self.reason = reason


class HostConfigError(GossipError):
    """A host setting is invalid (bad multiaddr, impossible limits)."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"invalid host setting {setting}: {reason}")
        self.setting = setting
        self.reason = reason


class DialError(GossipError):
    """A peer could not be reached at the given address."""

    def __init__(self, addr: str, reason: str) -> None:
        super().__init__(f"cannot connect to {addr}: {reason}")
        self.addr = addr
        self.reason = reason


class EnvelopeError(GossipError):
    """A gossip envelope is malformed, too large, or its signature does not verify."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class PublishError(GossipError):
    """A message could not be published (too large, not started, libp2p failure)."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"cannot publish on {topic}: {reason}")
        self.topic = topic
        self.reason = reason


class StreamProtocolError(GossipError):
    """A framed stream exchange failed."""


class FrameTooLarge(StreamProtocolError):
    """A peer announced a frame larger than the cap; nothing of it was read."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the cap of {limit} bytes")
        self.size = size
        self.limit = limit


class StreamTimeout(StreamProtocolError):
    """A read or write did not complete in time."""

    def __init__(self, operation: str, seconds: float) -> None:
        super().__init__(f"{operation} timed out after {seconds:g} s")
        self.operation = operation
        self.seconds = seconds


class StreamClosedEarly(StreamProtocolError):
    """The peer closed or reset the stream before a whole frame arrived."""

    def __init__(self, expected: int, received: int) -> None:
        super().__init__(f"stream ended after {received} of {expected} bytes")
        self.expected = expected
        self.received = received


class BadFrame(StreamProtocolError):
    """A frame arrived whole but its content is not what the protocol expects."""

    def __init__(self, protocol: str, reason: str) -> None:
        super().__init__(f"{protocol}: {reason}")
        self.protocol = protocol
        self.reason = reason


class StreamOpenError(StreamProtocolError):
    """A stream to a peer could not be opened (not connected, protocol unsupported)."""

    def __init__(self, peer_id: str, protocol: str, reason: str) -> None:
        super().__init__(f"cannot open {protocol} to {peer_id}: {reason}")
        self.peer_id = peer_id
        self.protocol = protocol
        self.reason = reason


class NoiseTransportError(StreamProtocolError):
    """A Noise transport message is malformed or fails authentication; its connection is unusable."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"noise transport: {reason}")
        self.reason = reason


class YamuxProtocolError(StreamProtocolError):
    """A peer broke the Yamux protocol (e.g. sent past its flow-control credit); its connection is closed."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"yamux protocol violation: {reason}")
        self.reason = reason


class UpdateRejected(GossipError):
    """The receiving leader refused a pushed update; `reason` is its answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"update rejected: {reason}")
        self.reason = reason


class TopicError(GossipError):
    """A topic name is not one of ours."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"topic {topic!r}: {reason}")
        self.topic = topic
        self.reason = reason


class SchemaError(GossipError):
    """A message kind is unknown or its payload does not match the registered schema."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"kind {kind!r}: {reason}")
        self.kind = kind
        self.reason = reason


class MeshTimeout(GossipError):
    """The gossipsub mesh of a topic did not reach the wanted size in time."""

    def __init__(self, topic: str, wanted: int, have: int, seconds: float) -> None:
        super().__init__(f"mesh of {topic} has {have} of {wanted} peers after {seconds:g} s")
        self.topic = topic
        self.wanted = wanted
        self.have = have
        self.seconds = seconds


class ServiceStopped(GossipError):
    """A py-libp2p service of the host (pubsub, gossipsub) stopped on its own; the host cannot go on."""

    def __init__(self, service: str) -> None:
        super().__init__(f"the libp2p {service} service stopped unexpectedly (its error is in the libp2p log)")
        self.service = service
