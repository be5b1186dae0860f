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
    failover_step: int  # 0 when the first elected leader posted
    eval_loss: float  # of the new global model on the held-out split, as posted on-chain
    eval_accuracy: float
    model_cid: str


@dataclass(frozen=True)
class RewardRow:
    runner: str
    points: int
    reward: int  # token base units
    claimed: bool
    rounds_done: int
    leaderships_done: int
    leaderships_missed: int


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def format_round_table(rows: Sequence[RoundRow]) -> str:
    header = "round  leader          eval loss  eval acc  model CID"
    lines = [header, "-" * 96]
    for r in rows:
        leader = _short(r.leader) + (f" (+{r.failover_step})" if r.failover_step else "")
        lines.append(f"{r.round:>5}  {leader:<14}  {r.eval_loss:>9.4f}  {r.eval_accuracy:>8.3f}  {r.model_cid}")
    return "\n".join(lines)


def format_reward_table(rows: Sequence[RewardRow], symbol: str) -> str:
    header = f"runner        points  rounds  led  missed  reward ({symbol})  claimed"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{_short(r.runner):<12}  {r.points:>6}  {r.rounds_done:>6}  {r.leaderships_done:>3}  "
            f"{r.leaderships_missed:>6}  {r.reward / TOKEN_UNIT:>14.6f}  {'yes' if r.claimed else 'no (node down)'}"
        )
    return "\n".join(lines)


def write_plot(rows: Sequence[RoundRow], path: Path, title: str) -> None:
    """Loss (left axis) and accuracy (right axis) per round, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display here; must precede pyplot
    import matplotlib.pyplot as plt

    rounds = [r.round for r in rows]
    fig, loss_ax = plt.subplots(figsize=(7, 4), dpi=120)
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
