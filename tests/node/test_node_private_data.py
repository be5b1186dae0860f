"""A private-data session: every runner trains on its own CSV, which never leaves it; only row counts are shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fixtures.devchain import DevChain
from fixtures.node_network import (
    EXAMPLES,
    create_iris_session,
    iris_spec,
    running_nodes,
    start_when_joined,
    wait_completed,
)

from parity_p2p.learning.datasets import parse_csv
from parity_p2p.session_spec import PrivateDataSpec
from parity_p2p.storage.importer import compute_cid

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
CLASSES = ("setosa", "versicolor", "virginica")


def _private_csvs(tmp_path: Path, count: int) -> list[Path]:
    """Iris split by rows into `count` files; the last one lacks a class, to check every runner numbers alike."""
    header, *rows = (EXAMPLES / "iris.csv").read_text().strip().splitlines()
    paths = []
    for i in range(count):
        mine = [r for k, r in enumerate(rows) if k % count == i]
        if i == count - 1:
            mine = [r for r in mine if not r.endswith("setosa")]
        path = tmp_path / f"private{i}.csv"
        path.write_text("\n".join([header, *mine]) + "\n")
        paths.append(path)
    return paths


async def test_runners_train_on_their_own_rows_and_never_send_them(dev_chain: DevChain, tmp_path: Path) -> None:
    csvs = _private_csvs(tmp_path, 3)
    assert parse_csv(csvs[0].read_bytes()).feature_names == FEATURES
    locals_ = [{"iris-private": p} for p in csvs]
    runners = list(dev_chain.accounts[1:4])
    async with (
        running_nodes(dev_chain, tmp_path, runners, local_datasets=locals_) as nodes,
        await dev_chain.client(dev_chain.accounts[6]) as owner,
    ):
        schema = PrivateDataSpec("iris-private", FEATURES, "species", CLASSES, max_rows=200)
        spec = iris_spec("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", private_data=schema)
        session_id = await create_iris_session(
            owner, nodes[0], spec=spec, name="private iris", max_participants=3, round_timeout=30
        )
        await start_when_joined(owner, session_id, 3)
        await wait_completed(owner, session_id, 90, nodes)

        # Points are each runner's own training rows (x 2 rounds): counts are shared, rows are not.
        for node in nodes:
            runner = node.service.finished.get(session_id) or node.service.runners[session_id]
            assert runner.work is not None
            own = len(runner.work.train)
            assert await owner.sessions.points_of(session_id, node.account.address) == 2 * own
            assert runner.work.train.classes == CLASSES
        # No node holds another node's CSV (or any of its rows as content): nothing was sent.
        for i, csv in enumerate(csvs):
            cid = compute_cid(csv.read_bytes())
            assert not any([await n.store.ahas(cid) for n in nodes]), f"private CSV {i} reached a content store"
        assert np.isfinite((await owner.sessions.get_round(session_id, 2)).loss)
