"""ClientApp: trains this SuperNode's shard (node config `partition-id`) for one round with Parity's recipe."""

from __future__ import annotations

from typing import Any

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from paritybench.recipe import Recipe

app = ClientApp()


def to_state(record: ArrayRecord) -> dict[str, Any]:
    import torch

    # A copy: the received buffers are read-only and torch warns about sharing them.
    return {name: torch.from_numpy(array.numpy().copy()) for name, array in record.items()}


@app.train()  # type: ignore[untyped-decorator]  # flwr lives in .venv-flower, untyped here
def train(msg: Message, context: Context) -> Message:
    recipe = Recipe(str(context.run_config["bench-dir"]))
    partition = int(context.node_config["partition-id"])
    round_number = int(msg.content["config"]["server-round"])
    warm_up_seconds = recipe.warm_up()
    outcome = recipe.train(partition, round_number, to_state(msg.content["arrays"]))
    metrics = MetricRecord(
        {
            "num-examples": outcome.num_examples,
            "train-seconds": outcome.train_seconds,
            "train-loss": outcome.loss,
            "warm-up-seconds": warm_up_seconds,
            "partition-id": partition,
        }
    )
    content = RecordDict({"arrays": ArrayRecord(outcome.state), "metrics": metrics})
    return Message(content=content, reply_to=msg)
