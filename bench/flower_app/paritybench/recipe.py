"""The training recipe both systems share, loaded from the folder bench/flower_compare.py writes.

The shards, the held-out set, the initial weights and every (round, partition) training seed were computed there
with Parity P2P's own `SessionWork`, and training and evaluation run through `parity_p2p.learning` imported from
the repository's source tree: the Flower side trains with the very code the nodes train with, so any difference
in the results comes from the engine, not the recipe. torch and numpy are the main venv's (.venv-flower reads
them through a .pth file); only the parity_p2p source folder is put on sys.path here, never installed.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RECIPE_FILE = "recipe.json"
ARRAYS_FILE = "arrays.npz"
RESULT_FILE = "flower_result.json"
FINAL_STATE_FILE = "flower_final.npz"


class RecipeError(ValueError):
    """The bench folder is missing or does not hold what bench/flower_compare.py writes."""


@dataclass(frozen=True)
class Shard:
    """What parity_p2p.learning.trainer needs of a dataset: float32 features [n, d], int64 labels [n]."""

    features: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class TrainOutcome:
    state: dict[str, Any]
    num_examples: int
    train_seconds: float
    loss: float


class Recipe:
    def __init__(self, bench_dir: str) -> None:
        folder = Path(bench_dir)
        if not (folder / RECIPE_FILE).is_file() or not (folder / ARRAYS_FILE).is_file():
            raise RecipeError(f"bench-dir {bench_dir!r} lacks {RECIPE_FILE} or {ARRAYS_FILE}")
        self.folder = folder
        self.meta: dict[str, Any] = json.loads((folder / RECIPE_FILE).read_text())
        repo_root = str(self.meta["repo_root"])
        if repo_root not in sys.path:
            sys.path.insert(0, repo_root)
        with np.load(folder / ARRAYS_FILE) as arrays:
            self.arrays = {name: arrays[name] for name in arrays.files}
        self.partitions = int(self.meta["partitions"])
        self.rounds = int(self.meta["rounds"])

    def _model(self) -> Any:
        from parity_p2p.learning.model_config import parse_model_config
        from parity_p2p.learning.models import build_model

        return build_model(parse_model_config(self.meta["model"]))

    def initial_state(self) -> dict[str, Any]:
        import torch

        prefix = "init/"
        return {k[len(prefix) :]: torch.from_numpy(v.copy()) for k, v in self.arrays.items() if k.startswith(prefix)}

    def warm_up(self) -> float:
        """One throwaway optimiser step on one row; its seconds. A fresh process's first torch training step pays
        ~1 s of lazy initialisation, and Flower starts a new ClientApp process every round while a Parity node
        stays up: timed apart so that `train` measures the same warm compute on both sides (the cost stays in
        Flower's per-round overhead, where it belongs)."""
        from parity_p2p.learning.trainer import TrainConfig, train_local

        started = time.perf_counter()
        model = self._model()
        state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        one_row = Shard(self.arrays["x/0"][:1], self.arrays["y/0"][:1])
        train_local(model, state, one_row, TrainConfig(batch_size=1, local_epochs=1))
        return time.perf_counter() - started

    def train(self, partition: int, round_number: int, global_state: dict[str, Any]) -> TrainOutcome:
        from parity_p2p.learning.trainer import TrainConfig, train_local

        if not 0 <= partition < self.partitions:
            raise RecipeError(f"partition-id {partition} is outside 0..{self.partitions - 1}")
        if not 1 <= round_number <= self.rounds:
            raise RecipeError(f"server-round {round_number} is outside 1..{self.rounds}")
        t = self.meta["training"]
        config = TrainConfig(
            lr=float(t["lr"]),
            batch_size=int(t["batch_size"]),
            local_epochs=int(t["local_epochs"]),
            optimizer=t["optimizer"],
            seed=int(self.arrays["seeds"][round_number - 1, partition]),
        )
        shard = Shard(self.arrays[f"x/{partition}"], self.arrays[f"y/{partition}"])
        result = train_local(self._model(), global_state, shard, config)
        m = result.metrics
        return TrainOutcome(result.state, m.data_size, m.seconds, m.loss)

    def evaluate(self, state: dict[str, Any]) -> tuple[float, float]:
        """(loss, accuracy) on the held-out set the nodes evaluate with."""
        from parity_p2p.learning.trainer import evaluate

        model = self._model()
        model.load_state_dict(state)
        metrics = evaluate(model, Shard(self.arrays["x/eval"], self.arrays["y/eval"]))
        return metrics.loss, float(metrics.accuracy or 0.0)

    def write_result(self, result: dict[str, Any]) -> None:
        (self.folder / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n")

    def write_final_state(self, state: dict[str, Any]) -> None:
        np.savez(self.folder / FINAL_STATE_FILE, **{name: tensor.numpy() for name, tensor in state.items()})
