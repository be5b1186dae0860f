"""Training is reproducible even when several threads train and build models at once (a node training one session
while it prepares another, or many nodes in one process): torch's global generator is shared by the process."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import torch

from parity_p2p.learning.datasets import parse_csv
from parity_p2p.learning.model_config import parse_model_config
from parity_p2p.learning.models import build_model, model_state
from parity_p2p.learning.trainer import TrainConfig, train_local

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_concurrent_training_gives_the_sequential_result() -> None:
    config = parse_model_config(json.loads((EXAMPLES / "iris_model.json").read_text()))
    data = parse_csv((EXAMPLES / "iris.csv").read_bytes())
    start = model_state(build_model(config, seed=1))
    train = TrainConfig(lr=0.1, batch_size=8, local_epochs=3, seed=5)

    def run() -> dict[str, torch.Tensor]:
        return train_local(build_model(config), start, data, train).state

    expected = run()
    results: list[dict[str, torch.Tensor]] = []
    lock = threading.Lock()

    def trainer() -> None:
        state = run()
        with lock:
            results.append(state)

    def builder() -> None:
        for i in range(200):
            build_model(config, seed=i)
            build_model(config)

    threads = [threading.Thread(target=trainer) for _ in range(4)]
    threads += [threading.Thread(target=builder) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for state in results:
        assert all(torch.equal(state[k], expected[k]) for k in expected)
