"""Every benchmark, one after the other (they would skew each other on two cores), then bench/results/summary.md.

    .venv/bin/python bench/run_all.py            # ~3 minutes on two cores
    .venv/bin/python bench/run_all.py --quick    # smaller sizes, fewer rounds (~1 minute)

Transfer (bench/transfer.py), round overhead (bench/rounds.py) and FedAvg aggregation throughput
(bench/learning.py's `throughput`; its accuracy tables stay in `bench/learning.py`, minutes of training). Each
writes its bench/results/*.json; no assertions, figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import learning
import rounds
import torch
import transfer

RESULTS = Path(__file__).resolve().parent / "results"


def aggregation_markdown(rows: list[learning.Throughput]) -> str:
    lines = [
        "## FedAvg aggregation (streaming, float32, best of 2, against a memory copy of the same bytes)",
        "",
        "| update | updates | FedAvg GB/s | memcpy GB/s | ratio | FedAvg peak extra RSS | copy peak extra RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.update_mb} MB | {r.updates} | {r.fedavg_gb_s:.2f} | {r.memcpy_gb_s:.2f} | {r.ratio:.2f} | "
            f"{r.fedavg_peak_extra_mb:.0f} MB | {r.memcpy_peak_extra_mb:.0f} MB |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds, for a smoke run")
    args = parser.parse_args()
    started = time.perf_counter()
    transfers = transfer.run(args.quick)
    round_results = rounds.run((4,) if args.quick else (4, 8), 3 if args.quick else 6)
    torch.set_num_threads(1)
    aggregation = learning.throughput((10,) if args.quick else (10, 100), (4, 16) if args.quick else (4, 16, 64))
    (RESULTS / "aggregation.json").write_text(json.dumps([asdict(r) for r in aggregation], indent=2) + "\n")
    seconds = time.perf_counter() - started
    summary = "\n".join(
        [
            "# Benchmark summary",
            "",
            f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"{'--quick; ' if args.quick else ''}{seconds:.0f} s in all. Every ratio is against a reference "
            "measured in the same run.",
            "",
            transfer.markdown(transfers),
            rounds.markdown(round_results),
            aggregation_markdown(aggregation),
        ]
    )
    (RESULTS / "summary.md").write_text(summary)
    print(summary)


if __name__ == "__main__":
    main()
