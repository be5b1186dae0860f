"""Tabular datasets: CSV bytes with a header in, typed immutable arrays out.

Class labels are mapped to indices deterministically: the distinct label strings sorted (numerically when
every label is an integer, so ``"2" < "10"``; otherwise as strings), index 0 for the first.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from parity_p2p.learning.errors import CsvError, DatasetError
from parity_p2p.learning.seeding import generator

Task = Literal["classification", "regression"]


@dataclass(frozen=True, eq=False)
class TabularDataset:
    """Rows of float32 features with int64 class indices (classification) or float32 targets (regression).

    ``classes`` names each class index and is empty for regression. Treat the arrays as read-only
    (they stay writable because ``torch.from_numpy`` warns on read-only arrays).
    """

    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64] | npt.NDArray[np.float32]
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        f, y = self.features, self.labels
        if f.dtype != np.float32 or f.ndim != 2:
            raise DatasetError(f"features must be a float32 matrix, got {f.dtype} with {f.ndim} dimensions")
        if y.ndim != 1 or len(y) != len(f):
            raise DatasetError(f"labels must be a vector of {len(f)} rows, got shape {y.shape}")
        if len(self.feature_names) != f.shape[1]:
            raise DatasetError(f"{len(self.feature_names)} feature names for {f.shape[1]} feature columns")
        if self.classes:
            if y.dtype != np.int64:
                raise DatasetError(f"class labels must be int64 indices, got {y.dtype}")
            if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
                raise DatasetError(f"class index out of range 0..{len(self.classes) - 1}")
        elif y.dtype != np.float32:
            raise DatasetError(f"regression targets must be float32, got {y.dtype}")

    @property
    def task(self) -> Task:
        return "classification" if self.classes else "regression"

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return int(self.features.shape[0])


def parse_csv(
    data: bytes,
    *,
    label_column: str | int | None = None,
    task: Task = "classification",
    classes: Sequence[str] | None = None,
) -> TabularDataset:
    """Parse CSV bytes (UTF-8, comma separated, a header line) into a :class:`TabularDataset`.

    ``classes`` fixes the label -> index mapping (a label outside it is a CsvError): runners holding private
    shards that miss some classes must still number them alike. Without it, the labels found are sorted.

    ``label_column`` is a header name or a 0-based column index (negative counts from the end); by default
    the last column. Every other column must be numeric and finite. Blank lines are skipped.
    """
    if task not in ("classification", "regression"):
        raise DatasetError(f"unknown task {task!r}; expected classification or regression")
    rows = _rows(_decode(data))
    if not rows:
        raise CsvError(1, "empty file: a header line is required")
    header_line, header = rows[0]
    names = [name.strip() for name in header]
    _check_header(names, header_line)
    label_index = _label_index(names, label_column, header_line)
    feature_index = [i for i in range(len(names)) if i != label_index]

    features = np.empty((len(rows) - 1, len(feature_index)), dtype=np.float32)
    raw_labels: list[str] = []
    for r, (line, fields) in enumerate(rows[1:]):
        if len(fields) != len(names):
            raise CsvError(line, f"expected {len(names)} fields like the header, found {len(fields)}")
        for c, i in enumerate(feature_index):
            features[r, c] = _number(fields[i], names[i], line)
        raw_labels.append(fields[label_index].strip())
    if not raw_labels:
        raise CsvError(header_line + 1, "no data rows after the header")

    feature_names = tuple(names[i] for i in feature_index)
    if task == "regression":
        targets = np.array(
            [_number(label, names[label_index], line) for (line, _), label in zip(rows[1:], raw_labels, strict=True)],
            dtype=np.float32,
        )
        return TabularDataset(features, targets, (), feature_names)
    for (line, _), label in zip(rows[1:], raw_labels, strict=True):
        if not label:
            raise CsvError(line, f"label column {names[label_index]!r} is empty")
    if classes is None:
        classes = _sorted_classes(set(raw_labels))
    else:
        classes = tuple(classes)
        known = set(classes)
        for (line, _), label in zip(rows[1:], raw_labels, strict=True):
            if label not in known:
                raise CsvError(line, f"label {label!r} is not one of the declared classes {list(classes)}")
    index = {name: i for i, name in enumerate(classes)}
    labels = np.array([index[label] for label in raw_labels], dtype=np.int64)
    return TabularDataset(features, labels, classes, feature_names)


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvError(data.count(b"\n", 0, exc.start) + 1, f"not UTF-8 text (byte {exc.start})") from None
    return text.removeprefix("\ufeff")


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for fields in reader:
            if fields and any(field.strip() for field in fields):
                rows.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise CsvError(reader.line_num or 1, f"malformed CSV: {exc}") from None
    return rows


def _check_header(names: list[str], line: int) -> None:
    if len(names) < 2:
        raise CsvError(line, f"the header names {len(names)} column(s); at least one feature and a label are needed")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not name:
            raise CsvError(line, f"header column {i} has no name")
        if name in seen:
            raise CsvError(line, f"header names column {name!r} twice")
        seen.add(name)
    if all(_is_number(name) for name in names):
        raise CsvError(line, "the first line is all numbers: a header line with column names is required")


def _label_index(names: list[str], label_column: str | int | None, line: int) -> int:
    if label_column is None:
        return len(names) - 1
    if isinstance(label_column, str):
        if label_column not in names:
            raise CsvError(line, f"label column {label_column!r} is not in the header {names}")
        return names.index(label_column)
    if not -len(names) <= label_column < len(names):
        raise CsvError(line, f"label column index {label_column} is outside 0..{len(names) - 1}")
    return label_column % len(names)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str, column: str, line: int) -> float:
    text = text.strip()
    if not text:
        raise CsvError(line, f"column {column!r} is empty")
    try:
        value = float(text)
    except ValueError:
        raise CsvError(line, f"column {column!r}: {text[:40]!r} is not a number") from None
    if not math.isfinite(value) or abs(value) > float(np.finfo(np.float32).max):
        raise CsvError(line, f"column {column!r}: {text[:40]!r} is not a finite float32 number")
    return value


def _sorted_classes(labels: set[str]) -> tuple[str, ...]:
    try:
        return tuple(sorted(labels, key=lambda label: (int(label), label)))
    except ValueError:
        return tuple(sorted(labels))


def subset(ds: TabularDataset, indices: npt.ArrayLike) -> TabularDataset:
    """The rows at ``indices`` (in that order; repeats allowed), with the same classes and feature names."""
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise DatasetError(f"indices must be a vector of integers, got dtype {idx.dtype} shape {idx.shape}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < 0 or idx.max() >= len(ds)):
        raise DatasetError(f"row index out of range 0..{len(ds) - 1}")
    return TabularDataset(ds.features[idx], ds.labels[idx], ds.classes, ds.feature_names)


def train_eval_split(
    ds: TabularDataset, eval_fraction: float, seed: bytes | int
) -> tuple[TabularDataset, TabularDataset]:
    """Split into (train, eval) deterministically from ``seed``; row order inside each part is preserved.

    Classification splits are stratified: each class gives ``eval_fraction`` of its rows (rounded so the
    total is ``round(eval_fraction * len(ds))`` exactly, remainders going to the largest fractional parts).
    """
    if not 0 <= eval_fraction < 1 or math.isnan(eval_fraction):
        raise DatasetError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    rng = generator(seed, "train_eval_split", eval_fraction=eval_fraction, rows=len(ds))
    total = round(eval_fraction * len(ds))
    if ds.task == "regression":
        chosen = rng.permutation(len(ds))[:total]
    else:
        chosen = _stratified_pick(np.asarray(ds.labels, dtype=np.int64), ds.num_classes, eval_fraction, total, rng)
    mask = np.zeros(len(ds), dtype=bool)
    mask[chosen] = True
    return subset(ds, np.flatnonzero(~mask)), subset(ds, np.flatnonzero(mask))


def _stratified_pick(
    labels: npt.NDArray[np.int64], num_classes: int, fraction: float, total: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    counts = np.bincount(labels, minlength=num_classes)
    quotas = largest_remainder(counts * fraction, total)
    picked = [rng.permutation(np.flatnonzero(labels == c))[: quotas[c]] for c in range(num_classes)]
    return np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)


def largest_remainder(shares: Sequence[float] | npt.NDArray[np.floating[Any]], total: int) -> npt.NDArray[np.int64]:
    """Integers as close as possible to ``shares`` that sum to ``total`` (ties go to the lower index)."""
    shares_arr = np.asarray(shares, dtype=np.float64)
    base = np.floor(shares_arr).astype(np.int64)
    missing = total - int(base.sum())
    if missing > 0:
        order = np.argsort(-(shares_arr - base), kind="stable")
        base[order[:missing]] += 1
    return base
