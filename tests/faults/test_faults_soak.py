"""Soak drill: a 50-round Iris session on 8 real `parity-node start` processes completes, and each node's memory is
flat from round 10 on.

Each node's resident memory (VmRSS) is sampled as every round opens on-chain. The first rounds legitimately grow
(torch's allocator and thread pools warm up, libp2p fills its peer tables, the session's model is built), so the
reference is round 10. The bound, per node:

    max RSS over rounds 40..50  <=  RSS at round 10 + 24 MiB

Measured here (2026-11-30, two runs, 8 nodes of ~400 MiB each, torch ~210 MiB of it): +4 to +10 MiB from round 10
to 50, a steady ~0.1-0.25 MiB a round on every node. The bound leaves 2.4x the worst, and breaks for anything that keeps
0.6 MiB or more a round: a libp2p stream or connection left open per round with its buffers, a per-round task,
or a round's decoded updates with their Python and torch objects held for a model of a few hundred KiB. A leak of
the Iris session's own few-KiB tensors would need a far longer soak to show. The samples are printed for
docs/reliability.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio
from fixtures.chain_ledger import check_sender
from fixtures.devnet_drills import audit_claimed_session, create_and_start, creator_client, rss_mib

from parity_p2p.chain import SessionStatus
from parity_p2p.devnet.network import Devnet

RUNNERS = 8
ROUNDS = 50
REFERENCE_ROUND = 10
LATE_ROUNDS = range(40, ROUNDS + 1)
GROWTH_ALLOWANCE_MIB = 24.0


@pytest.mark.timeout(900)
async def test_fifty_rounds_on_eight_nodes_with_flat_memory(tmp_path: Path) -> None:
    net = Devnet(tmp_path / "net", RUNNERS)
    samples: dict[int, list[float]] = {}  # round -> RSS MiB per node (runner order)
    try:
        began = time.monotonic()
        state = await trio.to_thread.run_sync(net.up, lambda _line: None)
        up_s = time.monotonic() - began
        async with await creator_client(state) as owner:
            session = await create_and_start(
                owner, net.node(1), runners=RUNNERS, rounds=ROUNDS, min_participants=RUNNERS - 2, round_timeout=30
            )
            sid = session.session_id
            started = time.monotonic()
            last = 0
            with trio.fail_after(ROUNDS * 30):
                while True:
                    view = await owner.sessions.get_session(sid)
                    if view.status is not SessionStatus.ACTIVE:
                        break
                    if view.current_round != last:
                        last = view.current_round
                        samples[last] = [rss_mib(n.pid) for n in state.nodes]
                    await trio.sleep(0.1)
            samples[ROUNDS + 1] = [rss_mib(n.pid) for n in state.nodes]  # after the last round
            session_s = time.monotonic() - started
            assert view.status is SessionStatus.COMPLETED, f"the session ended {view.status.name}"

            txs, books = await audit_claimed_session(owner, [n.address for n in state.nodes], sid)
            for node in state.nodes:
                check_sender(txs, node.address)
    finally:
        await trio.to_thread.run_sync(net.down)

    print(f"\nsoak: devnet up {up_s:.0f} s, {ROUNDS} rounds in {session_s:.0f} s ({session_s / ROUNDS:.2f} s/round)")
    print("RSS MiB per node as each round opened (round 51 = after the last):")
    for number in sorted(samples):
        print(f"  round {number:2d}: " + " ".join(f"{v:6.1f}" for v in samples[number]))
    print(f"points per runner: {sorted(books.points.values())}")
    missing = [r for r in (REFERENCE_ROUND, *LATE_ROUNDS) if r not in samples]
    assert not missing, f"rounds {missing} opened and closed between two polls: no sample"
    for node_index in range(RUNNERS):
        reference = samples[REFERENCE_ROUND][node_index]
        late = max(samples[r][node_index] for r in LATE_ROUNDS)
        bound = reference + GROWTH_ALLOWANCE_MIB
        print(f"node{node_index + 1}: round 10 {reference:.1f} MiB, max rounds 40-50 {late:.1f} MiB, bound {bound:.1f}")
        assert late <= bound, f"node{node_index + 1} grew from {reference:.1f} to {late:.1f} MiB after round 10"
