"""Model config parsing: the seed's JSON, the examples, and a clear error naming the field for bad input."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity_p2p.learning.errors import LearningError, ModelConfigError
from parity_p2p.learning.model_config import DenseLayer, DropoutLayer, parse_model_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SEED_CONFIG: dict[str, Any] = json.loads((EXAMPLES / "seed_model.json").read_text())


def seed_config() -> dict[str, Any]:
    return json.loads(json.dumps(SEED_CONFIG))  # a deep copy each test may mutate


def test_seed_config_parses_into_typed_layers() -> None:
    config = parse_model_config(SEED_CONFIG)
    assert config.model_type == "neural_network"
    assert (config.input_size, config.output_size, config.hidden_size) == (5, 3, 64)
    assert config.layers == (
        DenseLayer(64, "relu"),
        DropoutLayer(0.2),
        DenseLayer(32, "relu"),
        DenseLayer(3, "softmax"),
    )
    assert config.task == "classification"


def test_text_bytes_and_dict_give_the_same_config() -> None:
    text = json.dumps(SEED_CONFIG)
    assert parse_model_config(text) == parse_model_config(text.encode()) == parse_model_config(SEED_CONFIG)


def test_canonical_json_round_trips() -> None:
    config = parse_model_config(SEED_CONFIG)
    assert parse_model_config(config.to_json()) == config
    assert parse_model_config(config.to_dict()).to_json() == config.to_json()


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("seed_model.json", "classification"),
        ("iris_model.json", "classification"),
        ("wine_model.json", "classification"),
        ("digits_model.json", "classification"),
        ("diabetes_linear.json", "regression"),
        ("diabetes_mlp.json", "regression"),
        ("custom_model/custom_model.json", "classification"),
    ],
)
def test_examples_parse(name: str, task: str) -> None:
    config = parse_model_config((EXAMPLES / name).read_bytes())
    assert config.task == task
    assert parse_model_config(config.to_json()) == config


def test_linear_regression_defaults_to_one_output() -> None:
    config = parse_model_config({"architecture": {"type": "linear_regression"}, "input_size": 7})
    assert (config.output_size, config.task, config.layers) == (1, "regression", ())


def test_missing_layers_fall_back_to_one_hidden_layer_of_hidden_size() -> None:
    config = parse_model_config(
        {"architecture": {"type": "neural_network"}, "input_size": 4, "output_size": 3, "hidden_size": 8}
    )
    assert config.layers == (DenseLayer(8, "relu"), DenseLayer(3, "softmax"))


def test_linear_last_layer_means_regression_and_null_activation_means_linear() -> None:
    raw = seed_config()
    raw["architecture"]["layers"][-1]["activation"] = None
    config = parse_model_config(raw)
    assert config.task == "regression"
    assert config.layers[-1] == DenseLayer(3, "linear")


def _set(path: list[Any], value: Any) -> dict[str, Any]:
    raw = seed_config()
    target: Any = raw
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


_DELETE = object()
LAYERS = ["architecture", "layers"]


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (_set([*LAYERS, 1, "type"], "conv2d"), "architecture.layers[1].type", "unknown layer type 'conv2d'"),
        (_set([*LAYERS, 0, "activation"], "swish"), "architecture.layers[0].activation", "unknown activation"),
        (_set([*LAYERS, 3, "units"], 4), "architecture.layers[3].units", "output_size is 3"),
        (_set(["input_size"], _DELETE), "input_size", "missing"),
        (_set(["input_size"], -5), "input_size", "positive integer"),
        (_set(["input_size"], True), "input_size", "boolean"),
        (_set(["input_size"], 4.5), "input_size", "positive integer"),
        (_set(["output_size"], _DELETE), "output_size", "missing"),
        (_set([*LAYERS, 1, "rate"], -0.1), "architecture.layers[1].rate", "negative"),
        (_set([*LAYERS, 1, "rate"], 1.0), "architecture.layers[1].rate", "below 1"),
        (_set([*LAYERS, 1, "rate"], "0.2"), "architecture.layers[1].rate", "number"),
        (_set([*LAYERS, 0, "units"], 0), "architecture.layers[0].units", "positive integer"),
        (_set([*LAYERS, 0, "unit"], 3), "architecture.layers[0].unit", "unknown field"),
        (_set([*LAYERS, 0, "activation"], "softmax"), "architecture.layers[0].activation", "last layer"),
        (_set([*LAYERS, 3, "activation"], "sigmoid"), "architecture.layers[3].activation", "regression"),
        (_set(["architecture", "type"], "transformer"), "architecture.type", "unknown model type"),
        (_set(["architecture"], _DELETE), "architecture", "missing"),
        (_set(["architecture"], []), "architecture", "must be an object"),
        (_set(LAYERS, []), "architecture.layers", "at least one"),
        (_set(LAYERS, "dense"), "architecture.layers", "array"),
        (_set(["inputsize"], 5), "inputsize", "unknown field"),
        (_set(["task"], "ranking"), "task", "unknown task"),
        (_set(["task"], "regression"), "architecture.layers[3].activation", "softmax output"),
        (_set(["hidden_size"], -1), "hidden_size", "positive integer"),
    ],
)
def test_bad_config_names_the_field(raw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ModelConfigError) as caught:
        parse_model_config(raw)
    assert caught.value.field == field
    assert words in caught.value.reason
    assert field in str(caught.value)


def test_sigmoid_output_of_declared_classifier_is_refused() -> None:
    raw = _set([*LAYERS, 3, "activation"], "sigmoid")
    raw["task"] = "classification"
    with pytest.raises(ModelConfigError, match="softmax or linear") as caught:
        parse_model_config(raw)
    assert caught.value.field == "architecture.layers[3].activation"


def test_dropout_as_last_layer_is_refused() -> None:
    raw = seed_config()
    raw["architecture"]["layers"].append({"type": "dropout", "rate": 0.1})
    with pytest.raises(ModelConfigError, match="must be dense") as caught:
        parse_model_config(raw)
    assert caught.value.field == "architecture.layers[4]"


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[" * 200000, "nests deeper"),
    ],
)
def test_unreadable_documents(document: bytes, words: str) -> None:
    with pytest.raises(ModelConfigError, match=words) as caught:
        parse_model_config(document)
    assert caught.value.field == "<document>"


@pytest.mark.parametrize(
    ("architecture", "field"),
    [
        ({"type": "custom"}, "architecture"),
        ({"type": "custom", "factory": "a:b", "entry_point": "x"}, "architecture"),
        ({"type": "custom", "factory": "no_colon"}, "architecture.factory"),
        ({"type": "custom", "factory": "os:system; rm"}, "architecture.factory"),
        ({"type": "custom", "entry_point": "bad name!"}, "architecture.entry_point"),
        ({"type": "custom", "factory": "a:b", "kwargs": [1]}, "architecture.kwargs"),
        ({"type": "custom", "factory": "a:b", "kwargs": {"input_size": 3}}, "architecture.kwargs.input_size"),
        ({"type": "custom", "factory": "a:b", "layers": []}, "architecture.layers"),
    ],
)
def test_bad_custom_references(architecture: dict[str, Any], field: str) -> None:
    with pytest.raises(ModelConfigError) as caught:
        parse_model_config({"architecture": architecture, "input_size": 4, "output_size": 3})
    assert caught.value.field == field


def test_errors_pickle_and_share_the_base() -> None:
    error = ModelConfigError("input_size", "missing")
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, LearningError)
    assert (again.field, again.reason, str(again)) == ("input_size", "missing", str(error))


activations = st.sampled_from(["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu", "linear"])
hidden_layers = st.lists(
    st.one_of(
        st.builds(lambda u, a: {"type": "dense", "units": u, "activation": a}, st.integers(1, 512), activations),
        st.builds(lambda r: {"type": "dropout", "rate": r}, st.floats(0, 0.99)),
    ),
    max_size=6,
)


@given(hidden_layers, st.integers(1, 64), st.integers(1, 20), st.sampled_from(["softmax", "linear"]))
def test_any_valid_network_round_trips(layers: list[Any], inputs: int, outputs: int, last: str) -> None:
    raw = {
        "architecture": {
            "type": "neural_network",
            "layers": [*layers, {"type": "dense", "units": outputs, "activation": last}],
        },
        "input_size": inputs,
        "output_size": outputs,
    }
    config = parse_model_config(raw)
    assert len(config.layers) == len(layers) + 1
    assert config.task == ("classification" if last == "softmax" else "regression")
    assert parse_model_config(config.to_json()) == config
