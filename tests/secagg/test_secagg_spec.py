"""The session flag: `secure_aggregation` in the spec, validated against the strategy and privacy settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parity_p2p.secagg import SecAggParams
from parity_p2p.secagg.strategies import CANNOT, WORKS
from parity_p2p.session_spec import PrivacySpec, SessionSpec, SpecError

IRIS_MODEL = json.loads((Path(__file__).parents[2] / "examples" / "iris_model.json").read_text())
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def _spec(**overrides: Any) -> SessionSpec:
    return SessionSpec(name="iris", model=IRIS_MODEL, dataset_cid=CID, **overrides)


def test_the_flag_round_trips_and_changes_the_hash() -> None:
    secure = _spec(secure_aggregation=SecAggParams(clip=0.25, bits=20, threshold=4))
    data = secure.canonical_json()
    assert json.loads(data)["secure_aggregation"]["clip"] == 0.25
    again = SessionSpec.from_json(data)
    assert again == secure and again.canonical_json() == data
    assert secure.spec_hash != _spec().spec_hash


def test_specs_without_the_flag_keep_their_bytes() -> None:
    assert "secure_aggregation" not in json.loads(_spec().canonical_json())


def test_the_flag_from_json_with_defaults() -> None:
    body = json.loads(_spec().canonical_json())
    body["secure_aggregation"] = {"enabled": True}
    spec = SessionSpec.from_json(json.dumps(body).encode())
    assert spec.secure_aggregation == SecAggParams()


@pytest.mark.parametrize("strategy", sorted(WORKS))
def test_strategies_that_need_only_the_mean_are_accepted(strategy: str) -> None:
    assert _spec(aggregation=strategy, secure_aggregation=SecAggParams()).secure_aggregation is not None


@pytest.mark.parametrize("strategy", ["median", "trimmed_mean", "krum", "multi_krum", "fednova", "dp_fedavg"])
def test_strategies_that_need_individual_updates_are_refused_with_the_reason(strategy: str) -> None:
    with pytest.raises(SpecError) as info:
        _spec(aggregation=strategy, secure_aggregation=SecAggParams())
    assert info.value.field == "secure_aggregation"
    assert strategy in info.value.reason and CANNOT[strategy] in info.value.reason


def test_a_disabled_flag_does_not_restrict_the_strategy() -> None:
    assert _spec(aggregation="median", secure_aggregation=SecAggParams(enabled=False)).aggregation == "median"


def test_central_dp_is_refused() -> None:
    with pytest.raises(SpecError, match="privacy"):
        _spec(privacy=PrivacySpec(enabled=True), secure_aggregation=SecAggParams())


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"clip": -1}, "secure_aggregation.clip"),
        ({"clip": True}, "secure_aggregation.clip"),
        ({"bits": 16.0}, "secure_aggregation.bits"),
        ({"bits": 40}, "secure_aggregation.bits"),
        ({"threshold": 1}, "secure_aggregation.threshold"),
        ({"rounding": "up"}, "secure_aggregation.rounding"),
        ({"colour": "blue"}, "secure_aggregation"),
        ("yes", "secure_aggregation"),
    ],
)
def test_bad_entries_name_the_field(entry: object, field: str) -> None:
    body = json.loads(_spec().canonical_json())
    body["secure_aggregation"] = entry
    with pytest.raises(SpecError) as info:
        SessionSpec.from_json(json.dumps(body).encode())
    assert info.value.field == field
