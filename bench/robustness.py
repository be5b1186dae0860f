"""Byzantine robustness: 5 runners, 1 of them Byzantine, on real training (parity_p2p.learning, the nodes' code).

For iris and digits, IID (stratified) and non-IID (Dirichlet alpha 0.5) splits, each attack (none, x10 scaled,
sign-flipped, sign-flipped x4) and each strategy (fedavg, median, trimmed_mean at 0.2, krum with f=1): the final
held-out accuracy, alone ("strategy") and behind the node's norm screen ("node": what `node/work.py` aggregates).
Also the spread of honest delta norms (max / median per round), which the screen's factor must stay above.

    .venv/bin/python bench/robustness.py            # ~3-6 min on two cores
    .venv/bin/python bench/robustness.py --quick    # fewer rounds, iris only

Writes bench/results/robustness.{json,md,png}. No assertions: figures only (tests/faults/test_faults_byzantine.py
holds the bounds).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from learning import dataset, model_config  # bench/learning.py: the same datasets and model configs

from parity_p2p.learning.byzantine import Attack, Attacked
from parity_p2p.learning.federation import run_federation
from parity_p2p.learning.partition import SplitSpec
from parity_p2p.learning.strategies import AggregateResult, ClientUpdate, NormScreen, State, Strategy, build_strategy
from parity_p2p.learning.strategies.norm_screen import DEFAULT_NORM_FACTOR, screen_norms
from parity_p2p.learning.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RUNNERS = 5
ATTACKER = "runner-004"  # run_federation names runners runner-000..runner-004
STRATEGIES = ("fedavg", "median", "trimmed_mean", "krum")
ATTACKS = (Attack.NONE, Attack.SCALED, Attack.SIGN_FLIP, Attack.SIGN_FLIP_X4)
SPLITS = {"iid": SplitSpec("stratified"), "non_iid": SplitSpec("non_iid", alpha=0.5)}
TRAIN = TrainConfig(lr=0.1, batch_size=16, local_epochs=2)
SEED = 11


@dataclass(frozen=True)
class Case:
    dataset: str
    split: str
    attack: str
    strategy: str
    mode: str  # "strategy": the strategy alone; "node": behind the norm screen, as a node aggregates
    rounds: int


@dataclass(frozen=True)
class Outcome:
    case: Case
    accuracy: float
    screened: int  # updates the norm screen set aside over all rounds (node mode)
    attacker_screened: int
    honest_norm_spread: float  # max over rounds of (largest / median honest delta norm)
    seconds: float


def build(name: str) -> Strategy:
    if name == "krum":
        return build_strategy("krum", byzantine=1)
    if name == "trimmed_mean":
        return build_strategy("trimmed_mean", trim_fraction=0.2)  # trims 1 of 5 at each end
    return build_strategy(name)


class Recording(Strategy):
    """Passes a round through, noting what the screen set aside and how spread the honest norms were."""

    name = "recording"

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self.screened: list[str] = []
        self.spread = 0.0

    def aggregate(self, round_number: int, global_state: State, updates: Iterable[ClientUpdate]) -> AggregateResult:
        held = list(updates)
        honest = screen_norms([u.delta for u in held if u.runner != ATTACKER])
        if honest.median > 0:
            self.spread = max(self.spread, max(honest.norms) / honest.median)
        result = self.inner.aggregate(round_number, global_state, held)
        self.screened.extend(s.runner for s in result.screened_out)
        return result


def run_case(case: Case) -> Outcome:
    started = time.perf_counter()
    inner = build(case.strategy)
    screened: Strategy = NormScreen(inner, DEFAULT_NORM_FACTOR) if case.mode == "node" else inner
    recording = Recording(screened)
    # The attack rewrites the attacker's delta first; the recorder then sees exactly what the aggregator sees.
    strategy = Attacked(recording, ATTACKER, Attack(case.attack))
    history = run_federation(
        dataset(case.dataset), model_config(case.dataset), RUNNERS, SPLITS[case.split], strategy, case.rounds, TRAIN,
        SEED,
    )  # fmt: skip
    accuracy = history.final.eval.accuracy
    return Outcome(
        case,
        float(accuracy if accuracy is not None else float("nan")),
        len(recording.screened),
        recording.screened.count(ATTACKER),
        recording.spread,
        time.perf_counter() - started,
    )


def cases(quick: bool) -> list[Case]:
    rounds = {"iris": 6 if quick else 15, "digits": 10}
    datasets = ("iris",) if quick else ("iris", "digits")
    return [
        Case(d, split, attack.value, strategy, mode, rounds[d])
        for d in datasets
        for split in SPLITS
        for attack in ATTACKS
        for strategy in STRATEGIES
        for mode in ("strategy", "node")
    ]


def table(outcomes: list[Outcome]) -> str:
    """One markdown table per (dataset, split): accuracy per strategy x attack, strategy alone / behind the screen."""
    by_key = {(o.case.dataset, o.case.split, o.case.attack, o.case.strategy, o.case.mode): o for o in outcomes}
    lines: list[str] = []
    for d in dict.fromkeys(o.case.dataset for o in outcomes):
        for split in SPLITS:
            lines += [f"### {d}, {split} ({RUNNERS} runners, 1 Byzantine)", ""]
            lines.append("| strategy | " + " | ".join(a.value for a in ATTACKS) + " |")
            lines.append("|---" * (len(ATTACKS) + 1) + "|")
            for s in STRATEGIES:
                cells = []
                for a in ATTACKS:
                    alone = by_key[(d, split, a.value, s, "strategy")]
                    node = by_key[(d, split, a.value, s, "node")]
                    cells.append(f"{alone.accuracy:.3f} / {node.accuracy:.3f}")
                lines.append(f"| {s} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def plot(outcomes: list[Outcome], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(d, s) for d in dict.fromkeys(o.case.dataset for o in outcomes) for s in SPLITS]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 4), squeeze=False, sharey=True)
    width = 0.8 / len(STRATEGIES)
    for ax, (d, split) in zip(axes[0], groups, strict=True):
        for k, s in enumerate(STRATEGIES):
            values = [
                next(o.accuracy for o in outcomes
                     if (o.case.dataset, o.case.split, o.case.attack, o.case.strategy, o.case.mode)
                     == (d, split, a.value, s, "strategy"))
                for a in ATTACKS
            ]  # fmt: skip
            ax.bar(np.arange(len(ATTACKS)) + k * width, values, width, label=s)
        ax.set_xticks(np.arange(len(ATTACKS)) + 0.4 - width / 2, [a.value for a in ATTACKS], rotation=20)
        ax.set_title(f"{d}, {split}")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("final held-out accuracy (strategy alone)")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{RUNNERS} runners, 1 Byzantine ({ATTACKER})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="iris only, fewer rounds")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    todo = cases(args.quick)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        outcomes = list(pool.map(run_case, todo))
    # Spread in honest runs only: under an attack the global model (and so every honest delta) can be wrecked.
    spread = max(o.honest_norm_spread for o in outcomes if o.case.attack == Attack.NONE.value)
    honest_screened = sum(o.screened - o.attacker_screened for o in outcomes if o.case.mode == "node")
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "machine": platform.platform(),
        "seed": SEED,
        "runners": RUNNERS,
        "attacker": ATTACKER,
        "norm_factor": DEFAULT_NORM_FACTOR,
        "max_honest_norm_spread": spread,
        "honest_updates_screened": honest_screened,
        "seconds": time.perf_counter() - started,
        "outcomes": [{**asdict(o.case), **{k: v for k, v in asdict(o).items() if k != "case"}} for o in outcomes],
    }
    (RESULTS / "robustness.json").write_text(json.dumps(summary, indent=2) + "\n")
    notes = (
        f"Cells: final accuracy, strategy alone / behind the node's norm screen (factor {DEFAULT_NORM_FACTOR:g}). "
        f"Largest honest delta norm / round median in the honest runs: {spread:.2f}; honest updates screened in "
        f"any run: {honest_screened}. "
        f"Seed {SEED}, {time.perf_counter() - started:.0f} s.\n\n"
    )
    (RESULTS / "robustness.md").write_text("# Byzantine robustness\n\n" + notes + table(outcomes))
    plot(outcomes, RESULTS / "robustness.png")
    print(notes + table(outcomes))


if __name__ == "__main__":
    main()
