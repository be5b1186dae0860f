"""config.toml: defaults survive a write/read round trip, every bad value is refused naming its field, and the
flags of `parity-node start` override the file (and are validated like it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity_p2p.node.config import (
    ApiConfig,
    NodeConfig,
    NodeOverrides,
    PolicyConfig,
    format_tokens,
    parse_config,
    render_toml,
)
from parity_p2p.node.errors import ConfigError

PEER = "12D3KooWBHgqoPQy7v6c4dadXo5PfSYFGRDEVebnLeLcJsndKjEd"


def test_defaults_round_trip(tmp_path: Path) -> None:
    assert parse_config(render_toml(NodeConfig()), tmp_path) == NodeConfig()
    assert parse_config("", tmp_path) == NodeConfig()


def test_non_default_values_round_trip(tmp_path: Path) -> None:
    csv = tmp_path / "iris.csv"
    csv.write_text("a,b\n1,2\n")
    config = NodeConfig(
        policy=PolicyConfig(
            max_concurrent_sessions=5,
            accepted_model_types=("custom",),
            min_reward_per_round=250_000_000_000_000_000,
            auto_join=False,
            auto_claim=False,
            torch_threads=3,
        ),
        api=ApiConfig(host="0.0.0.0", port=9000, allow_remote=True),
        datasets={'iris "v2"': csv},
    )
    again = parse_config(render_toml(config), tmp_path)
    assert again == config
    assert 'min_reward_per_round = "0.25"' in render_toml(config)


def test_defaults_are_loopback_only() -> None:
    config = NodeConfig()
    assert config.api.host == "127.0.0.1"
    assert not config.api.allow_remote
    assert all(addr.startswith("/ip4/127.0.0.1/") for addr in config.network.listen)


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ('[network]\nlisten = ["not a multiaddr"]', "network.listen"),
        ("[network]\nlisten = []", "network.listen"),
        ('[network]\nlisten = "/ip4/127.0.0.1/tcp/0"', "network.listen"),
        ('[network]\nbootstrap = ["/ip4/127.0.0.1/tcp/4001"]', "network.bootstrap"),
        ("[network]\ntarget_peers = 2", "network.target_peers"),
        ("[network]\nmax_connections = 4", "network.max_connections"),
        ('[network]\nlisen = ["/ip4/127.0.0.1/tcp/0"]', "network.lisen"),
        ('[chain]\nrpc_url = "ftp://example.org"', "chain.rpc_url"),
        ("[chain]\ndeployment = 3", "chain.deployment"),
        ("[chain]\nmembership_ttl_s = 0", "chain.membership_ttl_s"),
        ('[api]\nhost = "0.0.0.0"', "api.host"),
        ('[api]\nhost = "localhost"', "api.host"),
        ("[api]\nport = 70000", "api.port"),
        ("[api]\nport = true", "api.port"),
        ('[api]\nallow_remote = "yes"', "api.allow_remote"),
        ("[api]\nmax_body_bytes = 10", "api.max_body_bytes"),
        ("[policy]\nmax_concurrent_sessions = -1", "policy.max_concurrent_sessions"),
        ('[policy]\naccepted_model_types = ["gpt"]', "policy.accepted_model_types"),
        ('[policy]\nmin_reward_per_round = "lots"', "policy.min_reward_per_round"),
        ('[policy]\nmin_reward_per_round = "-1"', "policy.min_reward_per_round"),
        ('[policy]\nmin_reward_per_round = "0.0000000000000000001"', "policy.min_reward_per_round"),
        ("[policy]\nauto_join = 1", "policy.auto_join"),
        ("[policy]\ntorch_threads = -1", "policy.torch_threads"),
        ('[policy]\ntorch_threads = "all"', "policy.torch_threads"),
        ('[datasets]\niris = "missing.csv"', "datasets.iris"),
        ('datasets = "x"', "datasets"),
        ("[surprise]\nx = 1", "surprise"),
        ("[api\nport = 1", "config.toml"),
    ],
)
def test_bad_values_name_their_field(tmp_path: Path, toml: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(toml, tmp_path)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"config {field}: ")
    assert caught.value.exit_code == 4


def test_remote_api_needs_explicit_consent(tmp_path: Path) -> None:
    config = parse_config('[api]\nhost = "0.0.0.0"\nallow_remote = true', tmp_path)
    assert config.api.host == "0.0.0.0"


def test_token_amounts(tmp_path: Path) -> None:
    assert parse_config('[policy]\nmin_reward_per_round = "0.5"', tmp_path).policy.min_reward_per_round == 5 * 10**17
    assert parse_config("[policy]\nmin_reward_per_round = 3", tmp_path).policy.min_reward_per_round == 3 * 10**18
    assert format_tokens(1) == "0.000000000000000001"
    assert format_tokens(10 * 10**18) == "10"


def test_relative_dataset_path_is_resolved_against_the_data_dir(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.csv").write_text("x,y\n")
    config = parse_config('[datasets]\n"tabular-v1" = "data/mine.csv"', tmp_path)
    assert config.datasets == {"tabular-v1": (tmp_path / "data" / "mine.csv").resolve()}


def test_flags_override_the_file(tmp_path: Path) -> None:
    config = parse_config('[api]\nport = 9000\n[chain]\nrpc_url = "http://127.0.0.1:8545"', tmp_path)
    bootstrap = f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"
    changed = config.with_overrides(
        NodeOverrides(
            listen=("/ip4/0.0.0.0/tcp/4001",),
            bootstrap=(bootstrap,),
            rpc_url="http://127.0.0.1:9545",
            deployment=tmp_path / "d.json",
            api_port=0,
        )
    )
    assert changed.network.listen == ("/ip4/0.0.0.0/tcp/4001",)
    assert changed.network.bootstrap == (bootstrap,)
    assert changed.chain.rpc_url == "http://127.0.0.1:9545"
    assert changed.deployment_path(Path("/elsewhere")) == tmp_path / "d.json"
    assert changed.api.port == 0
    assert config.with_overrides(NodeOverrides()) == config
    assert config.deployment_path(tmp_path) == tmp_path / "deployment.json"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (NodeOverrides(api_port=-1), "api.port"),
        (NodeOverrides(listen=("nonsense",)), "network.listen"),
        (NodeOverrides(bootstrap=("/ip4/127.0.0.1/tcp/1",)), "network.bootstrap"),
        (NodeOverrides(rpc_url="localhost:8545"), "chain.rpc_url"),
    ],
)
def test_bad_flags_are_refused_like_bad_settings(overrides: NodeOverrides, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        NodeConfig().with_overrides(overrides)
    assert caught.value.field == field


# ---- anything a person (or a broken editor) writes gives a NodeConfig or a ConfigError, nothing else -----------
_KEYS = {
    "network": ["listen", "bootstrap", "max_connections", "target_peers", "other"],
    "chain": ["rpc_url", "deployment", "membership_ttl_s"],
    "api": ["host", "port", "allow_remote", "max_body_bytes"],
    "policy": ["max_concurrent_sessions", "accepted_model_types", "min_reward_per_round", "auto_join", "auto_claim"],
    "datasets": ["iris", "x"],
}
_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["/ip4/127.0.0.1/tcp/0", "127.0.0.1", "0.5", "http://127.0.0.1:8545", "custom", ""]),
    st.lists(st.one_of(st.text(max_size=20), st.sampled_from(["/ip4/0.0.0.0/tcp/1", "custom"])), max_size=3),
)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


@st.composite
def _documents(draw: st.DrawFn) -> str:
    lines = []
    for section in draw(st.lists(st.sampled_from(sorted(_KEYS)), unique=True, max_size=5)):
        lines.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(_KEYS[section]), unique=True, max_size=4)):
            lines.append(f"{key} = {_toml_value(draw(_values))}")
    return "\n".join(lines)


@settings(max_examples=300, deadline=None)
@given(_documents())
def test_any_document_gives_a_config_or_a_named_error(text: str) -> None:
    try:
        config = parse_config(text, Path("/nonexistent-data-dir"))
    except ConfigError as exc:
        assert exc.field
        return
    assert parse_config(render_toml(config), Path("/nonexistent-data-dir")) == config
