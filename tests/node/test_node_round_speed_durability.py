"""Real nodes, one Iris session: what each node fsyncs. Its own update and every global model are durable (they
must survive a crash: the node re-announces its update, and models are the session's record); the others'
updates, pushed or prefetched, are stored without fsync (the network can give them again), and followers still
verify with updates prefetched after their own push. The fsync spy calls the real os.fsync and records its path."""

from __future__ import annotations

from pathlib import Path

from fixtures.devchain import DevChain
from fixtures.node_network import completed_iris_session

from parity_p2p.storage.multiformats import Cid


def _synced_in(fsynced: list[str], home: Path, cid: str) -> bool:
    return any(path.startswith(f"{home}/") and f"/{cid}.data." in path for path in fsynced)


async def test_own_updates_and_models_are_durable_and_peers_updates_are_not(
    dev_chain: DevChain, tmp_path: Path, fsynced: list[str]
) -> None:
    async with completed_iris_session(dev_chain, tmp_path) as (nodes, owner, session_id):
        models = [(await owner.sessions.get_round(session_id, r)).model_cid for r in (1, 2)]

    homes = [tmp_path / f"node{i}" for i in range(len(nodes))]
    own = [[d["cid"] for kind, d in node.events if kind == "update.sent"] for node in nodes]
    assert all(len(cids) == 2 for cids in own), own
    peers_held = 0
    for index, (node, home) in enumerate(zip(nodes, homes, strict=True)):
        for cid in own[index]:
            assert _synced_in(fsynced, home, cid), f"node{index}'s own update {cid} was not fsynced"
        for cid in models:
            if node.store.blockstore.has(Cid.parse(cid)):
                assert _synced_in(fsynced, home, cid), f"model {cid} held by node{index} was not fsynced"
        for other, cids in enumerate(own):
            for cid in cids if other != index else []:
                if node.store.blockstore.has(Cid.parse(cid)):
                    peers_held += 1
                    assert not _synced_in(fsynced, home, cid), f"node{index} fsynced node{other}'s update {cid}"
    # Every model is held (so checked) by some node, and peers' updates did reach the nodes (leader and followers).
    assert all(any(n.store.blockstore.has(Cid.parse(m)) for n in nodes) for m in models)
    assert peers_held >= 4
