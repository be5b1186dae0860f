"""Model export: the seed's JSON and safetensors load back into identical models, also with plain torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from torch import nn

from parity_p2p.learning.datasets import parse_csv
from parity_p2p.learning.errors import ExportError
from parity_p2p.learning.export import (
    export_model_json,
    export_model_safetensors,
    load_model_json,
    load_model_safetensors,
)
from parity_p2p.learning.model_config import ModelConfig, parse_model_config
from parity_p2p.learning.models import build_model, model_state

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
METRICS = {"accuracy": 0.9666666666666667, "loss": 0.0871}


def trained_iris() -> tuple[nn.Module, ModelConfig, torch.Tensor]:
    """A briefly trained iris model (real weights, not the initial ones) and the standardised features."""
    config = parse_model_config((EXAMPLES / "iris_model.json").read_bytes())
    data = parse_csv((EXAMPLES / "iris.csv").read_bytes())
    x = torch.from_numpy((data.features - data.features.mean(0)) / data.features.std(0))
    y = torch.from_numpy(np.asarray(data.labels))
    model = build_model(config, seed=11)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval(), config, x


def test_json_export_loads_back_into_an_identical_model() -> None:
    model, config, x = trained_iris()
    document = export_model_json(model, config, METRICS)
    loaded, got_config, got_metrics = load_model_json(document)
    assert got_config == config and got_metrics == METRICS
    assert not loaded.training
    assert torch.equal(loaded(x), model(x))
    assert all(
        torch.equal(a, b) for a, b in zip(model_state(loaded).values(), model_state(model).values(), strict=True)
    )


def test_json_document_has_the_seed_shape() -> None:
    model, config, _ = trained_iris()
    document = json.loads(export_model_json(model, config, METRICS))
    assert set(document) == {"format", "version", "config", "weights", "metrics"}
    assert document["config"] == config.to_dict()
    assert document["metrics"] == METRICS
    weight = document["weights"]["layer3.weight"]
    assert weight["shape"] == [3, 32] and weight["dtype"] == "float32"
    assert isinstance(weight["values"], list) and len(weight["values"]) == 3 and len(weight["values"][0]) == 32


def test_json_export_is_usable_with_plain_torch() -> None:
    """Someone without parity_p2p rebuilds the network from the JSON alone and gets the same outputs."""
    model, config, x = trained_iris()
    document = json.loads(export_model_json(model, config, METRICS))
    layers: list[nn.Module] = []
    width = document["config"]["input_size"]
    specs = document["config"]["architecture"]["layers"]
    for i, spec in enumerate(specs):
        if spec["type"] == "dropout":
            continue  # inactive at inference
        linear = nn.Linear(width, spec["units"])
        linear.weight.data = torch.tensor(document["weights"][f"layer{i}.weight"]["values"])
        linear.bias.data = torch.tensor(document["weights"][f"layer{i}.bias"]["values"])
        layers.append(linear)
        if i < len(specs) - 1:
            layers.append(nn.ReLU())
        width = spec["units"]
    plain = nn.Sequential(*layers)
    assert torch.equal(plain(x), model(x))


def test_safetensors_export_loads_back_into_an_identical_model() -> None:
    model, config, x = trained_iris()
    data = export_model_safetensors(model, config, METRICS)
    loaded, got_config, got_metrics = load_model_safetensors(data)
    assert (got_config, got_metrics) == (config, METRICS)
    assert torch.equal(loaded(x), model(x))
    # Plain safetensors reads the same tensors, with the config in the metadata.
    tensors = safetensors.torch.load(data)
    assert all(torch.equal(tensors[k], v) for k, v in model_state(model).items())


@pytest.mark.parametrize("name", ["diabetes_linear.json", "diabetes_mlp.json"])
def test_regression_models_round_trip(name: str) -> None:
    config = parse_model_config((EXAMPLES / name).read_bytes())
    model = build_model(config, seed=5).eval()
    x = torch.randn(6, config.input_size)
    for export, load in ((export_model_json, load_model_json), (export_model_safetensors, load_model_safetensors)):
        loaded, _, metrics = load(export(model_state(model), config, {"mse": 2900.5}))
        assert metrics == {"mse": 2900.5}
        assert torch.equal(loaded(x), model(x))


def test_custom_model_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "custom_model"))
    config = parse_model_config((EXAMPLES / "custom_model" / "custom_model.json").read_bytes())
    model = build_model(config, seed=2).eval()
    x = torch.randn(3, 4)
    loaded, _, _ = load_model_json(export_model_json(model, config, {}))
    assert torch.equal(loaded(x), model(x))


def test_export_refuses_weights_that_do_not_fit_or_are_not_finite() -> None:
    model, config, _ = trained_iris()
    other = parse_model_config((EXAMPLES / "wine_model.json").read_bytes())
    with pytest.raises(ExportError, match="do not fit the config"):
        export_model_json(model, other, {})
    state = model_state(model)
    state["layer0.bias"][0] = float("nan")
    with pytest.raises(ExportError, match="NaN"):
        export_model_json(state, config, {})
    with pytest.raises(ExportError, match="not finite"):
        export_model_safetensors(model, config, {"loss": float("inf")})


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (b"not json", "not valid JSON"),
        (b'{"format": "something-else"}', "not a parity-p2p/model-json"),
        (b'{"format": "parity-p2p/model-json", "version": 9}', "unsupported version"),
        (b"[" * 100000, "nests deeper"),
    ],
)
def test_unreadable_json_exports(document: bytes, words: str) -> None:
    with pytest.raises(ExportError, match=words):
        load_model_json(document)


def test_json_with_tampered_weights_is_refused() -> None:
    model, config, _ = trained_iris()
    document = json.loads(export_model_json(model, config, {}))
    document["weights"]["layer0.weight"]["shape"] = [5, 4]
    with pytest.raises(ExportError, match="declared"):
        load_model_json(json.dumps(document))
    document = json.loads(export_model_json(model, config, {}))
    del document["weights"]["layer0.bias"]
    with pytest.raises(ExportError, match="do not fit"):
        load_model_json(json.dumps(document))


def test_unreadable_safetensors_exports() -> None:
    with pytest.raises(ExportError, match="not a readable"):
        load_model_safetensors(b"\x00" * 4)
    plain = safetensors.torch.save({"w": torch.zeros(1)})
    with pytest.raises(ExportError, match="metadata missing"):
        load_model_safetensors(plain)
