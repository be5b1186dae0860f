"""The node's configuration: config.toml in the data directory, read into typed, validated dataclasses.

TOML because it is read by the standard library (tomllib) and a person can comment it; we write it ourselves
(`render_toml`) since every value is a string, number, boolean or list of strings. Every error names the field
as it is spelled in the file (`network.listen`, `policy.max_concurrent_sessions`, ...). Flags given to
`parity-node start` override the file through `NodeOverrides`.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import multiaddr

from parity_p2p.node.errors import ConfigError

TOKEN_DECIMALS = 18
DEFAULT_LISTEN = ("/ip4/127.0.0.1/tcp/0",)
"""Loopback and a random port: nobody outside this machine can reach a fresh node until you say so. To accept
peers from the network, listen on /ip4/0.0.0.0/tcp/4001 (and open that port)."""
DEFAULT_API_PORT = 7400
MAX_API_BODY_BYTES = 64 * 1024 * 1024
MODEL_TYPES = ("neural_network", "linear_regression", "custom")
"""learning.model_config.MODEL_TYPES, repeated so that reading a config does not import torch."""


@dataclass(frozen=True)
class NetworkConfig:
    listen: tuple[str, ...] = DEFAULT_LISTEN
    bootstrap: tuple[str, ...] = ()
    """Full multiaddrs ending in /p2p/<peer id>."""
    max_connections: int = 64
    target_peers: int = 8
    """Discovery keeps dialling peers it hears of until it has this many connections (gossip needs >= 4)."""

    def __post_init__(self) -> None:
        if not self.listen:
            raise ConfigError("network.listen", "needs at least one address, e.g. /ip4/127.0.0.1/tcp/0")
        for addr in self.listen:
            _check_multiaddr("network.listen", addr)
        for addr in self.bootstrap:
            _check_multiaddr("network.bootstrap", addr)
            if "/p2p/" not in addr:
                raise ConfigError("network.bootstrap", f"{addr!r} lacks /p2p/<peer id>")
        _check_int("network.target_peers", self.target_peers, 4, 1024)
        _check_int("network.max_connections", self.max_connections, self.target_peers, 10_000)


@dataclass(frozen=True)
class ChainConfig:
    rpc_url: str = "http://127.0.0.1:8545"
    deployment: Path = Path("deployment.json")
    """The deployment file (addresses of the contracts); a relative path is relative to the data directory."""
    membership_ttl_s: float = 5.0
    """How long answers of the registry and session manager are cached for the gossip validator."""

    def __post_init__(self) -> None:
        url = urlparse(self.rpc_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError("chain.rpc_url", f"{self.rpc_url!r} is not an http(s) URL")
        if not 0 < self.membership_ttl_s <= 600:
            raise ConfigError("chain.membership_ttl_s", f"must be in (0, 600], got {self.membership_ttl_s}")


@dataclass(frozen=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_API_PORT
    """0 picks a free port; the node writes the one it bound to <data dir>/api.json."""
    allow_remote: bool = False
    """The API controls the node's keys and money: it only listens on a non-loopback host when this is true."""
    max_body_bytes: int = MAX_API_BODY_BYTES

    def __post_init__(self) -> None:
        try:
            address = ipaddress.ip_address(self.host)
        except ValueError:
            raise ConfigError("api.host", f"{self.host!r} is not an IP address") from None
        if not address.is_loopback and not self.allow_remote:
            raise ConfigError(
                "api.host", f"{self.host} is not a loopback address; set api.allow_remote = true to expose the API"
            )
        _check_int("api.port", self.port, 0, 65535)
        _check_int("api.max_body_bytes", self.max_body_bytes, 1024, 1 << 34)


@dataclass(frozen=True)
class PolicyConfig:
    """Which sessions the node joins by itself and what it does when they end."""

    max_concurrent_sessions: int = 2
    accepted_model_types: tuple[str, ...] = ("neural_network", "linear_regression")
    """Model types of session specs this node trains. "custom" runs code the session creator names: opt in."""
    min_reward_per_round: int = 0
    """In token base units (18 decimals); the file holds tokens as a decimal string, e.g. "0.5"."""
    auto_join: bool = True
    auto_claim: bool = True
    max_recompute_bytes: int = 256 * 1024 * 1024
    """Above this (included updates x model size) a follower does not recompute the leader's aggregate; it checks the
    proposal's structure and that the model does not blow up its own held-out loss (docs/protocol.md)."""
    torch_threads: int = 0
    """torch's intra-op threads (process-wide, set when a session starts); 0 = automatic: 1 for models under 1M
    parameters, torch's default (all cores) above."""

    def __post_init__(self) -> None:
        _check_int("policy.max_concurrent_sessions", self.max_concurrent_sessions, 0, 1000)
        for kind in self.accepted_model_types:
            if kind not in MODEL_TYPES:
                raise ConfigError("policy.accepted_model_types", f"{kind!r} is not one of {', '.join(MODEL_TYPES)}")
        if self.min_reward_per_round < 0:
            raise ConfigError("policy.min_reward_per_round", "must not be negative")
        _check_int("policy.max_recompute_bytes", self.max_recompute_bytes, 0, 1 << 50)
        _check_int("policy.torch_threads", self.torch_threads, 0, 1024)


@dataclass(frozen=True)
class NodeConfig:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    datasets: Mapping[str, Path] = field(default_factory=dict)
    """Local data for private-data sessions: a session's dataset schema name -> CSV path. Never sent anywhere."""

    def __post_init__(self) -> None:
        for name, path in self.datasets.items():
            if not name.strip():
                raise ConfigError("datasets", "a dataset name is empty")
            if not path.is_absolute():
                raise ConfigError(f"datasets.{name}", f"{path} must be absolute once resolved")

    def deployment_path(self, data_dir: Path) -> Path:
        return self.chain.deployment if self.chain.deployment.is_absolute() else data_dir / self.chain.deployment

    def with_overrides(self, overrides: NodeOverrides) -> NodeConfig:
        """The config with every flag given on the command line taking precedence over the file."""
        network, chain, api = self.network, self.chain, self.api
        if overrides.listen:
            network = _rebuild(network, listen=tuple(overrides.listen))
        if overrides.bootstrap:
            network = _rebuild(network, bootstrap=tuple(overrides.bootstrap))
        if overrides.rpc_url is not None:
            chain = _rebuild(chain, rpc_url=overrides.rpc_url)
        if overrides.deployment is not None:
            chain = _rebuild(chain, deployment=overrides.deployment.resolve())
        if overrides.api_port is not None:
            api = _rebuild(api, port=overrides.api_port)
        return replace(self, network=network, chain=chain, api=api)


@dataclass(frozen=True)
class NodeOverrides:
    """Flags of `parity-node start`; None (or empty) leaves the file's value."""

    listen: tuple[str, ...] = ()
    bootstrap: tuple[str, ...] = ()
    rpc_url: str | None = None
    deployment: Path | None = None
    api_port: int | None = None


def _rebuild(section: Any, **changes: Any) -> Any:
    return replace(section, **changes)  # replace() runs __post_init__ again: overrides are validated too


# ---- reading ---------------------------------------------------------------------------------------------------
def load_config(path: Path, data_dir: Path) -> NodeConfig:
    """Read and validate config.toml; relative dataset paths are resolved against `data_dir`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
    return parse_config(text, data_dir)


def parse_config(text: str, data_dir: Path) -> NodeConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config.toml", f"not valid TOML: {exc}") from None
    _reject_unknown("", raw, {"network", "chain", "api", "policy", "datasets"})
    network = _section(raw, "network", NetworkConfig, {"listen": _str_tuple, "bootstrap": _str_tuple})
    chain = _section(raw, "chain", ChainConfig, {"deployment": _path, "membership_ttl_s": _number})
    api = _section(raw, "api", ApiConfig, {})
    policy = _section(
        raw, "policy", PolicyConfig, {"accepted_model_types": _str_tuple, "min_reward_per_round": _token_amount}
    )
    datasets_raw = raw.get("datasets", {})
    if not isinstance(datasets_raw, dict):
        raise ConfigError("datasets", "must be a table of name = \"path/to/data.csv\"")
    datasets: dict[str, Path] = {}
    for name, value in datasets_raw.items():
        dataset_field = f"datasets.{name}"
        csv = _path(dataset_field, value)
        csv = csv if csv.is_absolute() else (data_dir / csv)
        if not csv.is_file():
            raise ConfigError(dataset_field, f"{csv} is not a file")
        datasets[name] = csv.resolve()
    return NodeConfig(network=network, chain=chain, api=api, policy=policy, datasets=datasets)


def _section(raw: dict[str, Any], name: str, cls: type[Any], converters: dict[str, Any]) -> Any:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(name, "must be a table ([" + name + "])")
    defaults = cls()
    names = {f.name for f in fields(cls)}
    _reject_unknown(name + ".", table, names)
    values: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{name}.{key}"
        convert = converters.get(key)
        if convert is not None:
            values[key] = convert(dotted, value)
        else:
            values[key] = _same_type(dotted, value, getattr(defaults, key))
    return cls(**values)


def _reject_unknown(prefix: str, table: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(prefix + unknown[0], f"unknown setting (known: {', '.join(sorted(known))})")


def _same_type(name: str, value: Any, default: Any) -> Any:
    # bool is a subclass of int: check it first so `port = true` is refused.
    if isinstance(default, bool) or isinstance(value, bool):
        if type(value) is not type(default):
            raise ConfigError(name, f"expected {type(default).__name__}, got {value!r}")
        return value
    if isinstance(default, int) and not isinstance(value, int):
        raise ConfigError(name, f"expected an integer, got {value!r}")
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(name, f"expected a string, got {value!r}")
    return value


def _str_tuple(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(name, f"expected a list of strings, got {value!r}")
    return tuple(value)


def _path(name: str, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(name, f"expected a path string, got {value!r}")
    return Path(value).expanduser()


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(name, f"expected a number, got {value!r}")
    return float(value)


def _token_amount(name: str, value: Any) -> int:
    """Tokens as a decimal string ("0.25") or a whole number -> base units."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(name, f"expected tokens as a string like \"0.5\", got {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(name, f"{value!r} is not a decimal number") from None
    units = amount.scaleb(TOKEN_DECIMALS)
    if not amount.is_finite() or units != units.to_integral_value():
        raise ConfigError(name, f"{value!r} has more than {TOKEN_DECIMALS} decimals")
    return int(units)


def format_tokens(units: int) -> str:
    text = format(Decimal(units).scaleb(-TOKEN_DECIMALS).normalize(), "f")
    return text


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(name, f"must be an integer in [{low}, {high}], got {value!r}")


def _check_multiaddr(name: str, addr: str) -> None:
    if not isinstance(addr, str):
        raise ConfigError(name, f"expected a multiaddr string, got {addr!r}")
    try:
        multiaddr.Multiaddr(addr)
    except Exception as exc:  # py-multiaddr raises its own errors plus ValueError/TypeError for junk
        raise ConfigError(name, f"{addr!r} is not a multiaddr ({exc})") from None


# ---- writing ---------------------------------------------------------------------------------------------------
def render_toml(config: NodeConfig) -> str:
    """config.toml text for `config`, with a comment on the settings people change first."""

    def s(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid TOML basic string

    def strings(values: tuple[str, ...]) -> str:
        return "[" + ", ".join(s(v) for v in values) + "]"

    n, c, a, p = config.network, config.chain, config.api, config.policy
    lines = [
        "# Parity P2P node configuration. Flags of `parity-node start` override these values.",
        "",
        "[network]",
        "# Loopback only by default. To accept peers from other machines: listen = [\"/ip4/0.0.0.0/tcp/4001\"]",
        f"listen = {strings(n.listen)}",
        "# Full addresses of known peers: /ip4/<ip>/tcp/<port>/p2p/<peer id>",
        f"bootstrap = {strings(n.bootstrap)}",
        f"max_connections = {n.max_connections}",
        f"target_peers = {n.target_peers}",
        "",
        "[chain]",
        f"rpc_url = {s(c.rpc_url)}",
        "# Relative to the data directory.",
        f"deployment = {s(str(c.deployment))}",
        f"membership_ttl_s = {c.membership_ttl_s!r}",
        "",
        "[api]",
        "# The control API listens on loopback only unless allow_remote = true.",
        f"host = {s(a.host)}",
        f"port = {a.port}",
        f"allow_remote = {_bool(a.allow_remote)}",
        f"max_body_bytes = {a.max_body_bytes}",
        "",
        "[policy]",
        f"max_concurrent_sessions = {p.max_concurrent_sessions}",
        "# Of neural_network, linear_regression, custom (custom runs code the session creator names).",
        f"accepted_model_types = {strings(p.accepted_model_types)}",
        "# In tokens (USDFC), as a decimal string.",
        f"min_reward_per_round = {s(format_tokens(p.min_reward_per_round))}",
        f"auto_join = {_bool(p.auto_join)}",
        f"auto_claim = {_bool(p.auto_claim)}",
        "# Above this many bytes of updates, check a proposal without recomputing the aggregate.",
        f"max_recompute_bytes = {p.max_recompute_bytes}",
        "# torch threads for training and checks; 0 = automatic (1 for models under 1M parameters, else all cores).",
        f"torch_threads = {p.torch_threads}",
        "",
        "[datasets]",
        "# Local data for private-data sessions (never leaves this machine): schema name = \"/path/to/data.csv\"",
    ]
    lines += [f"{s(name)} = {s(str(path))}" for name, path in sorted(config.datasets.items())]
    return "\n".join(lines) + "\n"


def _bool(value: bool) -> str:
    return "true" if value else "false"
