"""Building torch modules from configs: shapes, logits (no double softmax), seeds, custom models, state."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from parity_p2p.learning.datasets import parse_csv
from parity_p2p.learning.errors import ModelConfigError
from parity_p2p.learning.model_config import ModelConfig, parse_model_config
from parity_p2p.learning.models import build_model, load_state, model_state, predict_output

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED_CONFIG = json.loads((EXAMPLES / "seed_model.json").read_text())


def iris_config() -> ModelConfig:
    return parse_model_config((EXAMPLES / "iris_model.json").read_bytes())


def test_seed_config_builds_the_declared_layers() -> None:
    model = build_model(parse_model_config(SEED_CONFIG))
    shapes = {name: tuple(t.shape) for name, t in model_state(model).items()}
    assert shapes == {
        "layer0.weight": (64, 5),
        "layer0.bias": (64,),
        "layer2.weight": (32, 64),
        "layer2.bias": (32,),
        "layer3.weight": (3, 32),
        "layer3.bias": (3,),
    }
    kinds = [type(m) for m in model.children()]
    assert kinds == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Linear]
    dropout = next(m for m in model.modules() if isinstance(m, nn.Dropout))
    assert dropout.p == pytest.approx(0.2)


def test_classifier_outputs_logits_and_softmax_is_applied_once() -> None:
    config = parse_model_config(SEED_CONFIG)
    model = build_model(config, seed=1).eval()
    assert not any(isinstance(m, nn.Softmax) for m in model.modules())
    logits = model(torch.randn(8, 5))
    # Logits are unconstrained; the prediction step turns them into probabilities.
    assert not torch.allclose(logits.sum(dim=1), torch.ones(8))
    probabilities = predict_output(config, logits)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(8))
    assert torch.allclose(probabilities, torch.softmax(logits, dim=1))


@pytest.mark.parametrize(
    ("activation", "module"),
    [("relu", nn.ReLU), ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid), ("gelu", nn.GELU), ("elu", nn.ELU)],
)
def test_hidden_activations_become_modules(activation: str, module: type[nn.Module]) -> None:
    config = parse_model_config(
        {
            "architecture": {
                "type": "neural_network",
                "layers": [{"type": "dense", "units": 4, "activation": activation}, {"type": "dense", "units": 2}],
            },
            "input_size": 3,
            "output_size": 2,
        }
    )
    children = list(build_model(config).children())
    assert [type(c) for c in children] == [nn.Linear, module, nn.Linear]


def test_regression_output_activation_is_kept() -> None:
    config = parse_model_config(
        {
            "architecture": {
                "type": "neural_network",
                "layers": [{"type": "dense", "units": 2, "activation": "sigmoid"}],
            },
            "task": "regression",
            "input_size": 3,
            "output_size": 2,
        }
    )
    out = build_model(config)(torch.randn(5, 3) * 100)
    assert bool(((out >= 0) & (out <= 1)).all())


def test_seeded_builds_are_identical_and_leave_the_global_rng_alone() -> None:
    config = iris_config()
    before = torch.random.get_rng_state()
    a, b, c = (model_state(build_model(config, seed=s)) for s in (7, 7, 8))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["layer0.weight"], c["layer0.weight"])


def test_model_state_is_a_sorted_detached_cpu_copy() -> None:
    model = build_model(iris_config(), seed=0)
    state = model_state(model)
    assert list(state) == sorted(state)
    assert all(not t.requires_grad and t.device.type == "cpu" and t.is_contiguous() for t in state.values())
    state["layer0.weight"].add_(1.0)
    assert not torch.equal(state["layer0.weight"], model.state_dict()["layer0.weight"])


def test_load_state_round_trips_and_refuses_a_foreign_state() -> None:
    config = iris_config()
    source, target = build_model(config, seed=1), build_model(config, seed=2)
    load_state(target, model_state(source))
    x = torch.randn(4, 4)
    assert torch.equal(source.eval()(x), target.eval()(x))
    wrong = model_state(build_model(parse_model_config(SEED_CONFIG)))
    with pytest.raises(ModelConfigError, match="shape"):
        load_state(target, wrong)
    partial = model_state(source)
    del partial["layer3.bias"]
    with pytest.raises(ModelConfigError, match="missing"):
        load_state(target, partial)


def test_linear_regression_is_one_affine_map() -> None:
    config = parse_model_config({"architecture": {"type": "linear_regression"}, "input_size": 3})
    model = build_model(config)
    load_state(model, {"layer0.weight": torch.tensor([[1.0, -2.0, 0.5]]), "layer0.bias": torch.tensor([3.0])})
    out = model(torch.tensor([[2.0, 1.0, 2.0], [0.0, 0.0, 0.0]]))
    assert out.tolist() == [[4.0], [3.0]]


def test_the_iris_model_learns_iris() -> None:
    """Real training: the built module with CrossEntropyLoss on logits separates the three species."""
    data = parse_csv((EXAMPLES / "iris.csv").read_bytes())
    x = torch.from_numpy((data.features - data.features.mean(0)) / data.features.std(0))
    y = torch.from_numpy(np.asarray(data.labels))
    torch.manual_seed(0)
    model = build_model(iris_config(), seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    accuracy = (model.eval()(x).argmax(dim=1) == y).float().mean().item()
    assert loss.item() < 0.2
    assert accuracy > 0.95


# --- custom models --------------------------------------------------------------------------------


def custom(architecture: dict[str, object], output_size: int = 3) -> ModelConfig:
    return parse_model_config({"architecture": architecture, "input_size": 4, "output_size": output_size})


def test_custom_model_by_import_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "custom_model"))
    config = parse_model_config((EXAMPLES / "custom_model" / "custom_model.json").read_bytes())
    assert len({config, parse_model_config(config.to_json())}) == 1  # hashable despite its kwargs mapping
    model = build_model(config, seed=3)
    assert type(model).__name__ == "ResidualMLP"
    assert model.inp.out_features == 16  # the config's kwargs reached the factory
    assert model(torch.randn(5, 4)).shape == (5, 3)


def test_custom_model_by_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution (a real .dist-info on sys.path) declares the entry point."""
    (tmp_path / "tiny_models.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            def make(*, input_size, output_size):
                return nn.Sequential(nn.Linear(input_size, output_size))
            """
        )
    )
    dist = tmp_path / "tiny_models-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-models\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[parity_p2p.models]\ntiny = tiny_models:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model(custom({"type": "custom", "entry_point": "tiny"}))
    assert model(torch.randn(2, 4)).shape == (2, 3)
    with pytest.raises(ModelConfigError, match="no entry point 'absent'") as caught:
        build_model(custom({"type": "custom", "entry_point": "absent"}))
    assert caught.value.field == "architecture.entry_point"


@pytest.mark.parametrize(
    ("factory", "field", "words"),
    [
        ("no_such_module_here:make", "architecture.factory", "cannot import"),
        ("math:no_such_function", "architecture.factory", "no attribute"),
        ("math:pi", "architecture", "not callable"),
        ("builtins:dict", "architecture", "not a torch nn.Module"),
        ("torch.nn:Identity", "output_size", "outputs (2, 4)"),
        ("torch.nn:Sequential", "architecture.kwargs", "refused its arguments"),
    ],
)
def test_bad_custom_factories_name_the_field(factory: str, field: str, words: str) -> None:
    with pytest.raises(ModelConfigError) as caught:
        build_model(custom({"type": "custom", "factory": factory}))
    assert caught.value.field == field
    assert words in caught.value.reason


def test_custom_factory_refusing_its_kwargs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "custom_model"))
    config = custom({"type": "custom", "factory": "parity_example_models:make_residual_mlp", "kwargs": {"depth": 3}})
    with pytest.raises(ModelConfigError, match="refused its arguments") as caught:
        build_model(config)
    assert caught.value.field == "architecture.kwargs"


def test_custom_model_with_wrong_input_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "narrow_models.py").write_text(
        "from torch import nn\n\ndef make(*, input_size, output_size):\n    return nn.Linear(3, output_size)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelConfigError, match="rejects input") as caught:
        build_model(custom({"type": "custom", "factory": "narrow_models:make"}))
    assert caught.value.field == "input_size"
