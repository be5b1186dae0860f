"""Round work is reproducible from public inputs, and refuses updates that are not the expected ones."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from parity_p2p.learning.errors import UpdateRejected
from parity_p2p.learning.partition import SplitSpec
from parity_p2p.learning.strategies import State
from parity_p2p.learning.strategies.norm_screen import NormScreen
from parity_p2p.learning.trainer import Metrics
from parity_p2p.node.work import (
    NORM_FACTOR,
    SessionWork,
    UpdateMismatch,
    aggregate,
    encode_global,
    make_update,
    read_global,
    read_update,
)
from parity_p2p.session_spec import SessionSpec, TrainingSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RUNNERS = ["0x" + c * 40 for c in "3a1c"]
SEED = bytes(range(32))


def _work(seed: bytes = SEED, aggregation: str = "fedavg") -> SessionWork:
    spec = SessionSpec(
        name="iris",
        model=json.loads((EXAMPLES / "iris_model.json").read_text()),
        dataset_cid="bafk-test",
        split=SplitSpec(strategy="non_iid", alpha=0.5),
        training=TrainingSpec(learning_rate=0.1, batch_size=8, local_epochs=1),
        aggregation=aggregation,
    )
    return SessionWork.prepare(7, spec, (EXAMPLES / "iris.csv").read_bytes(), seed, RUNNERS)


def test_every_node_derives_the_same_shards_and_initial_model() -> None:
    a, b = _work(), _work()
    assert a.shard_sizes == b.shard_sizes
    assert sum(a.shard_sizes.values()) == len(a.train)
    assert all(torch.equal(a.initial_state()[k], b.initial_state()[k]) for k in a.initial_state())
    other = _work(bytes(32))
    assert other.shard_sizes != a.shard_sizes  # another on-chain seed, another split


def test_update_round_trip_and_aggregate_independent_of_arrival_order() -> None:
    work = _work()
    state = work.initial_state()
    updates = []
    for runner in RUNNERS:
        made = make_update(work, runner, 1, state, "genesis")
        update, meta = read_update(
            work, made.data, round_number=1, sender=runner, global_state=state, base_model_cid="genesis"
        )
        assert meta.data_size == work.shard_sizes[runner] == update.num_examples
        updates.append(update)
    first = aggregate(work, 1, state, updates).state
    random.Random(1).shuffle(updates)
    second = aggregate(work, 1, state, updates).state
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], state[k]) for k in first)


@pytest.mark.parametrize("aggregation", ["fedadam", "fedyogi"])
def test_adaptive_sessions_keep_their_server_state_in_each_round_model_file(aggregation: str) -> None:
    """Each round another runner may aggregate, from the previous round's model file alone: that file carries
    the strategy's moments, so the rounds equal one FedAdam/FedYogi instance run through them all (before, every
    round restarted the moments from zero). A stateless strategy's file holds the model only."""
    work = _work(aggregation=aggregation)
    state = work.initial_state()
    one_instance = work.strategy()
    model, server_state, reference = state, State(), state
    for number in (1, 2, 3):
        updates = [
            read_update(work, make_update(work, r, number, model, "base").data, round_number=number, sender=r,
                        global_state=model, base_model_cid="base")[0]
            for r in RUNNERS
        ]  # fmt: skip
        result = aggregate(work, number, model, updates, server_state)
        file = encode_global(work, number, result, Metrics(loss=1.0, count=1))
        model, server_state = read_global(work, file, state)
        ordered = sorted(updates, key=lambda u: int(u.runner, 16))
        reference = NormScreen(one_instance, NORM_FACTOR).aggregate(number, reference, ordered).state
        assert all(torch.allclose(model[k], reference[k], atol=1e-6) for k in model), number
        assert sorted(server_state) == sorted(f"{m}/{k}" for m in "mv" for k in state)
    plain = aggregate(_work(), 1, state, updates)
    assert read_global(_work(), encode_global(_work(), 1, plain, Metrics(loss=1.0, count=1)), state)[1] == {}


def test_a_runner_that_trains_its_round_again_makes_the_same_bytes() -> None:
    """A runner restarted within a round trains again: its update must be the one the leader already holds (same
    CID), or the leader keeps the first, the runner finds "its" update missing and refuses to attest."""
    work = _work()
    state = work.initial_state()
    first = make_update(work, RUNNERS[0], 1, state, "genesis")
    again = make_update(_work(), RUNNERS[0], 1, state, "genesis")
    assert first.data == again.data
    assert make_update(work, RUNNERS[0], 2, state, "genesis").data != first.data  # rounds differ


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"round_number": 2}, "session, round, runner, base"),
        ({"sender": RUNNERS[1]}, "session, round, runner, base"),
        ({"base_model_cid": "bafk-other"}, "session, round, runner, base"),
    ],
)
def test_update_for_another_round_runner_or_base_is_refused(kwargs: dict[str, object], expected: str) -> None:
    work = _work()
    state = work.initial_state()
    made = make_update(work, RUNNERS[0], 1, state, "genesis")
    args: dict[str, object] = {
        "round_number": 1,
        "sender": RUNNERS[0],
        "global_state": state,
        "base_model_cid": "genesis",
        **kwargs,
    }
    with pytest.raises(UpdateMismatch, match=expected):
        read_update(work, made.data, **args)  # type: ignore[arg-type]


def test_garbage_and_truncated_updates_are_typed_rejections() -> None:
    work = _work()
    state = work.initial_state()
    made = make_update(work, RUNNERS[0], 1, state, "genesis")
    for data in (b"", b"\x00" * 64, made.data[: len(made.data) // 2], made.data + b"x" * 100_000):
        with pytest.raises(UpdateRejected):
            read_update(work, data, round_number=1, sender=RUNNERS[0], global_state=state, base_model_cid="genesis")


def test_update_claiming_more_data_than_its_shard_is_refused() -> None:
    from parity_p2p.learning.codec import UpdateMeta, encode_update

    work = _work()
    state = work.initial_state()
    runner = RUNNERS[0]
    meta = UpdateMeta(7, 1, runner, "genesis", data_size=work.shard_sizes[runner] * 10, steps=1, loss=0.5)
    data = encode_update({k: torch.zeros_like(v) for k, v in state.items()}, meta)
    with pytest.raises(UpdateMismatch, match=r"claims \d+ samples, the sender's shard has"):
        read_update(work, data, round_number=1, sender=runner, global_state=state, base_model_cid="genesis")


def _private_spec(**schema: object) -> SessionSpec:
    from parity_p2p.session_spec import PrivateDataSpec

    fields: dict[str, object] = {
        "name": "iris-private",
        "features": ("sepal_length", "sepal_width", "petal_length", "petal_width"),
        "label": "species",
        "classes": ("setosa", "versicolor", "virginica"),
        "max_rows": 200,
    }
    fields.update(schema)
    return SessionSpec(
        name="private", model=json.loads((EXAMPLES / "iris_model.json").read_text()), dataset_cid="bafk-schema",
        private_data=PrivateDataSpec(**fields),  # type: ignore[arg-type]
    )  # fmt: skip


def test_private_data_uses_the_declared_class_order_and_checks_columns_and_size(tmp_path: Path) -> None:
    from parity_p2p.learning.errors import CsvError
    from parity_p2p.node.work import PrivateDataMismatch

    header, *rows = (EXAMPLES / "iris.csv").read_text().strip().splitlines()
    no_setosa = "\n".join([header, *[r for r in rows if not r.endswith("setosa")]]).encode()
    work = SessionWork.prepare_private(7, _private_spec(), no_setosa, SEED, RUNNERS, RUNNERS[0])
    assert work.train.classes == ("setosa", "versicolor", "virginica")  # not re-numbered from the local labels
    assert set(work.train.labels.tolist()) == {1, 2}
    assert work.expected_sizes is None and work.max_private_size == 200
    with pytest.raises(PrivateDataMismatch, match="local columns"):
        SessionWork.prepare_private(
            7, _private_spec(features=("a", "b", "c", "d")), no_setosa, SEED, RUNNERS, RUNNERS[0]
        )
    with pytest.raises(PrivateDataMismatch, match="exceed the session's max_rows"):
        SessionWork.prepare_private(7, _private_spec(max_rows=10), no_setosa, SEED, RUNNERS, RUNNERS[0])
    with pytest.raises(CsvError, match="not one of the declared classes"):
        SessionWork.prepare_private(
            7, _private_spec(classes=("setosa", "versicolor", "other")), no_setosa, SEED, RUNNERS, RUNNERS[0]
        )
    # Another runner's claimed size is not checkable, only capped.
    state = work.initial_state()
    from parity_p2p.learning.codec import UpdateMeta, encode_update

    for size, accepted in ((150, True), (201, False)):
        meta = UpdateMeta(7, 1, RUNNERS[1], "genesis", data_size=size, steps=1, loss=0.5)
        data = encode_update({k: torch.zeros_like(v) for k, v in state.items()}, meta)
        if accepted:
            read_update(work, data, round_number=1, sender=RUNNERS[1], global_state=state, base_model_cid="genesis")
        else:
            with pytest.raises(UpdateMismatch, match=r"allows 1\.\.200"):
                read_update(work, data, round_number=1, sender=RUNNERS[1], global_state=state, base_model_cid="genesis")


def test_private_schema_must_fit_the_model() -> None:
    from parity_p2p.session_spec import SpecError

    with pytest.raises(SpecError) as info:
        _private_spec(features=("a", "b"))
    assert info.value.field == "private_data.features"
    with pytest.raises(SpecError) as info:
        _private_spec(classes=("x", "y"))
    assert info.value.field == "private_data.classes"
    spec = _private_spec()
    assert SessionSpec.from_json(spec.canonical_json()) == spec
