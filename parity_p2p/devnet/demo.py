"""`scripts/demo.sh`: a fresh anvil, the contracts, N staked runners, and a real federated session to completion.

Every step is real: transactions on anvil, EIP-712 signatures from each runner's key, training with torch on each
runner's shard, models and updates stored by IPFS CID. The runners live in this process (see `inprocess.py`) until
the networked node exists. Everything started here is stopped on exit, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trio
from eth_account.signers.local import LocalAccount

from parity_p2p.chain import ChainClient, ChainError, JsonRpc, RoundResult, SessionParams, SessionStatus, deploy
from parity_p2p.consensus.attestation import SigningDomain, recover_attestation_signer
from parity_p2p.consensus.election import leader_at
from parity_p2p.devnet.anvil import AnvilProcess, AnvilStartError, increase_time
from parity_p2p.devnet.inprocess import (
    InProcessNetwork,
    InProcessRunner,
    contributions_of,
    lead_round,
    train_all,
    verify_and_attest,
)
from parity_p2p.devnet.report import RewardRow, RoundRow, format_reward_table, format_round_table, write_plot
from parity_p2p.gossip.peer_identity import peer_id_for_key_file
from parity_p2p.learning.errors import LearningError
from parity_p2p.learning.export import export_model_json, export_model_safetensors
from parity_p2p.learning.partition import SplitSpec
from parity_p2p.learning.strategies import State
from parity_p2p.learning.strategies.registry import available_strategies
from parity_p2p.node.work import SessionWork, read_global
from parity_p2p.session_spec import SessionSpec, SpecError, TrainingSpec
from parity_p2p.storage.content import ContentStore
from parity_p2p.storage.errors import StorageError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UNIT = 10**18
MAX_RUNNERS = 64
SCALE = 1_000_000  # loss and accuracy go on-chain as integers scaled by 1e6


@dataclass(frozen=True)
class DemoOptions:
    runners: int
    rounds: int
    split: str
    alpha: float
    aggregation: str
    local_epochs: int
    learning_rate: float
    out: Path
    silent_leader_round: int


def parse_args(argv: list[str] | None) -> DemoOptions:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh", description="Play a federated Iris session on a fresh local chain, end to end."
    )
    parser.add_argument("--runners", type=int, default=4, help="runner count (2-9, default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="training rounds (default 5)")
    parser.add_argument("--split", default="non_iid", choices=["random", "non_iid", "stratified", "label_skew"])
    parser.add_argument("--alpha", type=float, default=0.5, help="Dirichlet alpha for non_iid (default 0.5)")
    parser.add_argument("--aggregation", default="fedavg", help="strategy name (default fedavg)")
    parser.add_argument("--local-epochs", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    parser.add_argument(
        "--silent-leader-round",
        type=int,
        default=0,
        help="make the elected leader of this round stay silent, to show failover to the next one (0: off)",
    )
    ns = parser.parse_args(argv)
    if not 2 <= ns.runners <= MAX_RUNNERS:
        parser.error(f"--runners must be between 2 and {MAX_RUNNERS}")
    if not 1 <= ns.rounds <= 100:
        parser.error("--rounds must be between 1 and 100")
    if ns.alpha <= 0:
        parser.error("--alpha must be > 0")
    if ns.aggregation not in available_strategies():
        parser.error(f"--aggregation must be one of {', '.join(available_strategies())}")
    if not 0 <= ns.silent_leader_round <= ns.rounds:
        parser.error("--silent-leader-round must be 0 (off) or a round number")
    return DemoOptions(
        ns.runners, ns.rounds, ns.split, ns.alpha, ns.aggregation, ns.local_epochs, ns.learning_rate, ns.out,
        ns.silent_leader_round,
    )


@dataclass(frozen=True)
class DemoResult:
    session_id: int
    pool: int
    rounds: tuple[RoundRow, ...]
    rewards: tuple[RewardRow, ...]
    creator_dust: int


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {text}", flush=True)


async def _set_up_runner(
    index: int, account: LocalAccount, deployment_chain: ChainClient, net: InProcessNetwork, out: Path, stake: int
) -> InProcessRunner:
    chain = await ChainClient.connect(deployment_chain.deployment, account=account)
    home = out / "runners" / f"runner{index}"
    store = ContentStore.open(home / "content", fetcher=net.fetcher_for(index))  # type: ignore[arg-type]
    key_file = home / "libp2p.key"
    runner = InProcessRunner(account, chain, store, peer_id_for_key_file(key_file), key_file)
    await chain.token.faucet(stake)
    await chain.token.approve(chain.deployment.registry, stake)
    await chain.registry.register(runner.peer_id, stake)
    return runner


async def run_demo(options: DemoOptions) -> DemoResult:
    clock = Clock()
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    with AnvilProcess(extra_args=("--accounts", str(options.runners + 1))) as anvil:
        clock.say(f"anvil up at {anvil.url} (chain id {anvil.chain_id}, in memory: it ends with the demo)")
        creator = anvil.accounts[0]
        rpc = JsonRpc(anvil.url)
        try:
            deployment = await deploy(rpc, creator, min_stake=100 * UNIT, unstake_cooldown=3600)
        finally:
            await rpc.aclose()
        deployment.save(out / "deployment.json")
        clock.say(
            f"deployed MockUSDFC {deployment.token}, RunnerRegistry {deployment.registry}, "
            f"SessionManager {deployment.session_manager}"
        )
        async with await ChainClient.connect(deployment, account=creator) as owner:
            return await _play(options, clock, owner, out, anvil.accounts[1:])


async def _play(
    options: DemoOptions, clock: Clock, owner: ChainClient, out: Path, accounts: Sequence[LocalAccount]
) -> DemoResult:
    net = InProcessNetwork()
    net.stores.append(ContentStore.open(out / "creator" / "content"))
    stake = 200 * UNIT
    for i in range(1, options.runners + 1):
        net.stores.append(ContentStore.open(out / "runners" / f"runner{i}" / "content"))
    for i in range(1, options.runners + 1):
        runner = await _set_up_runner(i, accounts[i - 1], owner, net, out, stake)
        net.runners.append(runner)
        clock.say(f"runner {i} {runner.address} registered, peer {runner.peer_id}, staked {stake // UNIT} USDFC")
    try:
        return await _session(options, clock, owner, net, out)
    finally:
        for runner in net.runners:
            await runner.chain.aclose()


async def _session(
    options: DemoOptions, clock: Clock, owner: ChainClient, net: InProcessNetwork, out: Path
) -> DemoResult:
    creator_store = net.stores[0]
    dataset = (EXAMPLES / "iris.csv").read_bytes()
    dataset_cid = creator_store.add(dataset)
    spec = SessionSpec(
        name="iris-demo",
        description="The guide's Iris session",
        model=json.loads((EXAMPLES / "iris_model.json").read_text()),
        dataset_cid=dataset_cid,
        split=SplitSpec(strategy=options.split, alpha=options.alpha),  # type: ignore[arg-type]
        training=TrainingSpec(learning_rate=options.learning_rate, batch_size=8, local_epochs=options.local_epochs),
        aggregation=options.aggregation,
    )
    spec_cid = creator_store.add(spec.canonical_json())
    pool = 1000 * UNIT
    await owner.token.faucet(pool)
    await owner.token.approve(owner.deployment.session_manager, pool)
    params = SessionParams(
        name=spec.name, dataset_cid=dataset_cid, spec_cid=spec_cid, spec_hash=spec.spec_hash,
        total_rounds=options.rounds, min_participants=options.runners - 1, max_participants=options.runners,
        round_timeout=60, min_stake=100 * UNIT, reward_pool=pool,
    )
    session_id = await owner.sessions.create_session(params)
    clock.say(f"session {session_id} created: dataset {dataset_cid}, spec {spec_cid}, pool {pool // UNIT} USDFC")
    for runner in net.runners:
        await runner.chain.sessions.join_session(session_id)
    await owner.sessions.start_session(session_id)
    view = await owner.sessions.get_session(session_id)
    participants = await owner.sessions.participants(session_id)
    clock.say(f"{len(participants)} runners joined; session started, seed {view.seed.hex()[:16]}… from prevrandao")

    # Each runner fetches the spec and dataset by CID, checks the spec against the on-chain hash, and derives the
    # same shards and initial model on its own.
    works = []
    for runner in net.runners:
        fetched = SessionSpec.from_json(runner.store.get(spec_cid))
        if fetched.spec_hash != view.params.spec_hash:
            raise ChainError("the spec fetched by CID does not match the on-chain specHash")
        works.append(SessionWork.prepare(session_id, fetched, runner.store.get(dataset_cid), view.seed, participants))
    work = works[0]
    sizes = ", ".join(f"{r.address[:8]}…: {work.shard_sizes[r.address.lower()]}" for r in net.runners)
    clock.say(f"partition ({options.split}, alpha {options.alpha}) computed by every runner: shard sizes {sizes}")
    state = work.initial_state()
    base_cid = "genesis"  # round 1 starts from the model every runner derives from the seed
    domain = SigningDomain(owner.deployment.chain_id, owner.deployment.session_manager)
    by_address = {r.address: r for r in net.runners}
    rows: list[RoundRow] = []

    for round_number in range(1, options.rounds + 1):
        cids, train_loss = train_all(work, net.runners, round_number, state, base_cid)
        eligible = await owner.sessions.eligible_leader(session_id)
        step = eligible.step
        if options.silent_leader_round == round_number:
            clock.say(f"round {round_number}: leader {eligible.leader} stays silent; waiting out the round timeout")
            increase_time(owner.rpc.url, params.round_timeout)
            eligible = await owner.sessions.eligible_leader(session_id)
            step = eligible.step
        if eligible.leader != leader_at(view.seed, round_number, step, participants):
            raise ChainError("the contract and consensus/election.py disagree on the leader")
        leader = by_address[eligible.leader]
        proposal, statement, result, metrics, _ = lead_round(work, leader, round_number, state, base_cid, cids, domain)
        signatures = []
        for follower in net.runners:
            signature, reasons = verify_and_attest(
                work, follower, proposal, statement, state=state, base_cid=base_cid,
                my_update_cid=cids[follower.address.lower()], eligible_leaders=[eligible.leader],
                min_participants=params.min_participants, domain=domain,
            )
            if signature is None:
                clock.say(f"  {follower.address} refuses to attest: {'; '.join(reasons)}")
            else:
                signatures.append((recover_attestation_signer(domain, statement, signature), signature))
        signatures.sort(key=lambda pair: int(pair[0], 16))  # the contract wants signers in ascending order
        contributions = tuple(contributions_of(proposal))
        receipt = await leader.chain.sessions.submit_round(
            session_id,
            RoundResult(
                round_number, proposal.model_cid, round(metrics.loss * SCALE),
                round((metrics.accuracy or 0.0) * SCALE), contributions,
            ),
            [s for _, s in signatures],
        )
        state = read_global(work, leader.store.get(proposal.model_cid), state)
        base_cid = proposal.model_cid
        rows.append(
            RoundRow(
                round_number, leader.address, step, result.num_updates, len(signatures), train_loss, metrics.loss,
                metrics.accuracy or 0.0, proposal.model_cid, receipt.gas_used,
            )
        )
        clock.say(
            f"round {round_number}/{options.rounds}: leader {leader.address[:10]}… (step {step}) posted "
            f"{proposal.model_cid[:20]}… with {len(signatures)} attestations; eval accuracy {metrics.accuracy:.3f}"
        )

    return await _finish(clock, owner, net, session_id, work, state, rows, out, pool)


async def _finish(
    clock: Clock,
    owner: ChainClient,
    net: InProcessNetwork,
    session_id: int,
    work: SessionWork,
    state: State,
    rows: list[RoundRow],
    out: Path,
    pool: int,
) -> DemoResult:
    view = await owner.sessions.get_session(session_id)
    if view.status is not SessionStatus.COMPLETED:
        raise ChainError(f"session {session_id} ended as {view.status.name}, expected COMPLETED")
    clock.say(f"session {session_id} completed on-chain; final model {view.final_model_cid}")
    print("\n" + format_round_table(rows) + "\n")

    rewards = []
    for runner in net.runners:
        owed = await owner.sessions.owed(runner.address)
        points = await owner.sessions.points_of(session_id, runner.address)
        rep = await owner.sessions.reputation(runner.address)
        before = await runner.chain.token.balance_of(runner.address)
        await runner.chain.sessions.claim()
        after = await runner.chain.token.balance_of(runner.address)
        assert after - before == owed, "claim paid a different amount than owed"
        rewards.append(
            RewardRow(runner.address, work.shard_sizes[runner.address.lower()], points, owed, rep.rounds_done,
                      rep.leaderships_done)
        )
    dust = await owner.sessions.owed(owner.address or "")
    print(format_reward_table(rewards, "USDFC"))
    print(f"rounding dust credited back to the creator: {dust} base units\n")

    final_bytes = net.runners[0].store.get(view.final_model_cid)
    final_state = read_global(work, final_bytes, state)
    metrics = {"loss": rows[-1].eval_loss, "accuracy": rows[-1].eval_accuracy}
    (out / "trained_model.json").write_bytes(export_model_json(final_state, work.config, metrics))
    (out / "trained_model.safetensors").write_bytes(export_model_safetensors(final_state, work.config, metrics))
    write_plot(rows, out / "loss_accuracy.png", f"Iris, {len(net.runners)} runners, session {session_id}")
    result = DemoResult(session_id, pool, tuple(rows), tuple(rewards), dust)
    (out / "summary.json").write_text(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
    clock.say(f"wrote {out}/: loss_accuracy.png, trained_model.json, trained_model.safetensors, summary.json")
    return result


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        trio.run(run_demo, options)
    except KeyboardInterrupt:
        print("\ninterrupted: everything the demo started has been stopped", file=sys.stderr)
        return 130
    except (AnvilStartError, ChainError, LearningError, SpecError, StorageError, OSError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
