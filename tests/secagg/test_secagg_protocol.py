"""The issue's test list at the library level: real keys, shares and masks for 6 runners (and a sparse 40)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare
from secagg_harness import context, finish, plain_weighted_mean, reveals_for, run_until_masked, runner_ids

from parity_p2p.secagg import (
    InvalidMessage,
    NotEnoughPeers,
    NotEnoughShares,
    PhaseError,
    Reveal,
    RevealedShare,
    RevealRefused,
    RunnerRound,
    SecAggParams,
    ShareKind,
    ShareMismatch,
    SurvivorSet,
    choose_survivors,
    unmask,
)

PARAMS = SecAggParams(clip=1.0, bits=16)


def inputs(n: int, length: int = 500, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    rng = np.random.default_rng(seed)
    ids = runner_ids(n)
    return (
        {r: rng.uniform(-1, 1, length).astype(np.float32) for r in ids},
        {r: int(rng.integers(1, 500)) for r in ids},
    )


@pytest.mark.parametrize("ring_bits", [64, 32])
def test_sum_equals_plain_weighted_sum_within_the_quantization_bound(ring_bits: int) -> None:
    params = SecAggParams(clip=1.0, bits=16, ring_bits=ring_bits)
    ctx = context(6, params=params)
    vectors, weights = inputs(6)
    rnd = run_until_masked(ctx, vectors, weights)
    assert all(m.masked.dtype == params.word_dtype for m in rnd.inputs.values())
    result = finish(rnd)
    assert result.survivors == tuple(runner_ids(6)) and result.dropped == ()
    assert result.total_weight == sum(weights.values())
    error = np.max(np.abs(result.mean(ctx) - plain_weighted_mean(vectors, weights, runner_ids(6))))
    assert error <= params.error_bound


@pytest.mark.parametrize("ring_bits", [64, 32])
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("gone", [["r02"], ["r00", "r05"]])
def test_dropouts_of_one_and_two_of_six(when: str, gone: list[str], ring_bits: int) -> None:
    """Runners vanish after sharing their keys: before sending their masked input (their pairwise masks must be
    rebuilt), or after (the leader holds their input but they reveal nothing; they still count)."""
    ctx = context(6, params=SecAggParams(clip=1.0, bits=16, ring_bits=ring_bits))
    vectors, weights = inputs(6, seed=len(gone))
    before = gone if when == "before" else []
    after = gone if when == "after" else []
    rnd = run_until_masked(ctx, vectors, weights, gone_before_masking=before)
    result = finish(rnd, gone_before_masking=before, gone_after_masking=after)
    counted = [r for r in runner_ids(6) if r not in before]
    assert list(result.survivors) == counted
    assert list(result.dropped) == sorted(before)
    assert result.total_weight == sum(weights[r] for r in counted)
    error = np.max(np.abs(result.mean(ctx) - plain_weighted_mean(vectors, weights, counted)))
    assert error <= ctx.params.error_bound


def test_three_of_six_gone_after_masking_leaves_too_few_shares() -> None:
    ctx = context(6, params=PARAMS)
    vectors, weights = inputs(6)
    rnd = run_until_masked(ctx, vectors, weights)
    with pytest.raises(NotEnoughShares) as info:
        finish(rnd, gone_after_masking=["r00", "r01", "r02"])
    assert (info.value.have, info.value.need) == (3, 4)


def test_three_of_six_gone_before_masking_is_refused_by_the_survivor_threshold() -> None:
    ctx = context(6, params=PARAMS)
    vectors, weights = inputs(6)
    rnd = run_until_masked(ctx, vectors, weights, gone_before_masking=["r00", "r01", "r02"])
    with pytest.raises(NotEnoughPeers):
        choose_survivors(ctx, rnd.inputs)


def test_leader_claiming_a_lone_survivor_is_refused_by_the_threshold() -> None:
    """The leader (r05) holds every masked input and tells the others only r00 survived: with r00's self seed and
    every other runner's mask key it would unmask r00's input alone. Every honest runner refuses, and the leader's
    own shares (one of each kind) are far below the threshold."""
    ctx = context(6, params=PARAMS)
    vectors, weights = inputs(6)
    rnd = run_until_masked(ctx, vectors, weights)
    lone = SurvivorSet(("r00",), tuple(runner_ids(6)[1:]))
    for r in runner_ids(5):
        with pytest.raises(RevealRefused, match="threshold is 4"):
            rnd.runners[r].reveal(lone)
    leader_only = {"r05": _leader_reveals_everything(rnd.runners["r05"], lone)}
    with pytest.raises(NotEnoughShares) as info:
        unmask(ctx, rnd.adverts, {"r00": rnd.inputs["r00"]}, lone, leader_only)
    assert (info.value.have, info.value.need) == (1, 4)


@pytest.mark.parametrize("told_survived", [0, 1, 2, 3, 4])
def test_leader_splitting_the_runners_between_two_survivor_sets_is_refused_by_the_threshold(told_survived: int) -> None:
    """The leader r05 tells some honest runners that r00 survived (they reveal r00's self-seed share) and the rest that
    it dropped (they reveal r00's mask-key share). Each honest runner answers one kind per runner, so with its own
    share of each kind and r00's own self-seed share the leader never reaches the threshold (4) for both kinds."""
    ctx = context(6, params=PARAMS)
    vectors, weights = inputs(6)
    rnd = run_until_masked(ctx, vectors, weights)
    ids = runner_ids(6)
    survived = SurvivorSet(tuple(ids[:5]), ())
    dropped = SurvivorSet(tuple(ids[1:]), ("r00",))
    group_a, group_b = ids[1 : 1 + told_survived], ids[1 + told_survived : 5]
    first = reveals_for(rnd, survived, ["r00", *group_a])
    second = reveals_for(rnd, dropped, group_b)
    for r in group_a:
        with pytest.raises(RevealRefused, match="already revealed"):
            rnd.runners[r].reveal(dropped)
    for r in group_b:
        with pytest.raises(RevealRefused, match="already revealed"):
            rnd.runners[r].reveal(survived)
    seeds = [s for a in first.values() for s in a.shares if s.about == "r00" and s.kind is ShareKind.SELF_SEED]
    keys = [s for a in second.values() for s in a.shares if s.about == "r00" and s.kind is ShareKind.MASK_KEY]
    have_seed, have_key = len(seeds) + 1, len(keys) + 1  # + the leader's own share of each kind
    assert min(have_seed, have_key) < ctx.threshold("r00")


def test_the_same_survivor_set_may_be_answered_again() -> None:
    ctx = context(6, params=PARAMS)
    vectors, weights = inputs(6)
    rnd = run_until_masked(ctx, vectors, weights, gone_before_masking=["r01"])
    survivor_set = choose_survivors(ctx, rnd.inputs)
    assert rnd.runners["r00"].reveal(survivor_set) == rnd.runners["r00"].reveal(survivor_set)


def test_a_wrong_revealed_share_is_caught_by_the_commitment() -> None:
    ctx = context(6, params=PARAMS)
    vectors, weights = inputs(6)
    rnd = run_until_masked(ctx, vectors, weights)
    survivor_set = choose_survivors(ctx, rnd.inputs)
    reveals = reveals_for(rnd, survivor_set, runner_ids(6))
    bad = reveals["r00"]
    forged = tuple(RevealedShare(s.about, s.kind, (s.value + 1) if s.about == "r03" else s.value) for s in bad.shares)
    reveals["r00"] = Reveal(survivor_set, forged)
    with pytest.raises((ShareMismatch, NotEnoughShares)) as info:
        unmask(ctx, rnd.adverts, rnd.inputs, survivor_set, reveals)
    assert getattr(info.value, "about", None) == "r03"


def test_runners_that_disagree_on_their_pairwise_masks_are_set_aside() -> None:
    """r04 missed r01's shares, so r04 masks without r01 while r01 masks with r04: the pair would not cancel. The
    leader counts r04 as dropped (its self seed is never revealed) and the sum over the others is exact."""
    ctx = context(6, params=PARAMS)
    vectors, weights = inputs(6)
    runners = {r: RunnerRound(ctx, r) for r in ctx.participants}
    adverts = {r: x.advertise() for r, x in runners.items()}
    packets = {r: x.share(adverts) for r, x in runners.items()}
    for r, x in runners.items():
        for s, p in packets.items():
            if s != r and not (r == "r04" and s == "r01"):
                x.receive_shares(s, p)
    masked = {r: x.mask(vectors[r], weights[r]) for r, x in runners.items()}
    survivor_set = choose_survivors(ctx, masked)
    assert "r04" in survivor_set.dropped and "r04" not in survivor_set.survivors
    reveals = {r: x.reveal(survivor_set) for r, x in runners.items()}
    result = unmask(ctx, adverts, masked, survivor_set, reveals)
    error = np.max(np.abs(result.mean(ctx) - plain_weighted_mean(vectors, weights, survivor_set.survivors)))
    assert error <= PARAMS.error_bound
    with pytest.raises(InvalidMessage, match="disagree"):
        unmask(ctx, adverts, masked, SurvivorSet(tuple(runner_ids(6)), ()), reveals)


def test_steps_out_of_order_are_refused() -> None:
    ctx = context(3, params=PARAMS)
    runner = RunnerRound(ctx, "r00")
    with pytest.raises(PhaseError):
        runner.share({})
    with pytest.raises(PhaseError):
        runner.mask(np.zeros(3), 1)
    with pytest.raises(PhaseError):
        runner.reveal(SurvivorSet(("r00",), ()))
    runner.advertise()
    with pytest.raises(NotEnoughPeers):
        runner.share({})  # alone: 1 holder, threshold 3 of 3
    with pytest.raises(InvalidMessage):
        RunnerRound(ctx, "stranger")


def test_sparse_secagg_plus_graph_with_dropouts() -> None:
    n = 40
    params = SecAggParams(clip=1.0, bits=16, full_graph_max=16)
    ctx = context(n, params=params)
    assert not ctx.graph.complete
    vectors, weights = inputs(n, length=200)
    gone = ["r03", "r17"]
    rnd = run_until_masked(ctx, vectors, weights, gone_before_masking=gone)
    result = finish(rnd, gone_before_masking=gone, gone_after_masking=["r30"])
    counted = [r for r in runner_ids(n) if r not in gone]
    error = np.max(np.abs(result.mean(ctx) - plain_weighted_mean(vectors, weights, counted)))
    assert error <= params.error_bound


def test_a_masked_input_is_uniform_whatever_the_input() -> None:
    """What the leader sees of one runner: its masked vector is uniform over the ring, for an all-minimum and an
    all-maximum input alike, so it tells nothing about the input (an unmasked one would be below 2^16 * n)."""
    ctx = context(6, params=PARAMS)
    for value in (-1.0, 1.0):
        vectors = {r: np.full(20_000, value) for r in runner_ids(6)}
        rnd = run_until_masked(ctx, vectors, dict.fromkeys(runner_ids(6), 100))
        words = rnd.inputs["r00"].masked
        top = np.bincount((words >> np.uint64(56)).astype(np.int64), minlength=256)
        assert chisquare(top).pvalue > 1e-6
        low = np.bincount((words & np.uint64(255)).astype(np.int64), minlength=256)
        assert chisquare(low).pvalue > 1e-6


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(3, 8),
    length=st.integers(1, 64),
    bits=st.integers(8, 24),
    data=st.data(),
)
def test_property_sum_equals_plain_sum_within_the_bound(n: int, length: int, bits: int, data: st.DataObject) -> None:
    params = SecAggParams(clip=2.0, bits=bits)
    ctx = context(n, params=params)
    ids = runner_ids(n)
    vectors = {r: np.array(data.draw(st.lists(st.floats(-2, 2), min_size=length, max_size=length))) for r in ids}
    weights = {r: data.draw(st.integers(1, 10_000)) for r in ids}
    tolerated = n - ctx.threshold(ids[0])
    gone = data.draw(st.lists(st.sampled_from(ids), max_size=tolerated, unique=True))
    rnd = run_until_masked(ctx, vectors, weights, gone_before_masking=gone)
    result = finish(rnd, gone_before_masking=gone)
    counted = [r for r in ids if r not in gone]
    error = np.max(np.abs(result.mean(ctx) - plain_weighted_mean(vectors, weights, counted)))
    assert error <= params.error_bound * (1 + 1e-9)


def _leader_reveals_everything(leader: RunnerRound, survivor_set: SurvivorSet) -> Reveal:
    """A dishonest leader ignores the rule for itself: both kinds of its own shares for everyone."""
    shares = []
    for about, (key_share, seed_share) in leader.held.items():
        shares.append(RevealedShare(about, ShareKind.SELF_SEED, seed_share))
        shares.append(RevealedShare(about, ShareKind.MASK_KEY, key_share))
    return Reveal(survivor_set, tuple(shares))


def test_keys_seen_late_lead_to_no_mask_between_the_pair_and_an_exact_sum() -> None:
    """r00 shares before r03's keys reach it, so it sends r03 no share; r03's shares for r00 still arrive and are
    kept (they help recover r03), but neither masks for the other and every input counts."""
    ctx = context(6, params=PARAMS)
    vectors, weights = inputs(6)
    runners = {r: RunnerRound(ctx, r) for r in ctx.participants}
    adverts = {r: x.advertise() for r, x in runners.items()}
    packets = {
        r: x.share({s: a for s, a in adverts.items() if not (r == "r00" and s == "r03")}) for r, x in runners.items()
    }
    assert "r03" not in packets["r00"].sealed
    with pytest.raises(InvalidMessage, match="before its keys"):
        runners["r00"].receive_shares("r03", packets["r03"])
    runners["r00"].add_advert("r03", adverts["r03"])
    for x in runners.values():
        for s, p in packets.items():
            x.receive_shares(s, p)
    assert "r03" in runners["r00"].held and "r00" not in runners["r03"].held
    masked = {r: x.mask(vectors[r], weights[r]) for r, x in runners.items()}
    assert "r03" not in masked["r00"].mask_peers and "r00" not in masked["r03"].mask_peers
    survivor_set = choose_survivors(ctx, masked)
    assert survivor_set.survivors == tuple(runner_ids(6))
    result = unmask(ctx, adverts, masked, survivor_set, {r: x.reveal(survivor_set) for r, x in runners.items()})
    error = np.max(np.abs(result.mean(ctx) - plain_weighted_mean(vectors, weights, runner_ids(6))))
    assert error <= PARAMS.error_bound


@pytest.mark.parametrize("late_share", [False, True])
def test_shares_sent_late_keep_a_runner_recoverable_after_a_dropout(late_share: bool) -> None:
    """r00 shares before r04's keys reach it. If r00 never sends r04 its share, r00's self seed has only 4 holders,
    and r03 dying after masking leaves 3 < 4: the sum cannot be unmasked. Sending r04 the share once its keys
    arrive (`late_shares`) keeps the round recoverable."""
    ctx = context(5, params=PARAMS)
    vectors, weights = inputs(5)
    runners = {r: RunnerRound(ctx, r) for r in ctx.participants}
    adverts = {r: x.advertise() for r, x in runners.items()}
    packets = {
        r: x.share({s: a for s, a in adverts.items() if not (r == "r00" and s == "r04")}) for r, x in runners.items()
    }
    runners["r00"].add_advert("r04", adverts["r04"])
    for r, x in runners.items():
        for s, p in packets.items():
            if s != r:
                x.receive_shares(s, p)
    if late_share:
        late = runners["r00"].late_shares("r04")
        assert late is not None and list(late.sealed) == ["r04"]
        assert runners["r04"].receive_shares("r00", late)
        assert runners["r00"].late_shares("r04") is None  # once
    masked = {r: x.mask(vectors[r], weights[r]) for r, x in runners.items()}
    survivor_set = choose_survivors(ctx, masked)
    assert survivor_set.survivors == tuple(runner_ids(5))
    reveals = {r: x.reveal(survivor_set) for r, x in runners.items() if r != "r03"}
    if not late_share:
        with pytest.raises(NotEnoughShares) as info:
            unmask(ctx, adverts, masked, survivor_set, reveals)
        assert (info.value.about, info.value.have, info.value.need) == ("r00", 3, 4)
        return
    result = unmask(ctx, adverts, masked, survivor_set, reveals)
    error = np.max(np.abs(result.mean(ctx) - plain_weighted_mean(vectors, weights, runner_ids(5))))
    assert error <= PARAMS.error_bound
