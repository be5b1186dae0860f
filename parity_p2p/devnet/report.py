"""What the demo prints and writes: the per-round table, the rewards table, and the loss/accuracy plot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TOKEN_UNIT = 10**18


@dataclass(frozen=True)
class RoundRow:
    round: int
    leader: str
    failover_step: int
    updates: int
    attestations: int
    train_loss: float
    eval_loss: float
    eval_accuracy: float
    model_cid: str
    gas_used: int


@dataclass(frozen=True)
class RewardRow:
    runner: str
    data_size: int
    points: int
    reward: int  # token base units
    rounds_done: int
    leaderships_done: int


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def format_round_table(rows: Sequence[RoundRow]) -> str:
    header = "round  leader        updates  attest  train loss  eval loss  eval acc  gas       model CID"
    lines = [header, "-" * len(header)]
    for r in rows:
        leader = _short(r.leader) + (f"+{r.failover_step}" if r.failover_step else "")
        lines.append(
            f"{r.round:>5}  {leader:<12}  {r.updates:>7}  {r.attestations:>6}  {r.train_loss:>10.4f}  "
            f"{r.eval_loss:>9.4f}  {r.eval_accuracy:>8.3f}  {r.gas_used:>8}  {r.model_cid}"
        )
    return "\n".join(lines)


def format_reward_table(rows: Sequence[RewardRow], symbol: str) -> str:
    header = f"runner        data  points  rounds  led  reward ({symbol})"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{_short(r.runner):<12}  {r.data_size:>4}  {r.points:>6}  {r.rounds_done:>6}  {r.leaderships_done:>3}  "
            f"{r.reward / TOKEN_UNIT:>12.6f}"
        )
    return "\n".join(lines)


def write_plot(rows: Sequence[RoundRow], path: Path, title: str) -> None:
    """Loss (left axis) and accuracy (right axis) per round, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display here; must precede pyplot
    import matplotlib.pyplot as plt

    rounds = [r.round for r in rows]
    fig, loss_ax = plt.subplots(figsize=(7, 4), dpi=120)
    loss_ax.plot(rounds, [r.train_loss for r in rows], "o--", color="tab:orange", label="train loss (mean)")
    loss_ax.plot(rounds, [r.eval_loss for r in rows], "o-", color="tab:red", label="eval loss")
    loss_ax.set_xlabel("round")
    loss_ax.set_ylabel("loss")
    loss_ax.set_xticks(rounds)
    acc_ax = loss_ax.twinx()
    acc_ax.plot(rounds, [r.eval_accuracy for r in rows], "s-", color="tab:blue", label="eval accuracy")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_ylim(0, 1.02)
    handles = loss_ax.get_legend_handles_labels()[0] + acc_ax.get_legend_handles_labels()[0]
    loss_ax.legend(handles, [str(h.get_label()) for h in handles], loc="center right")
    loss_ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
