"""The README's main command, end to end: real anvil, real `parity-node` processes, a leader killed with -9."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from parity_p2p.devnet.demo import Clock, main, parse_args, run
from parity_p2p.learning.datasets import parse_csv
from parity_p2p.learning.export import load_model_json, load_model_safetensors

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_demo_network_survives_a_killed_leader_and_pays_by_points(tmp_path: Path) -> None:
    options = parse_args(
        ["--runners", "3", "--rounds", "3", "--split", "stratified", "--local-epochs", "5", "--learning-rate", "0.1",
         "--round-timeout", "10", "--kill-leader-round", "2", "--out", str(tmp_path / "demo")]
    )  # fmt: skip
    result = run(options, Clock())

    assert [r.round for r in result.rounds] == [1, 2, 3]
    assert result.killed, "the demo must have killed round 2's leader"
    assert result.rounds[1].failover_step >= 1, "round 2 was posted by a later leader in the election order"
    assert result.rounds[1].leader != result.killed
    total = sum(r.points for r in result.rewards)
    for row in result.rewards:
        assert row.reward == result.pool * row.points // total
        assert row.claimed == (row.runner != result.killed) or row.reward == 0
    killed_row = next(r for r in result.rewards if r.runner == result.killed)
    assert killed_row.leaderships_missed >= 1
    assert sum(r.reward for r in result.rewards) + result.creator_dust == result.pool

    out = tmp_path / "demo"
    assert (out / "loss_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from_json, _, metrics = load_model_json((out / "trained_model.json").read_bytes())
    from_safetensors, _, _ = load_model_safetensors((out / "trained_model.safetensors").read_bytes())
    assert metrics["accuracy"] == result.rounds[-1].eval_accuracy
    iris = parse_csv((EXAMPLES / "iris.csv").read_bytes())
    x = torch.from_numpy(iris.features)
    with torch.no_grad():
        a, b = from_json(x), from_safetensors(x)
    assert torch.equal(a, b)
    accuracy = float(np.mean(a.argmax(dim=1).numpy() == iris.labels))
    assert accuracy > 0.5, f"the trained model scores {accuracy:.2f} on Iris; a 3-class guess scores 0.33"
    assert not (out / "devnet" / "devnet.json").exists(), "the devnet must be down after the run"


@pytest.mark.parametrize(
    "argv",
    [["--runners", "1"], ["--rounds", "0"], ["--alpha", "0"], ["--aggregation", "nope"], ["--round-timeout", "5"],
     ["--runners", "2", "--kill-leader-round", "1"]],
)  # fmt: skip
def test_demo_rejects_bad_flags_with_a_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err
