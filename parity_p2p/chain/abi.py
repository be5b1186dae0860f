"""Exported contract ABIs and bytecode (package data), and ABI encoding/decoding with eth_abi.

The JSON files in parity_p2p/chain/abi/ are written by `node scripts/export_abi.js` as
`{"contractName", "abi", "bytecode"}`; Python never needs node or the Hardhat artifacts at run time.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from parity_p2p.chain.errors import AbiEncodingError, AbiNotFoundError, ChainError

TOKEN = "MockUSDFC"
REGISTRY = "RunnerRegistry"
SESSION_MANAGER = "SessionManager"
CONTRACT_NAMES = (TOKEN, REGISTRY, SESSION_MANAGER)
# Development override: read ABIs from this directory instead of the installed package data.
ABI_DIR_ENV = "PARITY_CHAIN_ABI_DIR"

AbiEntry = Mapping[str, Any]


def param_type(param: AbiEntry) -> str:
    """Canonical ABI type string of one parameter, tuples spelled out: `(address,bytes32,uint64,uint64)[]`."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(param_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def _types(params: Sequence[AbiEntry]) -> list[str]:
    return [param_type(p) for p in params]


def _signature(entry: AbiEntry) -> str:
    return f"{entry['name']}({','.join(_types(entry.get('inputs', [])))})"


def normalise(kind: str, value: Any) -> Any:
    """eth_abi output to plain Python: checksummed addresses, tuples for arrays and structs."""
    if kind.endswith("]"):
        inner = kind[: kind.rindex("[")]
        return tuple(normalise(inner, v) for v in value)
    if kind.startswith("("):
        return tuple(normalise(t, v) for t, v in zip(_split_tuple(kind), value, strict=True))
    if kind == "address":
        return to_checksum_address(value)
    return value


def _split_tuple(kind: str) -> list[str]:
    """`(a,(b,c)[],d)` -> [`a`, `(b,c)[]`, `d`]."""
    body, parts, depth, start = kind[1:-1], [], 0, 0
    for i, ch in enumerate(body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    if body:
        parts.append(body[start:])
    return parts


def decode_values(params: Sequence[AbiEntry], data: bytes) -> tuple[Any, ...]:
    types = _types(params)
    try:
        raw = decode(types, data)
    except DecodingError as exc:
        raise ChainError(f"cannot decode {types} from {len(data)} bytes: {exc}") from None
    return tuple(normalise(t, v) for t, v in zip(types, raw, strict=True))


@dataclass(frozen=True)
class ErrorAbi:
    name: str
    arg_names: tuple[str, ...]
    inputs: tuple[AbiEntry, ...]


@dataclass(frozen=True)
class EventAbi:
    name: str
    topic0: bytes
    inputs: tuple[AbiEntry, ...]


@dataclass(frozen=True)
class ContractAbi:
    """One contract's ABI and creation bytecode, with lookups by name, selector and topic."""

    name: str
    entries: tuple[AbiEntry, ...]
    bytecode: bytes
    _functions: dict[str, AbiEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        functions: dict[str, AbiEntry] = {}
        for entry in self.entries:
            if entry.get("type") == "function":
                if entry["name"] in functions:
                    raise ChainError(f"{self.name}.{entry['name']} is overloaded: the client needs unique names")
                functions[entry["name"]] = entry
        object.__setattr__(self, "_functions", functions)

    def function(self, fn: str) -> AbiEntry:
        try:
            return self._functions[fn]
        except KeyError:
            raise ChainError(f"{self.name} has no function {fn!r}: stale ABI? re-export it") from None

    def encode_call(self, fn: str, args: Sequence[Any]) -> bytes:
        entry = self.function(fn)
        types = _types(entry["inputs"])
        try:
            encoded = encode(types, list(args))
        except (EncodingError, TypeError, ValueError) as exc:
            raise AbiEncodingError(f"{self.name}.{fn} arguments do not fit {types}: {exc}") from None
        return function_signature_to_4byte_selector(_signature(entry)) + encoded

    def decode_result(self, fn: str, data: bytes) -> tuple[Any, ...]:
        return decode_values(self.function(fn)["outputs"], data)

    def encode_deploy(self, args: Sequence[Any]) -> bytes:
        constructor = next((e for e in self.entries if e.get("type") == "constructor"), None)
        inputs = constructor["inputs"] if constructor else []
        try:
            return self.bytecode + encode(_types(inputs), list(args))
        except (EncodingError, TypeError, ValueError) as exc:
            raise AbiEncodingError(f"{self.name} constructor arguments do not fit: {exc}") from None

    def errors(self) -> list[ErrorAbi]:
        return [
            ErrorAbi(e["name"], tuple(i.get("name", "") for i in e["inputs"]), tuple(e["inputs"]))
            for e in self.entries
            if e.get("type") == "error"
        ]

    def events(self) -> list[EventAbi]:
        return [
            EventAbi(e["name"], keccak(text=_signature(e)), tuple(e["inputs"]))
            for e in self.entries
            if e.get("type") == "event" and not e.get("anonymous", False)
        ]


def error_selector(error: ErrorAbi) -> bytes:
    return function_signature_to_4byte_selector(f"{error.name}({','.join(_types(error.inputs))})")


@functools.cache
def load_contract(name: str) -> ContractAbi:
    """The exported ABI + bytecode of `name` (one of CONTRACT_NAMES), read from package data
    (or from the directory in $PARITY_CHAIN_ABI_DIR)."""
    override = os.environ.get(ABI_DIR_ENV)
    resource = (
        Path(override) / f"{name}.json"
        if override
        else resources.files("parity_p2p.chain").joinpath("abi", f"{name}.json")
    )
    try:
        text = resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AbiNotFoundError(name) from None
    try:
        data = json.loads(text)
        abi, bytecode = data["abi"], data["bytecode"]
    except (ValueError, KeyError) as exc:
        raise ChainError(f"abi/{name}.json is malformed ({exc}): re-export it") from None
    return ContractAbi(name, tuple(abi), bytes.fromhex(bytecode.removeprefix("0x")))
