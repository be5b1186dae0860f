"""The README's main command, end to end on a real anvil: failover, rewards, and the exported model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from parity_p2p.devnet.demo import main, parse_args, run_demo
from parity_p2p.learning.datasets import parse_csv
from parity_p2p.learning.export import load_model_json, load_model_safetensors

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def test_demo_session_completes_with_failover_and_pays_by_points(tmp_path: Path) -> None:
    options = parse_args(
        ["--runners", "3", "--rounds", "2", "--local-epochs", "1", "--silent-leader-round", "2", "--out", str(tmp_path)]
    )
    result = await run_demo(options)

    assert [r.round for r in result.rounds] == [1, 2]
    assert result.rounds[0].failover_step == 0
    assert result.rounds[1].failover_step == 1, "the silent leader's successor must have posted round 2"
    assert all(r.attestations == 3 and r.updates == 3 for r in result.rounds)
    assert result.rounds[1].model_cid.startswith("bafk")

    total_points = sum(r.points for r in result.rewards)
    assert total_points == 2 * sum(r.data_size for r in result.rewards)  # every update used in both rounds
    for row in result.rewards:
        assert row.reward == result.pool * row.points // total_points
    assert sum(r.reward for r in result.rewards) + result.creator_dust == result.pool

    for name in ("loss_accuracy.png", "trained_model.json", "trained_model.safetensors", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "loss_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from_json, _, metrics = load_model_json((tmp_path / "trained_model.json").read_bytes())
    from_safetensors, _, _ = load_model_safetensors((tmp_path / "trained_model.safetensors").read_bytes())
    assert metrics["accuracy"] == result.rounds[-1].eval_accuracy
    iris = parse_csv((EXAMPLES / "iris.csv").read_bytes())
    x = torch.from_numpy(iris.features)
    with torch.no_grad():
        a, b = from_json(x), from_safetensors(x)
    assert torch.equal(a, b)
    accuracy = float(np.mean(a.argmax(dim=1).numpy() == iris.labels))
    assert accuracy > 0.5, f"the trained model scores {accuracy:.2f} on Iris; a 3-class guess scores 0.33"


def test_demo_rejects_bad_flags_with_a_message(capsys: object) -> None:
    import pytest

    for argv in (["--runners", "1"], ["--rounds", "0"], ["--alpha", "0"], ["--aggregation", "nope"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
