"""CSV parsing, the evaluation split and subsets: real example files, errors that name line and reason."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import datasets as sk

from parity_p2p.learning.datasets import TabularDataset, parse_csv, subset, train_eval_split
from parity_p2p.learning.errors import CsvError, DatasetError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_iris_csv_is_the_real_iris_data() -> None:
    data = parse_csv((EXAMPLES / "iris.csv").read_bytes())
    reference = sk.load_iris()
    assert len(data) == 150 and data.num_features == 4
    assert data.classes == ("setosa", "versicolor", "virginica")
    assert data.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert data.features.dtype == np.float32 and data.labels.dtype == np.int64
    np.testing.assert_array_equal(data.features, reference.data.astype(np.float32))
    np.testing.assert_array_equal(data.labels, reference.target)
    assert data.task == "classification"


@pytest.mark.parametrize(
    ("name", "loader", "rows", "classes"),
    [("wine.csv", sk.load_wine, 178, 3), ("digits.csv", sk.load_digits, 1797, 10)],
)
def test_other_classification_examples(name: str, loader: object, rows: int, classes: int) -> None:
    data = parse_csv((EXAMPLES / name).read_bytes())
    reference = loader()  # type: ignore[operator]
    assert (len(data), data.num_classes) == (rows, classes)
    np.testing.assert_array_equal(data.features, reference.data.astype(np.float32))
    np.testing.assert_array_equal(data.labels, reference.target)


def test_regression_example() -> None:
    data = parse_csv((EXAMPLES / "diabetes.csv").read_bytes(), task="regression")
    reference = sk.load_diabetes()
    assert data.task == "regression" and data.classes == ()
    assert data.labels.dtype == np.float32
    np.testing.assert_array_equal(data.labels, reference.target.astype(np.float32))
    np.testing.assert_array_equal(data.features, reference.data.astype(np.float32))


def test_label_column_by_name_by_index_and_from_the_end() -> None:
    text = b"kind,a,b\nx,1,2\ny,3,4\n"
    by_name = parse_csv(text, label_column="kind")
    by_index = parse_csv(text, label_column=0)
    by_negative = parse_csv(text, label_column=-3)
    for data in (by_name, by_index, by_negative):
        assert data.feature_names == ("a", "b")
        assert data.classes == ("x", "y")
        np.testing.assert_array_equal(data.features, [[1, 2], [3, 4]])


def test_class_order_is_sorted_and_numeric_labels_sort_as_numbers() -> None:
    assert parse_csv(b"a,y\n1,beta\n2,alpha\n3,beta\n").classes == ("alpha", "beta")
    numeric = parse_csv(b"a,y\n1,10\n2,2\n3,1\n4,2\n")
    assert numeric.classes == ("1", "2", "10")
    np.testing.assert_array_equal(numeric.labels, [2, 1, 0, 1])


def test_order_of_rows_does_not_change_the_class_mapping() -> None:
    a = parse_csv(b"f,y\n1,b\n2,a\n")
    b = parse_csv(b"f,y\n2,a\n1,b\n")
    assert a.classes == b.classes == ("a", "b")


def test_bom_crlf_quotes_spaces_and_blank_lines() -> None:
    text = b'\xef\xbb\xbf"a", b ,label\r\n 1.5 ,2e0,"yes"\r\n\r\n-3,4,no\r\n'
    data = parse_csv(text)
    assert data.feature_names == ("a", "b")
    np.testing.assert_array_equal(data.features, [[1.5, 2.0], [-3.0, 4.0]])
    assert data.classes == ("no", "yes")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (b"", 1, "empty file"),
        (b"a,b,y\n", 2, "no data rows"),
        (b"1,2,3\n4,5,6\n", 1, "header line"),
        (b"a,b,y\n1,2,x\n3,4\n", 3, "expected 3 fields"),
        (b"a,b,y\n1,2,x\n3,4,x,9\n", 3, "found 4"),
        (b"a,b,y\n1,two,x\n", 2, "'two' is not a number"),
        (b"a,b,y\n1,nan,x\n", 2, "not a finite"),
        (b"a,b,y\n1,inf,x\n", 2, "not a finite"),
        (b"a,b,y\n1,1e39,x\n", 2, "not a finite float32"),
        (b"a,b,y\n1,,x\n", 2, "column 'b' is empty"),
        (b"a,a,y\n1,2,x\n", 1, "twice"),
        (b"a,,y\n1,2,x\n", 1, "no name"),
        (b"y\n1\n", 1, "at least one feature"),
        (b"a,b,y\n1,2,x\n\n\n3,4\xff,x\n", 5, "not UTF-8"),
        (b'a,b,y\n1,2,x\n3,4,"unclosed\n', 3, "malformed CSV"),
        (b"a,b,y\n1,2,\n", 2, "label column 'y' is empty"),
        (b"a,b,y\n1,2\x00,x\n", 2, "is not a number"),
    ],
)
def test_bad_csv_names_the_line_and_reason(text: bytes, line: int, words: str) -> None:
    with pytest.raises(CsvError) as caught:
        parse_csv(text)
    assert caught.value.line == line
    assert words in caught.value.reason
    assert f"line {line}" in str(caught.value)


def test_blank_lines_keep_line_numbers_right() -> None:
    with pytest.raises(CsvError) as caught:
        parse_csv(b"a,y\n\n1,x\n\n\nbad,x\n")
    assert caught.value.line == 6


def test_bad_label_column_and_task() -> None:
    with pytest.raises(CsvError, match="'z' is not in the header"):
        parse_csv(b"a,y\n1,x\n", label_column="z")
    with pytest.raises(CsvError, match=r"outside 0\.\.1"):
        parse_csv(b"a,y\n1,x\n", label_column=2)
    with pytest.raises(CsvError, match="'x' is not a number"):
        parse_csv(b"a,y\n1,x\n", task="regression")
    with pytest.raises(DatasetError, match="unknown task"):
        parse_csv(b"a,y\n1,x\n", task="ranking")  # type: ignore[arg-type]


finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@given(
    st.integers(1, 5).flatmap(
        lambda d: st.lists(st.tuples(st.lists(finite, min_size=d, max_size=d), st.sampled_from("abc")), min_size=1)
    )
)
def test_any_written_table_parses_back(rows: list[tuple[list[float], str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    width = len(rows[0][0])
    writer.writerow([f"f{i}" for i in range(width)] + ["label"])
    for values, label in rows:
        writer.writerow([repr(v) for v in values] + [label])
    data = parse_csv(out.getvalue().encode())
    np.testing.assert_array_equal(data.features, np.array([v for v, _ in rows], dtype=np.float32))
    assert data.classes == tuple(sorted({label for _, label in rows}))
    assert [data.classes[i] for i in data.labels] == [label for _, label in rows]


# --- evaluation split and subsets ----------------------------------------------------------------


@pytest.fixture(scope="module")
def iris() -> TabularDataset:
    return parse_csv((EXAMPLES / "iris.csv").read_bytes())


def test_split_is_stratified_exact_disjoint_and_complete(iris: TabularDataset) -> None:
    train, held_out = train_eval_split(iris, 0.2, b"session-seed")
    assert (len(train), len(held_out)) == (120, 30)
    assert np.bincount(held_out.labels).tolist() == [10, 10, 10]

    def rows(part: TabularDataset) -> list[tuple[float, ...]]:
        return [(*r.tolist(), int(y)) for r, y in zip(part.features, part.labels, strict=True)]

    assert sorted(rows(train) + rows(held_out)) == sorted(rows(iris))


def test_split_total_is_exact_with_uneven_classes() -> None:
    labels = np.array([0] * 7 + [1] * 5 + [2] * 2, dtype=np.int64)
    data = TabularDataset(np.zeros((14, 1), np.float32), labels, ("a", "b", "c"), ("f",))
    _, held_out = train_eval_split(data, 0.3, 1)
    assert len(held_out) == round(0.3 * 14)
    counts = np.bincount(held_out.labels, minlength=3)
    assert np.all(np.abs(counts - np.array([7, 5, 2]) * 0.3) < 1)


def test_split_is_deterministic_and_depends_on_the_seed(iris: TabularDataset) -> None:
    a = train_eval_split(iris, 0.25, b"one")[1]
    b = train_eval_split(iris, 0.25, b"one")[1]
    c = train_eval_split(iris, 0.25, b"two")[1]
    np.testing.assert_array_equal(a.features, b.features)
    assert not np.array_equal(a.features, c.features)


def test_regression_split() -> None:
    data = parse_csv((EXAMPLES / "diabetes.csv").read_bytes(), task="regression")
    train, held_out = train_eval_split(data, 0.1, 5)
    assert (len(train), len(held_out)) == (398, 44)
    assert sorted(np.concatenate([train.labels, held_out.labels]).tolist()) == sorted(data.labels.tolist())


@pytest.mark.parametrize("fraction", [-0.1, 1.0, float("nan")])
def test_bad_eval_fraction(iris: TabularDataset, fraction: float) -> None:
    with pytest.raises(DatasetError, match="eval_fraction"):
        train_eval_split(iris, fraction, 0)


def test_zero_eval_fraction_keeps_everything(iris: TabularDataset) -> None:
    train, held_out = train_eval_split(iris, 0.0, 0)
    assert (len(train), len(held_out)) == (150, 0)


def test_subset_keeps_order_and_repeats_and_checks_range(iris: TabularDataset) -> None:
    part = subset(iris, [149, 0, 0])
    np.testing.assert_array_equal(part.features, iris.features[[149, 0, 0]])
    assert part.classes == iris.classes and part.feature_names == iris.feature_names
    assert len(subset(iris, np.array([], dtype=np.int64))) == 0
    with pytest.raises(DatasetError, match="out of range"):
        subset(iris, [150])
    with pytest.raises(DatasetError, match="out of range"):
        subset(iris, [-1])
    with pytest.raises(DatasetError, match="integers"):
        subset(iris, [0.5])


def test_dataset_invariants_are_checked() -> None:
    with pytest.raises(DatasetError, match="float32"):
        TabularDataset(np.zeros((2, 1)), np.zeros(2, np.int64), ("a",), ("f",))
    with pytest.raises(DatasetError, match="2 rows"):
        TabularDataset(np.zeros((2, 1), np.float32), np.zeros(3, np.int64), ("a",), ("f",))
    with pytest.raises(DatasetError, match="out of range"):
        TabularDataset(np.zeros((2, 1), np.float32), np.array([0, 1]), ("a",), ("f",))
    with pytest.raises(DatasetError, match="regression targets"):
        TabularDataset(np.zeros((2, 1), np.float32), np.zeros(2, np.int64), (), ("f",))
    with pytest.raises(DatasetError, match="feature names"):
        TabularDataset(np.zeros((2, 1), np.float32), np.zeros(2, np.float32), (), ("f", "g"))


@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=200),
    st.floats(0, 0.95),
    st.binary(max_size=8),
)
def test_any_split_is_exact_stratified_and_reproducible(labels: list[int], fraction: float, seed: bytes) -> None:
    y = np.array(labels, dtype=np.int64)
    data = TabularDataset(np.arange(len(y), dtype=np.float32)[:, None], y, tuple(f"c{i}" for i in range(5)), ("row",))
    train, held_out = train_eval_split(data, fraction, seed)
    assert len(held_out) == round(fraction * len(y))
    rows = np.concatenate([train.features[:, 0], held_out.features[:, 0]]).astype(np.int64)
    assert sorted(rows.tolist()) == list(range(len(y)))  # a partition of the rows
    counts, total = np.bincount(held_out.labels, minlength=5), np.bincount(y, minlength=5)
    assert np.all(np.abs(counts - total * fraction) < 1)  # each class within one row of its share
    again = train_eval_split(data, fraction, seed)[1]
    np.testing.assert_array_equal(again.features, held_out.features)
