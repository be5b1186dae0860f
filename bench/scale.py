"""Scale: round time (median, with its phase split) and memory as the number of nodes grows, on this machine.

For each N: a fresh devnet (anvil + N real `parity-node start` processes), the Iris session of bench/rounds.py,
and the resident memory of every node process (its process tree, from /proc/<pid>/status: VmRSS sampled while
the rounds run, VmHWM for the peak), and of anvil. The sweep stops at the first N that does not complete (devnet
not up, session not completed) or whose projected memory exceeds what the machine has available, and says why.
Writes bench/results/scale.json and the plot bench/results/scale.png.

    .venv/bin/python bench/scale.py [--nodes 2 4 8 16 24 32] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import rounds
import trio

from parity_p2p.chain import ChainError
from parity_p2p.devnet.network import Devnet, DevnetError, DevnetState

RESULTS = Path(__file__).resolve().parent / "results"
KIB = 1024
MIB = 1024 * 1024
MEMORY_HEADROOM = 0.8  # never plan to use more than this share of MemAvailable


class ProcGone(Exception):
    """The process exited while it was being read."""


def _status_kib(pid: int, key: str) -> int:
    """A `VmRSS:`-style line of /proc/<pid>/status, in KiB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        raise ProcGone(pid) from None
    for line in lines:
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (a node may run helpers in child processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


def tree_kib(pid: int, key: str) -> int:
    total = 0
    for member in _tree(pid):
        try:
            total += _status_kib(member, key)
        except ProcGone:
            continue
    return total


def available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * KIB / MIB
    raise RuntimeError("/proc/meminfo has no MemAvailable")


@dataclass
class MemorySampler:
    """Samples VmRSS of each node's process tree and of anvil; keeps the largest total seen."""

    state: DevnetState
    samples: int = 0
    peak_total_kib: int = 0
    per_node_kib: dict[int, list[int]] = field(default_factory=dict)

    def __call__(self) -> None:
        total = 0
        for node in self.state.nodes:
            rss = tree_kib(node.pid, "VmRSS")
            self.per_node_kib.setdefault(node.index, []).append(rss)
            total += rss
        self.peak_total_kib = max(self.peak_total_kib, total)
        self.samples += 1


@dataclass(frozen=True)
class ScalePoint:
    nodes: int
    rounds: int
    median_round_seconds: float  # span previous receipt -> receipt, from the nodes' marks (rounds 2..R)
    median_wall_seconds: float  # the same seen by this process polling the chain
    median_training_seconds: float
    median_overhead_seconds: float  # round - training on the critical path
    leader_phases: dict[str, float]
    follower_phases: dict[str, float]
    rss_per_node_mib_median: float  # median over nodes of each node's median sampled VmRSS
    rss_per_node_mib_max: float  # the largest node's peak (VmHWM)
    rss_nodes_total_mib_peak: float  # the largest sampled sum over all nodes
    rss_anvil_mib: float
    memory_samples: int
    devnet_up_seconds: float
    final_accuracy: float


@dataclass
class ScaleResult:
    points: list[ScalePoint]
    stopped_at: int | None  # the first N not measured (None: every requested N ran)
    stop_reason: str
    available_mib_at_start: float
    cores: int
    note: str = (
        "2 shared cores: the figures move with whatever else runs (other engineers' tests ran beside these); "
        "medians of rounds 2..R per N, one session per N"
    )


def measure_point(nodes: int, round_count: int) -> ScalePoint:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as root:
        options = rounds.demo_options(nodes, round_count, Path(root))
        with Devnet(Path(root) / "devnet", nodes) as net:
            started = time.monotonic()
            state = net.up(lambda _text: None)
            up_seconds = time.monotonic() - started
            sampler = MemorySampler(state)
            done = trio.run(lambda: rounds.run_session(options, state, sample=sampler))
            sampler()
            peaks = [tree_kib(node.pid, "VmHWM") for node in state.nodes]
            anvil = tree_kib(state.anvil_pid, "VmRSS")
    summary = rounds.summarize(nodes, done.timings, done.final_accuracy, up_seconds)
    medians = [statistics.median(values) for values in sampler.per_node_kib.values()]
    return ScalePoint(
        nodes=nodes,
        rounds=round_count,
        median_round_seconds=summary.median_span_seconds,
        median_wall_seconds=summary.median_wall_seconds,
        median_training_seconds=summary.median_leader_phases.get("training", summary.median_train_seconds),
        median_overhead_seconds=summary.median_phase_overhead_seconds,
        leader_phases=summary.median_leader_phases,
        follower_phases=summary.median_follower_phases,
        rss_per_node_mib_median=statistics.median(medians) * KIB / MIB,
        rss_per_node_mib_max=max(peaks) * KIB / MIB,
        rss_nodes_total_mib_peak=sampler.peak_total_kib * KIB / MIB,
        rss_anvil_mib=anvil * KIB / MIB,
        memory_samples=sampler.samples,
        devnet_up_seconds=up_seconds,
        final_accuracy=done.final_accuracy,
    )


def save(result: ScaleResult) -> None:
    """Written after every N, so a sweep stopped by hand keeps what it measured."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    if result.points:
        plot(result, RESULTS / "scale.png")


def sweep(node_counts: tuple[int, ...], round_count: int) -> ScaleResult:
    result = ScaleResult([], None, "", available_mib(), len(os.sched_getaffinity(0)))
    for n in node_counts:
        if result.points:
            per_node = max(p.rss_per_node_mib_max for p in result.points)
            needed, free = per_node * n, available_mib()
            if needed > MEMORY_HEADROOM * free:
                result.stopped_at = n
                result.stop_reason = (
                    f"{n} nodes would need ~{needed:.0f} MiB ({per_node:.0f} MiB each), over "
                    f"{MEMORY_HEADROOM:.0%} of the {free:.0f} MiB available"
                )
                break
        try:
            point = measure_point(n, round_count)
        except trio.TooSlowError:
            result.stopped_at = n
            result.stop_reason = (
                f"{n} nodes did not complete {round_count} rounds within the bench's limit (rounds x round timeout x 2"
                f" + 60 s); CPU-bound ({n} node processes on {len(os.sched_getaffinity(0))} cores), memory was not the"
                " limit"
            )
            print(f"scale: stop at {n} nodes: {result.stop_reason}", flush=True)
            break
        except (DevnetError, ChainError, RuntimeError, OSError) as exc:
            result.stopped_at, result.stop_reason = n, f"{n} nodes did not complete: {type(exc).__name__}: {exc}"
            print(f"scale: stop at {n} nodes: {result.stop_reason}", flush=True)
            break
        result.points.append(point)
        result.stop_reason = f"measured up to {n} nodes so far"
        save(result)
        print(
            f"scale {n:3} nodes: round {point.median_round_seconds:.3f} s (training {point.median_training_seconds:.3f}"
            f" s, overhead {point.median_overhead_seconds:.3f} s), RSS/node {point.rss_per_node_mib_median:.0f} MiB "
            f"(max peak {point.rss_per_node_mib_max:.0f}), all nodes {point.rss_nodes_total_mib_peak:.0f} MiB",
            flush=True,
        )
    if result.stopped_at is None:
        result.stop_reason = "every requested N completed"
    return result


def plot(result: ScaleResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = result.points
    xs = [p.nodes for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bottom = [0.0] * len(points)
    for phase in rounds.LEADER_PHASES:
        heights = [p.leader_phases.get(phase, 0.0) for p in points]
        left.bar([str(x) for x in xs], heights, bottom=bottom, label=phase)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    left.set_xlabel("nodes")
    left.set_ylabel("seconds per round (median)")
    left.set_title("Round time by phase (leader's critical path)")
    left.legend(fontsize=8)
    right.plot(xs, [p.rss_nodes_total_mib_peak / 1024 for p in points], "o-", label="all nodes, peak sum (GiB)")
    right.plot(xs, [p.rss_per_node_mib_median / 1024 for p in points], "s-", label="per node, median (GiB)")
    right.set_xlabel("nodes")
    right.set_ylabel("resident memory (GiB)")
    right.set_title("Memory (VmRSS from /proc)")
    right.legend(fontsize=8)
    stop = f"; the sweep stopped at {result.stopped_at} nodes (scale.json says why)" if result.stopped_at else ""
    fig.suptitle(f"Iris session on the local network, {result.cores} shared cores{stop}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: ScaleResult) -> str:
    lines = [
        "## Scale (Iris session per N, median of rounds 2..R; RSS from /proc)",
        "",
        "| nodes | round s | training s | overhead s | RSS/node MiB (median) | max node peak MiB | all nodes MiB | "
        "anvil MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in result.points:
        lines.append(
            f"| {p.nodes} | {p.median_round_seconds:.3f} | {p.median_training_seconds:.3f} | "
            f"{p.median_overhead_seconds:.3f} | {p.rss_per_node_mib_median:.0f} | {p.rss_per_node_mib_max:.0f} | "
            f"{p.rss_nodes_total_mib_peak:.0f} | {p.rss_anvil_mib:.0f} |"
        )
    lines += ["", f"Stopped: {result.stop_reason}." if result.stopped_at else f"{result.stop_reason}.", ""]
    return "\n".join(lines)


def run(node_counts: tuple[int, ...] = (2, 4, 8, 16, 24, 32), round_count: int = 4) -> ScaleResult:
    result = sweep(node_counts, round_count)
    save(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[2, 4, 8, 16, 24, 32])
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    print(markdown(run(tuple(args.nodes), args.rounds)))


if __name__ == "__main__":
    main()
