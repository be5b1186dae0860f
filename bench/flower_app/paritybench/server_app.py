"""ServerApp: FedAvg over every SuperNode for the recipe's rounds, timing each round and evaluating centrally.

A round's wall time runs from one central evaluation to the next (the first mark is taken just before round 1),
so it holds the training round trip, FedAvg and the evaluation, like a Parity round which ends once the leader's
evaluated aggregate is final on-chain. Federated (client-side) evaluation is off: Parity evaluates the aggregate
once on the held-out set, and so does this.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from paritybench.client_app import to_state
from paritybench.recipe import Recipe

app = ServerApp()


def train_timing(records: list[RecordDict], weight_key: str) -> MetricRecord:
    """Per-round figures from every reply: the slowest and the median training time, how many replied."""
    metrics = [next(iter(r.metric_records.values())) for r in records]
    seconds = [float(m["train-seconds"]) for m in metrics]
    warm_ups = [float(m["warm-up-seconds"]) for m in metrics]
    total = sum(float(m[weight_key]) for m in metrics)
    loss = sum(float(m["train-loss"]) * float(m[weight_key]) for m in metrics) / total
    return MetricRecord(
        {
            "train-seconds-max": max(seconds),
            "train-seconds-median": statistics.median(seconds),
            "warm-up-seconds-max": max(warm_ups),
            "replies": len(metrics),
            "train-loss": loss,
        }
    )


@app.main()  # type: ignore[untyped-decorator]  # flwr lives in .venv-flower, untyped here
def main(grid: Grid, context: Context) -> None:
    recipe = Recipe(str(context.run_config["bench-dir"]))
    nodes = recipe.partitions
    strategy = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=0.0,
        min_train_nodes=nodes,
        min_available_nodes=nodes,
        train_metrics_aggr_fn=train_timing,
    )
    marks: list[float] = []
    evals: list[tuple[float, float]] = []

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        marks.append(time.monotonic())
        loss, accuracy = recipe.evaluate(to_state(arrays))
        evals.append((loss, accuracy))
        return MetricRecord({"loss": loss, "accuracy": accuracy})

    started = time.monotonic()
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(recipe.initial_state()),
        num_rounds=recipe.rounds,
        train_config=ConfigRecord(),
        evaluate_fn=evaluate,
    )
    rounds: list[dict[str, Any]] = []
    for number in range(1, recipe.rounds + 1):
        train = result.train_metrics_clientapp.get(number, MetricRecord())
        rounds.append(
            {
                "round": number,
                "wall_seconds": marks[number] - marks[number - 1],
                "train_seconds_max": float(train.get("train-seconds-max", 0.0)),
                "train_seconds_median": float(train.get("train-seconds-median", 0.0)),
                "warm_up_seconds_max": float(train.get("warm-up-seconds-max", 0.0)),
                "replies": int(train.get("replies", 0)),
                "eval_loss": evals[number][0],
                "eval_accuracy": evals[number][1],
            }
        )
    recipe.write_final_state(to_state(result.arrays))
    recipe.write_result(
        {"nodes": nodes, "rounds": rounds, "strategy_seconds": time.monotonic() - started, "initial": evals[0]}
    )
