"""One runner's side of one secure round (Bonawitz et al. 2017, with the sparse graph of Bell et al. 2020).

    advertise()            -> KeyAdvert     gossip: channel + mask public keys, commitment to the self-mask seed
    share(adverts)         -> SharePacket   gossip: Shamir shares of (mask secret key, self seed), one sealed per holder
    receive_shares(s, p)                    keep the shares other runners sealed for us
    mask(vector, weight)   -> MaskedInput   stream to the leader: n q(x) + PRG(seed) + sum +-PRG(pairwise seeds)
    reveal(survivor_set)   -> Reveal        gossip: per other runner, the self-seed share (it survived) OR the
                                            mask-key share (it dropped), never both, and only for a survivor set
                                            that holds at least the threshold of our neighbourhood

The reveal rule is what keeps a single input private from a leader: to remove runner u's masks it needs both u's
self seed and all of u's pairwise seeds, i.e. threshold shares of each kind. An honest runner gives one kind per
runner per round, and the threshold is a strict majority of u's share holders with a margin for the leader's own
share, so the leader can collect both kinds only by contradicting what an honest majority already answered.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping

import numpy as np

from parity_p2p.secagg.context import RoundContext
from parity_p2p.secagg.errors import InvalidMessage, NotEnoughPeers, PhaseError, RevealRefused
from parity_p2p.secagg.keys import CHANNEL, KeyPair, commit_seed
from parity_p2p.secagg.masking import apply_pairwise
from parity_p2p.secagg.messages import (
    KeyAdvert,
    MaskedInput,
    Reveal,
    RevealedShare,
    ShareKind,
    SharePacket,
    SurvivorSet,
)
from parity_p2p.secagg.prg import SEED_BYTES, expand
from parity_p2p.secagg.quantize import Floats, quantize, weighted
from parity_p2p.secagg.sealed import ShareRoute, open_sealed, seal
from parity_p2p.secagg.shamir import SHARE_BYTES, share_from_bytes, share_to_bytes, split


class Phase(enum.Enum):
    KEYS = "keys"
    SHARES = "shares"
    MASKED = "masked"


class RunnerRound:
    def __init__(self, ctx: RoundContext, me: str, *, rng: np.random.Generator | None = None) -> None:
        if me not in ctx.participants:
            raise InvalidMessage("runner", f"{me} is not a participant of round {ctx.round}")
        self.ctx = ctx
        self.me = me
        self.phase = Phase.KEYS
        self._rng = rng
        self._channel = KeyPair()
        self._mask_key = KeyPair()
        self._seed = os.urandom(SEED_BYTES)
        self.adverts: dict[str, KeyAdvert] = {}
        self.held: dict[str, tuple[int, int]] = {}  # owner -> (its mask-key share, its self-seed share) held by us
        self.recipients: frozenset[str] = frozenset()  # neighbours we sent shares to
        self._unsent: dict[str, tuple[int, int]] = {}  # shares of holders whose keys we have not seen yet
        self.mask_peers: tuple[str, ...] = ()
        self.revealed: dict[str, ShareKind] = {}  # what we revealed about each runner this round, fixed once given

    # ---- step 1 -----------------------------------------------------------------------------------------------
    def advertise(self) -> KeyAdvert:
        advert = KeyAdvert(self._channel.public, self._mask_key.public, commit_seed(self._seed))
        self.adverts[self.me] = advert
        return advert

    # ---- step 2 -----------------------------------------------------------------------------------------------
    def share(self, adverts: Mapping[str, KeyAdvert]) -> SharePacket:
        """Shares for every holder (neighbour or us) that advertised; refused below the neighbourhood threshold,
        because then a dropout of ours could never be recovered. Shares of holders whose keys are still missing are
        kept for `late_shares`."""
        if self.phase is not Phase.KEYS or self.me not in self.adverts:
            raise PhaseError("share", self.phase.value)
        holders = self.ctx.graph.holders(self.me)
        self.adverts.update({r: a for r, a in adverts.items() if r in holders and r != self.me})
        present = sorted(r for r in holders if r in self.adverts)
        need = self.ctx.threshold(self.me)
        if len(present) < need:
            raise NotEnoughPeers(self.me, len(present), need, "share holders advertised keys")
        xs = {r: self.ctx.position(r) for r in holders}
        key_shares = split(self._mask_key.secret_bytes, xs.values(), need)
        seed_shares = split(self._seed, xs.values(), need)
        self._unsent = {r: (key_shares[xs[r]], seed_shares[xs[r]]) for r in holders}
        self.held[self.me] = self._unsent.pop(self.me)
        self.phase = Phase.SHARES
        sealed = {r: self._seal_for(r) for r in present if r != self.me}
        self.recipients = frozenset(sealed)
        return SharePacket(sealed)

    def late_shares(self, holder: str) -> SharePacket | None:
        """The shares of a holder whose keys arrived after we shared (None if there are none to send): more holders
        make our dropout recoverable. Once we have masked, the holder is not added to our mask peers (we did not
        mask for it); a holder that masks for us anyway is set aside by the aggregator, not stuck."""
        if self.phase is Phase.KEYS or holder not in self._unsent or holder not in self.adverts:
            return None
        packet = SharePacket({holder: self._seal_for(holder)})
        if self.phase is Phase.SHARES:
            self.recipients = self.recipients | {holder}
        return packet

    def _seal_for(self, holder: str) -> bytes:
        pair = self._unsent.pop(holder)
        key = self._channel.derive(self.adverts[holder].channel_public, CHANNEL, self.ctx.binding(self.me, holder))
        return seal(key, share_to_bytes(pair[0]) + share_to_bytes(pair[1]), self._route(self.me, holder))

    def add_advert(self, sender: str, advert: KeyAdvert) -> None:
        """Keys of a neighbour that arrived on their own (e.g. after we shared): needed to open its shares."""
        if sender in self.ctx.graph.neighbours[self.me]:
            self.adverts.setdefault(sender, advert)

    def receive_shares(self, sender: str, packet: SharePacket) -> bool:
        """Keep the pair of shares `sender` sealed for us; False when there is none to keep (not a neighbour, or it
        did not see our keys in time: then neither of us masks for the other)."""
        if self.phase is Phase.KEYS:
            raise PhaseError("receive shares", self.phase.value)
        sealed = packet.sealed.get(self.me)
        if sender == self.me or sender not in self.ctx.graph.neighbours[self.me] or sealed is None:
            return False
        if sender in self.held:
            return True
        advert = self.adverts.get(sender)
        if advert is None:
            raise InvalidMessage("shares", f"shares from {sender} before its keys")
        key = self._channel.derive(advert.channel_public, CHANNEL, self.ctx.binding(self.me, sender))
        plaintext = open_sealed(key, sealed, self._route(sender, self.me))
        if len(plaintext) != 2 * SHARE_BYTES:
            raise InvalidMessage("shares", f"a share pair from {sender} has {len(plaintext)} bytes")
        self.held[sender] = (share_from_bytes(plaintext[:SHARE_BYTES]), share_from_bytes(plaintext[SHARE_BYTES:]))
        return True

    # ---- step 3 -----------------------------------------------------------------------------------------------
    def mask(self, vector: Floats, weight: int) -> MaskedInput:
        """Mask for every neighbour that we sent shares to and whose shares we hold: both saw each other's keys, so
        it masks for us too (unless it missed our packet; the aggregator then sets one of us aside)."""
        if self.phase is not Phase.SHARES:
            raise PhaseError("mask", self.phase.value)
        words = weighted(self.ctx.params, quantize(self.ctx.params, vector, self._rng), weight)
        np.add(words, expand(self._seed, len(words), words.dtype.type), out=words)
        self.mask_peers = tuple(sorted(r for r in self.held if r in self.recipients))
        for peer in self.mask_peers:
            apply_pairwise(self.ctx, words, self.me, peer, self._mask_key, self.adverts[peer].mask_public, +1)
        self.phase = Phase.MASKED
        return MaskedInput(words, weight, self.mask_peers)

    # ---- step 5 -----------------------------------------------------------------------------------------------
    def reveal(self, survivor_set: SurvivorSet) -> Reveal:
        """Shares for this survivor set, or RevealRefused. The set comes signed by a leader (the transport checks
        that); the same set may be answered again, and a different one only where it agrees with earlier answers."""
        if self.phase is Phase.KEYS:
            raise PhaseError("reveal", self.phase.value)
        survivors, dropped = set(survivor_set.survivors), set(survivor_set.dropped)
        unknown = (survivors | dropped) - set(self.ctx.participants)
        if unknown:
            raise RevealRefused(self.me, f"not participants: {sorted(unknown)}")
        need = self.ctx.threshold(self.me)
        present = len(survivors & self.ctx.graph.holders(self.me))
        if present < need:
            raise RevealRefused(self.me, f"{present} survivors in our neighbourhood, the threshold is {need}")
        wanted = {r: ShareKind.SELF_SEED for r in survivors} | {r: ShareKind.MASK_KEY for r in dropped if r != self.me}
        conflicts = sorted(r for r, kind in wanted.items() if self.revealed.get(r, kind) is not kind)
        if conflicts:
            raise RevealRefused(self.me, f"the other kind of share was already revealed for {conflicts}")
        shares = []
        for runner, kind in sorted(wanted.items()):
            held = self.held.get(runner)
            if held is None:
                continue
            shares.append(RevealedShare(runner, kind, held[1] if kind is ShareKind.SELF_SEED else held[0]))
            self.revealed[runner] = kind
        return Reveal(survivor_set, tuple(shares))

    def _route(self, sender: str, recipient: str) -> ShareRoute:
        return ShareRoute(self.ctx.session_id, self.ctx.round, sender, recipient)
