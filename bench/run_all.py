"""Every benchmark, one after the other (they would skew each other on two cores), then bench/results/summary.md.

    .venv/bin/python bench/run_all.py            # ~15-20 minutes on two cores (the scale sweep is most of it)
    .venv/bin/python bench/run_all.py --quick    # smaller sizes, fewer rounds, fewer nodes (~3 minutes)

Transfer (bench/transfer.py), small-push latency (bench/stream_open.py), round overhead split by phase
(bench/rounds.py), the scale curve (bench/scale.py), FedAvg aggregation throughput (bench/learning.py's
`throughput`; its accuracy tables stay in `bench/learning.py`, minutes of training) and, when
bench/flower_compare.py is there, the Flower comparison. Each writes its bench/results/*; no assertions, figures
only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import learning
import rounds
import scale
import stream_open
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


def flower_markdown(quick: bool) -> str:
    """The Flower comparison (bench/flower_compare.py, another area's), when it exists; it writes its own files."""
    if importlib.util.find_spec("flower_compare") is None:
        return ""
    import flower_compare

    flower_compare.run(quick)
    written = RESULTS / "flower_compare.md"
    fallback = "## Flower comparison\n\nsee bench/results/flower_compare.json\n"
    return written.read_text() if written.exists() else fallback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds, for a smoke run")
    args = parser.parse_args()
    started = time.perf_counter()
    transfers = transfer.run(args.quick)
    opened = stream_open.run(100 if args.quick else 300)
    round_results = rounds.run((4,) if args.quick else (4, 8, 16), 3 if args.quick else 6)
    scaled = scale.run((2, 4) if args.quick else (2, 4, 8, 16, 24, 32), 3 if args.quick else 4)
    flower = flower_markdown(args.quick)
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
            stream_open.markdown(opened),
            rounds.markdown(round_results),
            scale.markdown(scaled),
            aggregation_markdown(aggregation),
            flower,
        ]
    )
    (RESULTS / "summary.md").write_text(summary)
    print(summary)


if __name__ == "__main__":
    main()
