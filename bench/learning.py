"""Learning-core benchmark: accuracy of strategies x splits (iris, digits; 4 and 10 runners) against centralized
training, compression and DP trade-offs, and FedAvg aggregation throughput against a plain memory copy.

    .venv/bin/python bench/learning.py            # everything (a few minutes on two cores)
    .venv/bin/python bench/learning.py --quick    # fewer rounds, for a smoke run

Writes bench/results/learning.json and bench/results/learning.md. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import platform
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits, load_iris

from parity_p2p.learning.compression import CompressionConfig
from parity_p2p.learning.datasets import TabularDataset
from parity_p2p.learning.federation import centralized_baseline, run_federation, standardized
from parity_p2p.learning.model_config import ModelConfig, parse_model_config
from parity_p2p.learning.partition import SplitSpec
from parity_p2p.learning.privacy import DpConfig
from parity_p2p.learning.strategies import ClientUpdate, FedAvg, Strategy, build_strategy
from parity_p2p.learning.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STRATEGIES = ("fedavg", "fedprox", "fednova", "median", "trimmed_mean", "krum", "multi_krum", "fedadam", "fedyogi")
SPLITS = ("random", "stratified", "non_iid", "label_skew")
TRAIN = TrainConfig(lr=0.1, batch_size=16, local_epochs=2)
SEED = 7
MB = 1_000_000


def dataset(name: str) -> TabularDataset:
    features, labels = (load_iris if name == "iris" else load_digits)(return_X_y=True)
    return standardized(
        TabularDataset(
            features.astype(np.float32),
            labels.astype(np.int64),
            tuple(str(c) for c in range(int(labels.max()) + 1)),
            tuple(f"x{i}" for i in range(features.shape[1])),
        )
    )


def model_config(name: str) -> ModelConfig:
    return parse_model_config((ROOT / "examples" / f"{name}_model.json").read_text())


def split_spec(split: str, classes: int, runners: int) -> SplitSpec:
    if split == "non_iid":
        return SplitSpec("non_iid", alpha=0.1)
    if split == "label_skew":
        # Every class needs a holder: runners x classes_per_runner >= classes.
        return SplitSpec("label_skew", classes_per_runner=max(2, math.ceil(classes / runners)))
    return SplitSpec(split)  # type: ignore[arg-type]


def build(name: str, runners: int) -> Strategy:
    if name in ("krum", "multi_krum"):
        # Krum needs n > 2f + 2: tolerate one Byzantine runner where the count allows it.
        return build_strategy(name, byzantine=1 if runners > 4 else 0)
    return build_strategy(name)


def accuracy_table(rounds: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    for name in ("iris", "digits"):
        data, config = dataset(name), model_config(name)
        central = centralized_baseline(data, config, rounds[name] * TRAIN.local_epochs, TRAIN, SEED)
        for runners in (4, 10):
            for split in SPLITS:
                row: dict[str, Any] = {
                    "dataset": name,
                    "runners": runners,
                    "split": split,
                    "rounds": rounds[name],
                    "centralized": central.accuracy,
                }
                spec = split_spec(split, data.num_classes, runners)
                for name_ in STRATEGIES:
                    strategy = build(name_, runners)
                    started = time.perf_counter()
                    history = run_federation(data, config, runners, spec, strategy, rounds[name], TRAIN, SEED)
                    row[name_] = history.final.eval.accuracy
                    row[f"{name_}_seconds"] = time.perf_counter() - started
                print(
                    f"{name:6} {runners:2} {split:10} central {central.accuracy:.3f} "
                    + " ".join(f"{s} {row[s]:.3f}" for s in STRATEGIES),
                    flush=True,
                )
                rows.append(row)
    return rows


def compression_table(rounds: int) -> list[dict[str, Any]]:
    data, config = dataset("digits"), model_config("digits")
    variants: list[tuple[str, CompressionConfig]] = [
        ("none (full weights)", CompressionConfig("none", send_delta=False)),
        ("none (delta)", CompressionConfig("none")),
        ("float16", CompressionConfig("float16")),
        ("int8", CompressionConfig("int8")),
        ("top-10% + error feedback", CompressionConfig("topk", topk_fraction=0.1)),
        ("top-10%, no error feedback", CompressionConfig("topk", topk_fraction=0.1, error_feedback=False)),
        ("top-1% + error feedback", CompressionConfig("topk", topk_fraction=0.01)),
    ]
    rows = []
    for label, compression in variants:
        history = run_federation(
            data, config, 10, SplitSpec("non_iid", alpha=0.1), "fedavg", rounds, TRAIN, SEED, compression=compression
        )
        rows.append(
            {
                "encoding": label,
                "bytes_per_update": history.final.bytes_per_update,
                "accuracy": history.final.eval.accuracy,
            }
        )
        print(f"compression {label:28} {history.final.bytes_per_update:9.0f} B  acc {history.final.eval.accuracy:.3f}")
    return rows


def privacy_table(rounds: int) -> list[dict[str, Any]]:
    data, config = dataset("digits"), model_config("digits")
    variants: list[tuple[str, DpConfig | None]] = [
        ("none", None),
        ("DP-FedAvg z=1.0 clip=1.0", DpConfig(1.0, 1.0, mode="client")),
        ("DP-FedAvg z=0.3 clip=1.0", DpConfig(0.3, 1.0, mode="client")),
        ("DP-SGD z=1.0 clip=1.0", DpConfig(1.0, 1.0, mode="sgd")),
        ("DP-SGD z=0.6 clip=1.0", DpConfig(0.6, 1.0, mode="sgd")),
    ]
    rows = []
    for label, dp in variants:
        started = time.perf_counter()
        history = run_federation(data, config, 10, SplitSpec("random"), "fedavg", rounds, TRAIN, SEED, dp=dp)
        rows.append(
            {
                "privacy": label,
                "accuracy": history.final.eval.accuracy,
                "epsilon": history.final.epsilon,
                "seconds": time.perf_counter() - started,
            }
        )
        print(f"privacy {label:26} acc {history.final.eval.accuracy:.3f} eps {history.final.epsilon}")
    return rows


def _rss_peak_reset() -> None:
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so the peak covers only the measured work.
    Path("/proc/self/clear_refs").write_text("5")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


@dataclass
class Throughput:
    update_mb: int
    updates: int
    fedavg_gb_s: float
    memcpy_gb_s: float
    ratio: float
    fedavg_peak_extra_mb: float
    memcpy_peak_extra_mb: float


def _stream(pool: list[dict[str, torch.Tensor]], count: int) -> Iterator[ClientUpdate]:
    for i in range(count):
        yield ClientUpdate(delta=pool[i % len(pool)], num_examples=10 + i, local_steps=1, norm_factor=1.0)


def _measure_in_child(size_mb: int, count: int, mode: str) -> tuple[float, float]:
    """Runs in a fresh process, so memory freed by earlier work cannot hide this work's peak.

    Returns the best time of two runs and the peak RSS above the RSS before them, in MB.
    """
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    numel = size_mb * MB // 4
    # Four tensors per update, like a small MLP's weight/bias pairs, in float32.
    shapes = {"layer0.weight": numel // 2, "layer0.bias": numel // 4, "layer1.weight": numel // 8}
    shapes["layer1.bias"] = numel - sum(shapes.values())
    global_state = {name: torch.zeros(n) for name, n in shapes.items()}
    # Distinct updates reused cyclically: the stream is as long as we like while memory holds only the pool,
    # so the figure is aggregation, not random-number generation. At least 400 MB of them, so reads come
    # from memory and not from the CPU cache.
    distinct = min(count, max(4, math.ceil(400 / size_mb)))
    pool = [{name: torch.randn(n, generator=generator) for name, n in shapes.items()} for _ in range(distinct)]
    # Touched up front: the copy's destination is the baseline's only buffer, and it exists before timing.
    destination = {name: torch.empty(n).fill_(0.0) for name, n in shapes.items()}
    _rss_peak_reset()
    before = _status_kib("VmRSS")
    best = math.inf
    for _ in range(2):
        started = time.perf_counter()
        if mode == "fedavg":
            result = FedAvg().aggregate(1, global_state, _stream(pool, count))
            del result
        else:
            for i in range(count):
                for name, tensor in pool[i % len(pool)].items():
                    destination[name].copy_(tensor)
        best = min(best, time.perf_counter() - started)
    return best, (_status_kib("VmHWM") - before) * 1024 / MB


def throughput(sizes_mb: tuple[int, ...], counts: tuple[int, ...]) -> list[Throughput]:
    results = []
    context = multiprocessing.get_context("spawn")
    for size_mb in sizes_mb:
        for count in counts:
            measured = {}
            for mode in ("fedavg", "copy"):
                with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                    measured[mode] = pool.submit(_measure_in_child, size_mb, count, mode).result()
            (fedavg_seconds, fedavg_extra), (copy_seconds, copy_extra) = measured["fedavg"], measured["copy"]
            total_gb = size_mb * count / 1000
            result = Throughput(
                update_mb=size_mb,
                updates=count,
                fedavg_gb_s=total_gb / fedavg_seconds,
                memcpy_gb_s=total_gb / copy_seconds,
                ratio=copy_seconds / fedavg_seconds,
                fedavg_peak_extra_mb=fedavg_extra,
                memcpy_peak_extra_mb=copy_extra,
            )
            print(
                f"fedavg {size_mb:3} MB x {count:2}: {result.fedavg_gb_s:5.2f} GB/s, memcpy {result.memcpy_gb_s:5.2f}"
                f" GB/s, ratio {result.ratio:.2f}, peak +{fedavg_extra:.0f} MB (copy +{copy_extra:.0f} MB)",
                flush=True,
            )
            results.append(result)
    return results


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Learning benchmark",
        "",
        f"{report['machine']}; torch {report['torch']}; seed {SEED}; {TRAIN.local_epochs} local epochs, lr "
        f"{TRAIN.lr}, batch {TRAIN.batch_size}; 20% held-out eval split; features standardized.",
        "",
        "## Accuracy (held-out eval split) after the last round",
        "",
        "| dataset | runners | split | rounds | centralized | " + " | ".join(STRATEGIES) + " |",
        "|---|---|---|---|---|" + "---|" * len(STRATEGIES),
    ]
    for row in report["accuracy"]:
        cells = [row["dataset"], str(row["runners"]), row["split"], str(row["rounds"]), _fmt(row["centralized"])]
        lines.append("| " + " | ".join(cells + [_fmt(row[s]) for s in STRATEGIES]) + " |")
    lines += [
        "",
        "## Compression (digits, 10 runners, non_iid alpha 0.1, fedavg)",
        "",
        "| encoding | bytes per update | accuracy |",
        "|---|---|---|",
    ]
    for row in report["compression"]:
        lines.append(f"| {row['encoding']} | {row['bytes_per_update']:.0f} | {_fmt(row['accuracy'])} |")
    lines += [
        "",
        f"## Privacy (digits, 10 runners, random split, fedavg, {report['privacy_rounds']} rounds; epsilon at "
        "delta 1e-5)",
        "",
        "| privacy | accuracy | epsilon | seconds |",
        "|---|---|---|---|",
    ]
    for row in report["privacy"]:
        lines.append(f"| {row['privacy']} | {_fmt(row['accuracy'])} | {_fmt(row['epsilon'])} | {row['seconds']:.1f} |")
    lines += [
        "",
        "## FedAvg aggregation throughput (streaming, float32)",
        "",
        "| update | updates | FedAvg GB/s | memory copy GB/s | FedAvg / copy | FedAvg peak extra RSS "
        "| copy peak extra RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["throughput"]:
        lines.append(
            f"| {row['update_mb']} MB | {row['updates']} | {row['fedavg_gb_s']:.2f} | {row['memcpy_gb_s']:.2f} | "
            f"{row['ratio']:.2f} | {row['fedavg_peak_extra_mb']:.0f} MB | {row['memcpy_peak_extra_mb']:.0f} MB |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes, for a smoke run")
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny models: the thread pool costs more than it saves
    rounds = {"iris": 5, "digits": 3} if args.quick else {"iris": 40, "digits": 20}
    started = time.perf_counter()
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {torch.get_num_interop_threads()} interop threads, "
        f"{len(__import__('os').sched_getaffinity(0))} cores",
        "torch": torch.__version__,
        "train_config": asdict(TRAIN),
        "accuracy": accuracy_table(rounds),
        "compression": compression_table(rounds["digits"]),
        # DP-SGD (per-sample gradients) is ~100x slower than plain training here: fewer rounds.
        "privacy": privacy_table(max(1, rounds["digits"] // 2)),
    }
    sizes = (10,) if args.quick else (10, 100)
    report["privacy_rounds"] = max(1, rounds["digits"] // 2)
    report["throughput"] = [asdict(t) for t in throughput(sizes, (4, 16, 64))]
    report["seconds"] = time.perf_counter() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "learning.json").write_text(json.dumps(report, indent=2) + "\n")
    summary = markdown(report)
    (RESULTS / "learning.md").write_text(summary)
    print(summary)
    print(f"total {report['seconds']:.0f} s; wrote {RESULTS / 'learning.json'} and {RESULTS / 'learning.md'}")


if __name__ == "__main__":
    main()
