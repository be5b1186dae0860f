"""The session spec: canonical bytes, a stable hash, and a clear error for every malformed field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from parity_p2p.learning.errors import ModelConfigError
from parity_p2p.learning.partition import SplitSpec
from parity_p2p.session_spec import MAX_SPEC_BYTES, SessionSpec, SpecError, TrainingSpec

IRIS_MODEL = json.loads((Path(__file__).parents[2] / "examples" / "iris_model.json").read_text())


def _spec(**overrides: object) -> SessionSpec:
    fields: dict[str, object] = {
        "name": "iris",
        "model": IRIS_MODEL,
        "dataset_cid": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        "split": SplitSpec(strategy="non_iid", alpha=0.5),
        "training": TrainingSpec(learning_rate=0.1, batch_size=8, local_epochs=2),
    }
    fields.update(overrides)
    return SessionSpec(**fields)  # type: ignore[arg-type]


def test_round_trip_is_byte_identical_and_hash_is_keccak_of_canonical_bytes() -> None:
    spec = _spec()
    data = spec.canonical_json()
    again = SessionSpec.from_json(data)
    assert again == spec
    assert again.canonical_json() == data
    assert spec.spec_hash == keccak(data)
    assert b" " not in data.replace(b'"iris"', b"")  # no whitespace in the canonical form
    assert _spec(aggregation="fedprox").spec_hash != spec.spec_hash


def test_key_order_of_the_input_does_not_change_the_hash() -> None:
    data = json.loads(_spec().canonical_json())
    reordered = json.dumps(dict(reversed(list(data.items())))).encode()
    assert SessionSpec.from_json(reordered).spec_hash == _spec().spec_hash


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("name"), "name"),
        (lambda d: d.update(name="  "), "name"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d.update(aggregation="fedmagic"), "aggregation"),
        (lambda d: d.update(eval_fraction=1.5), "eval_fraction"),
        (lambda d: d["training"].update(learning_rate=-1), "training.learning_rate"),
        (lambda d: d["training"].update(optimizer="rmsprop"), "training.optimizer"),
        (lambda d: d["privacy"].update(enabled=True, noise_multiplier=0), "privacy"),
    ],
)
def test_malformed_fields_are_named(mutate: object, field: str) -> None:
    data = json.loads(_spec().canonical_json())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(SpecError) as info:
        SessionSpec.from_json(json.dumps(data).encode())
    assert info.value.field == field


def test_bad_model_config_and_bad_documents_are_refused() -> None:
    data = json.loads(_spec().canonical_json())
    data["model"]["architecture"]["layers"][0]["activation"] = "wiggle"
    with pytest.raises(ModelConfigError):
        SessionSpec.from_json(json.dumps(data).encode())
    for junk in (b"\xff\xfe", b"[1, 2]", b"{not json", b" " * (MAX_SPEC_BYTES + 1), b"[" * 50_000):
        with pytest.raises(SpecError):
            SessionSpec.from_json(junk)
