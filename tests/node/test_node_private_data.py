"""A private-data session: every runner trains on its own CSV, which never leaves it; only row counts are shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fixtures.devchain import DevChain, fund
from node_helpers import EXAMPLES, STAKE, UNIT, iris_spec, running_nodes, timeline, wait_for

from parity_p2p.chain import SessionParams, SessionStatus
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
    async with running_nodes(dev_chain, tmp_path, runners, local_datasets=locals_) as nodes, await dev_chain.client(
        dev_chain.accounts[6]
    ) as owner:
        schema = PrivateDataSpec("iris-private", FEATURES, "species", CLASSES, max_rows=200)
        spec = iris_spec("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", private_data=schema)
        spec_cid = nodes[0].store.add(spec.canonical_json())
        pool = 300 * UNIT
        await fund(owner, pool)
        await owner.token.approve(owner.deployment.session_manager, pool)
        session_id = await owner.sessions.create_session(
            SessionParams(
                name="private iris", dataset_cid=spec.dataset_cid, spec_cid=spec_cid, spec_hash=spec.spec_hash,
                total_rounds=2, min_participants=3, max_participants=3, round_timeout=30, min_stake=STAKE,
                reward_pool=pool,
            )
        )

        async def joined() -> bool:
            return (await owner.sessions.get_session(session_id)).participant_count == 3

        await wait_for(joined, 60, "the nodes with matching local data to join")
        await owner.sessions.start_session(session_id)

        async def completed() -> bool:
            return (await owner.sessions.get_session(session_id)).status is SessionStatus.COMPLETED

        try:
            await wait_for(completed, 90, "the private-data session to complete")
        except AssertionError:
            print(timeline(nodes))
            raise

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
