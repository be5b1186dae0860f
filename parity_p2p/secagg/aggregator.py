"""The aggregator's side: choose the survivor set, then rebuild secrets from revealed shares and unmask the sum.

Pure and deterministic: the leader runs it, and every follower runs it again on the same masked inputs (fetched by
CID) and the same gossiped reveals to check the leader's model. Nothing here ever yields one runner's input: only
the sum over the survivor set is unmasked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parity_p2p.secagg.context import RoundContext
from parity_p2p.secagg.errors import InvalidMessage, NotEnoughPeers, ShareMismatch
from parity_p2p.secagg.keys import KeyPair, commit_seed
from parity_p2p.secagg.masking import apply_pairwise
from parity_p2p.secagg.messages import KeyAdvert, MaskedInput, Reveal, ShareKind, SurvivorSet
from parity_p2p.secagg.prg import expand
from parity_p2p.secagg.quantize import Words, dequantize_mean
from parity_p2p.secagg.shamir import reconstruct


@dataclass(frozen=True)
class UnmaskedSum:
    """sum over survivors of n_i q(x_i) in the ring, and the public sum of their n_i."""

    total: Words
    total_weight: int
    survivors: tuple[str, ...]
    dropped: tuple[str, ...]

    def mean(self, ctx: RoundContext) -> npt.NDArray[np.float64]:
        """FedAvg's weighted mean of the survivors' clipped inputs (within `params.error_bound` per coordinate)."""
        return dequantize_mean(ctx.params, self.total, self.total_weight)


def choose_survivors(ctx: RoundContext, inputs: Mapping[str, MaskedInput]) -> SurvivorSet:
    """Every runner whose masked input arrived, minus runners whose pairwise masks would not cancel: two survivors
    must agree on whether they masked for each other (their views of the share exchange can differ). A runner set
    aside is treated as dropped, which is safe: its self seed is never revealed, so its input stays hidden."""
    survivors = {r for r in inputs if r in ctx.participants and set(inputs[r].mask_peers) <= ctx.graph.neighbours[r]}
    changed = True
    while changed:
        changed = False
        for u in sorted(survivors):
            odd = [v for v in inputs[u].mask_peers if v in survivors and u not in inputs[v].mask_peers]
            if odd:
                survivors.discard(max(u, *odd))  # the higher id of a disagreeing pair: deterministic
                changed = True
                break
    for u in survivors:
        need = ctx.threshold(u)
        present = len(survivors & ctx.graph.holders(u))
        if present < need:
            raise NotEnoughPeers(u, present, need, "survivors in its neighbourhood")
    dropped = {v for u in survivors for v in inputs[u].mask_peers} - survivors
    return SurvivorSet(tuple(survivors), tuple(dropped))


def unmask(
    ctx: RoundContext,
    adverts: Mapping[str, KeyAdvert],
    inputs: Mapping[str, MaskedInput],
    survivor_set: SurvivorSet,
    reveals: Mapping[str, Reveal],
) -> UnmaskedSum:
    """The unmasked ring sum over `survivor_set.survivors`. `reveals` maps each revealing runner to its answer;
    answers to another survivor set are ignored. Raises NotEnoughShares below a threshold, ShareMismatch when a
    rebuilt secret contradicts its owner's advertised keys."""
    survivors, dropped = survivor_set.survivors, survivor_set.dropped
    _check_inputs(ctx, inputs, survivors, dropped)
    answers = {r: a for r, a in reveals.items() if a.survivor_set == survivor_set and r in ctx.participants}
    length = len(inputs[survivors[0]].masked)
    dtype = ctx.params.word_dtype
    total = np.zeros(length, dtype=dtype)
    for u in survivors:
        np.add(total, inputs[u].masked, out=total)
    for u in survivors:
        seed = _rebuild(ctx, answers, u, ShareKind.SELF_SEED)
        if commit_seed(seed) != _advert(adverts, u).seed_commitment:
            raise ShareMismatch(u, ShareKind.SELF_SEED.value)
        np.subtract(total, expand(seed, length, dtype), out=total)
    for v in dropped:
        key = KeyPair.from_secret(_rebuild(ctx, answers, v, ShareKind.MASK_KEY))
        if key.public != _advert(adverts, v).mask_public:
            raise ShareMismatch(v, ShareKind.MASK_KEY.value)
        for u in survivors:
            if v in inputs[u].mask_peers:  # u added a mask for v that v's input never cancelled
                apply_pairwise(ctx, total, u, v, key, _advert(adverts, u).mask_public, -1)
    weight = sum(inputs[u].weight for u in survivors)
    return UnmaskedSum(total, weight, survivors, dropped)


def _check_inputs(
    ctx: RoundContext, inputs: Mapping[str, MaskedInput], survivors: tuple[str, ...], dropped: tuple[str, ...]
) -> None:
    if not survivors:
        raise InvalidMessage("survivors", "the survivor set is empty")
    missing = [u for u in survivors if u not in inputs]
    if missing:
        raise InvalidMessage("survivors", f"no masked input from {missing}")
    lengths = {len(inputs[u].masked) for u in survivors}
    if len(lengths) != 1:
        raise InvalidMessage("masked input", f"masked inputs of different lengths {sorted(lengths)}")
    alive = set(survivors)
    for u in survivors:
        peers = set(inputs[u].mask_peers)
        if not peers <= ctx.graph.neighbours[u]:
            raise InvalidMessage(
                "masked input", f"{u} masked for non-neighbours {sorted(peers - ctx.graph.neighbours[u])}"
            )
        one_sided = [v for v in peers & alive if u not in inputs[v].mask_peers]
        if one_sided:
            raise InvalidMessage("survivors", f"{u} and {one_sided} disagree on their pairwise masks")
        unrecovered = peers - alive - set(dropped)
        if unrecovered:
            raise InvalidMessage("survivors", f"masks of {u} for {sorted(unrecovered)} would stay in the sum")


def _rebuild(ctx: RoundContext, answers: Mapping[str, Reveal], about: str, kind: ShareKind) -> bytes:
    holders = ctx.graph.holders(about)
    shares = {
        ctx.position(revealer): share.value
        for revealer, answer in answers.items()
        if revealer in holders
        for share in answer.shares
        if share.about == about and share.kind is kind
    }
    return reconstruct(shares, ctx.threshold(about), about=about, kind=kind.value)


def _advert(adverts: Mapping[str, KeyAdvert], runner: str) -> KeyAdvert:
    advert = adverts.get(runner)
    if advert is None:
        raise InvalidMessage("keys", f"no advertised keys of {runner}")
    return advert
