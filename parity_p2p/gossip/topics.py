"""Topic names and the registry of message kinds (payload schemas) allowed on them."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import SchemaError, TopicError

NETWORK_TOPIC = "parity/v1/network"
"""Network-wide: presence records (peer exchange) and session announcements."""

SESSION_TOPIC_PREFIX = "parity/v1/session/"


def session_topic(session_id: int) -> str:
    """`parity/v1/session/<id>`, one per session (ids start at 1 on-chain)."""
    if session_id <= 0:
        raise TopicError(f"{SESSION_TOPIC_PREFIX}{session_id}", "session ids start at 1")
    return f"{SESSION_TOPIC_PREFIX}{session_id}"


class Scope(enum.Enum):
    NETWORK = "network"
    SESSION = "session"


@dataclass(frozen=True)
class TopicInfo:
    scope: Scope
    session_id: int  # 0 for the network topic


def parse_topic(topic: str) -> TopicInfo:
    if topic == NETWORK_TOPIC:
        return TopicInfo(Scope.NETWORK, 0)
    if topic.startswith(SESSION_TOPIC_PREFIX):
        digits = topic[len(SESSION_TOPIC_PREFIX):]
        # Only canonical decimal: "007" would be a second topic name for session 7.
        if digits.isascii() and digits.isdigit() and not digits.startswith("0"):
            return TopicInfo(Scope.SESSION, int(digits))
    raise TopicError(topic, f"expected {NETWORK_TOPIC} or {SESSION_TOPIC_PREFIX}<id>")


class FieldType(enum.Enum):
    STR = "string"
    INT = "integer"
    NUMBER = "number"
    BOOL = "boolean"
    STR_LIST = "array of strings"
    LIST = "array"
    OBJECT = "object"

    def accepts(self, value: Any) -> bool:
        # bool is an int subclass in Python; JSON keeps them apart, so do we.
        match self:
            case FieldType.STR:
                return isinstance(value, str)
            case FieldType.INT:
                return type(value) is int
            case FieldType.NUMBER:
                return type(value) in (int, float)
            case FieldType.BOOL:
                return type(value) is bool
            case FieldType.STR_LIST:
                return isinstance(value, list) and all(isinstance(v, str) for v in value)
            case FieldType.LIST:
                return isinstance(value, list)
            case FieldType.OBJECT:
                return isinstance(value, dict)


@dataclass(frozen=True)
class KindSpec:
    """Schema of one message kind at one version: exactly these payload fields, these types."""

    kind: str
    version: int
    scope: Scope
    fields: Mapping[str, FieldType] = field(hash=False)

    def check_payload(self, payload: Mapping[str, Any]) -> None:
        keys = set(payload)
        if keys != set(self.fields):
            missing, extra = sorted(set(self.fields) - keys), sorted(keys - set(self.fields))
            raise SchemaError(self.kind, f"v{self.version} payload: missing {missing}, unexpected {extra}")
        for name, ftype in self.fields.items():
            if not ftype.accepts(payload[name]):
                raise SchemaError(self.kind, f"field {name!r} must be {ftype.value}")


PRESENCE = KindSpec(
    kind="presence",
    version=1,
    scope=Scope.NETWORK,
    fields={"peer_id": FieldType.STR, "addrs": FieldType.STR_LIST},
)


class KindRegistry:
    """Kinds the validator accepts. The gossip layer registers `presence`; the node registers its round messages."""

    def __init__(self, specs: Iterable[KindSpec] = (PRESENCE,)) -> None:
        self._specs: dict[tuple[str, int], KindSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: KindSpec) -> None:
        key = (spec.kind, spec.version)
        if key in self._specs and self._specs[key] != spec:
            raise SchemaError(spec.kind, f"v{spec.version} already registered with another schema")
        self._specs[key] = spec

    def lookup(self, kind: str, version: int) -> KindSpec:
        spec = self._specs.get((kind, version))
        if spec is None:
            raise SchemaError(kind, f"unknown kind or version v{version}")
        return spec

    def kinds(self) -> list[KindSpec]:
        return sorted(self._specs.values(), key=lambda s: (s.kind, s.version))
