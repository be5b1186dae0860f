"""Write the example CSV files from the data sets that ship inside scikit-learn (run once; output committed).

    .venv/bin/python examples/regenerate_datasets.py
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from sklearn import datasets

HERE = Path(__file__).parent


def _column(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("(cm)", "")).strip("_")


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    iris = datasets.load_iris()
    _write(
        HERE / "iris.csv",
        [_column(n) for n in iris.feature_names] + ["species"],
        [[*map(float, x), iris.target_names[y]] for x, y in zip(iris.data, iris.target, strict=True)],
    )
    wine = datasets.load_wine()
    _write(
        HERE / "wine.csv",
        [_column(n) for n in wine.feature_names] + ["cultivar"],
        [[*map(float, x), wine.target_names[y]] for x, y in zip(wine.data, wine.target, strict=True)],
    )
    digits = datasets.load_digits()
    _write(
        HERE / "digits.csv",
        [f"pixel_{i}" for i in range(64)] + ["digit"],
        [[*map(int, x), int(y)] for x, y in zip(digits.data, digits.target, strict=True)],
    )
    diabetes = datasets.load_diabetes()
    _write(
        HERE / "diabetes.csv",
        [_column(n) for n in diabetes.feature_names] + ["progression"],
        [[*map(float, x), float(y)] for x, y in zip(diabetes.data, diabetes.target, strict=True)],
    )


if __name__ == "__main__":
    main()
