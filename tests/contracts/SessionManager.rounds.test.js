const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const {
  E18,
  Status,
  ATTESTATION_TYPES,
  PROPOSAL_TYPES,
  deploySystem,
  sessionParams,
  domain,
  merkleRoot,
  leaderIndex,
  contributionsFor,
  attest,
  leaderForNextBlock,
  submitCurrentRound,
} = require("./helpers");

const POOL = 1000n * E18 + 1n; // not divisible by the points below: leaves rounding dust

describe("SessionManager: rounds, failover, completion, abandonment, claims", function () {
  // Session 1: runners 0..3 joined and started (3 rounds, min 2, timeout 60 s); runner 4 registered, not joined.
  async function fixture() {
    const ctx = await deploySystem({ runnerCount: 5 });
    const { creator, runners, manager } = ctx;
    await manager.connect(creator).createSession(sessionParams({ rewardPool: POOL }));
    for (const r of runners.slice(0, 4)) await manager.connect(r).joinSession(1);
    await manager.connect(creator).startSession(1);
    const parts = runners.slice(0, 4);
    return { ...ctx, parts, outsider: runners[4], stranger: ctx.signers[12] };
  }

  /// A valid submission for the current round, prepared but not sent, from the leader at the next block.
  async function prepare(ctx, opts = {}) {
    const { manager, signers, parts } = ctx;
    const { signer: leader, round, step } = await leaderForNextBlock(manager, 1, signers, opts.advance ?? 1);
    const contributions = contributionsFor((opts.contributors ?? parts).map((p) => p.address), round, opts.points);
    const root = merkleRoot(contributions);
    const modelCid = `bafkreimodel-${round}`;
    const attestations = await attest(manager, opts.attesters ?? parts, 1n, round, modelCid, root);
    const result = { round, modelCid, loss: 250_000n, accuracy: 900_000n, contributions };
    return { leader, round, step, contributions, root, modelCid, attestations, result };
  }

  describe("submitRound", function () {
    it("records the round posted by the elected leader", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, parts } = ctx;
      const s0 = await manager.getSession(1);
      const p = await prepare(ctx);
      expect(p.leader.address).to.equal(parts[leaderIndex(s0.seed, 1, 0, 4)].address);
      const [eligible, step] = await manager.eligibleLeader(1);
      expect([eligible, step]).to.deep.equal([p.leader.address, 0n]);

      const tx = await manager.connect(p.leader).submitRound(1, p.result, p.attestations);
      const ts = BigInt((await tx.getBlock()).timestamp);
      await expect(tx)
        .to.emit(manager, "RoundFinalized")
        .withArgs(1n, 1n, p.leader.address, p.modelCid, p.root, 250_000n, 900_000n);
      const rec = await manager.getRound(1, 1);
      expect([rec.modelCid, rec.updatesRoot, rec.leader, rec.loss, rec.accuracy, rec.finalizedAt]).to.deep.equal([
        p.modelCid,
        p.root,
        p.leader.address,
        250_000n,
        900_000n,
        ts,
      ]);
      const s = await manager.getSession(1);
      expect([s.currentRound, s.roundStartedAt, s.totalPoints, s.status]).to.deep.equal([2n, ts, 40n, Status.Active]);
      for (const r of parts) {
        expect(await manager.pointsOf(1, r)).to.equal(10n);
        expect((await manager.reputation(r)).roundsDone).to.equal(1n);
      }
      expect((await manager.reputation(p.leader)).leadershipsDone).to.equal(1n);
    });

    it("accepts exactly a quorum of attestations and minParticipants contributions", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, parts } = ctx;
      expect(await manager.quorum(1)).to.equal(3n);
      const p = await prepare(ctx, { contributors: parts.slice(1, 3), attesters: parts.slice(0, 3) });
      const tx = manager.connect(p.leader).submitRound(1, p.result, p.attestations);
      await expect(tx).to.emit(manager, "RoundFinalized");
      expect(await manager.pointsOf(1, parts[0])).to.equal(0n);
      expect(await manager.pointsOf(1, parts[1])).to.equal(10n);
    });

    it("refuses unknown, open and wrong-round submissions", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, creator } = ctx;
      const p = await prepare(ctx);
      await expect(manager.connect(p.leader).submitRound(7, p.result, p.attestations))
        .to.be.revertedWithCustomError(manager, "UnknownSession")
        .withArgs(7n);
      await manager.connect(creator).createSession(sessionParams());
      await expect(manager.connect(p.leader).submitRound(2, p.result, p.attestations))
        .to.be.revertedWithCustomError(manager, "SessionNotActive")
        .withArgs(2n, Status.Open);
      await expect(manager.connect(p.leader).submitRound(1, { ...p.result, round: 2 }, p.attestations))
        .to.be.revertedWithCustomError(manager, "WrongRound")
        .withArgs(1n, 1n, 2n);
      await expect(manager.connect(p.leader).submitRound(1, { ...p.result, modelCid: "" }, p.attestations))
        .to.be.revertedWithCustomError(manager, "EmptyModelCid");
    });

    it("refuses anyone but the leader of the current step", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, parts } = ctx;
      const p = await prepare(ctx);
      const other = parts.find((x) => x.address !== p.leader.address);
      await expect(manager.connect(other).submitRound(1, p.result, p.attestations))
        .to.be.revertedWithCustomError(manager, "NotLeader")
        .withArgs(1n, other.address, p.leader.address);
    });

    it("refuses bad contributions", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, parts, outsider } = ctx;
      const p = await prepare(ctx);
      const send = (contributions) =>
        manager.connect(p.leader).submitRound(1, { ...p.result, contributions }, p.attestations);
      await expect(send(p.contributions.slice(0, 1)))
        .to.be.revertedWithCustomError(manager, "NotEnoughContributions")
        .withArgs(1n, 1n, 2);
      await expect(send([...p.contributions].reverse()))
        .to.be.revertedWithCustomError(manager, "UnsortedContributions")
        .withArgs(1n);
      await expect(send([p.contributions[0], p.contributions[0]]))
        .to.be.revertedWithCustomError(manager, "UnsortedContributions")
        .withArgs(1n);
      const withOutsider = contributionsFor([...parts, outsider].map((x) => x.address), 1);
      await expect(send(withOutsider))
        .to.be.revertedWithCustomError(manager, "NotParticipant")
        .withArgs(1n, outsider.address);
    });

    it("refuses bad attestations", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, parts, outsider } = ctx;
      const p = await prepare(ctx);
      const send = (attestations) => manager.connect(p.leader).submitRound(1, p.result, attestations);
      await expect(send(p.attestations.slice(0, 2)))
        .to.be.revertedWithCustomError(manager, "NotEnoughAttestations")
        .withArgs(1n, 2n, 3n);
      await expect(send([p.attestations[0], "0x" + "11".repeat(64), p.attestations[2]]))
        .to.be.revertedWithCustomError(manager, "InvalidSignature")
        .withArgs(1n);
      await expect(send([...p.attestations].reverse()))
        .to.be.revertedWithCustomError(manager, "UnsortedAttestations")
        .withArgs(1n);
      await expect(send([p.attestations[0], p.attestations[0], p.attestations[1]]))
        .to.be.revertedWithCustomError(manager, "UnsortedAttestations")
        .withArgs(1n);
      const withOutsider = await attest(manager, [...parts, outsider], 1n, 1, p.modelCid, p.root);
      await expect(send(withOutsider))
        .to.be.revertedWithCustomError(manager, "NotParticipant")
        .withArgs(1n, outsider.address);
    });

    it("attestations over another root or model do not count", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, parts } = ctx;
      const p = await prepare(ctx);
      // The leader claims more points than the participants attested to.
      const inflated = p.contributions.map((c) => ({ ...c, points: c.points * 2n }));
      const digest = await manager.attestationDigest(1, 1, p.modelCid, merkleRoot(inflated));
      const recovered = ethers.recoverAddress(digest, p.attestations[0]);
      expect(parts.map((x) => x.address)).to.not.include(recovered);
      await expect(manager.connect(p.leader).submitRound(1, { ...p.result, contributions: inflated }, p.attestations))
        .to.be.revertedWithCustomError(manager, "NotParticipant")
        .withArgs(1n, recovered);
    });
  });

  describe("failover", function () {
    it("after the timeout the next leader posts, the first one is refused and counted as missed", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, signers } = ctx;
      const first = await leaderForNextBlock(manager, 1, signers, 1);
      await time.increase(60); // the step-0 leader let its timeout pass
      const p = await prepare(ctx);
      expect(p.step).to.equal(1n);
      expect(p.leader.address).to.not.equal(first.signer.address);
      await expect(manager.connect(first.signer).submitRound(1, p.result, p.attestations))
        .to.be.revertedWithCustomError(manager, "NotLeader")
        .withArgs(1n, first.signer.address, p.leader.address);
      await expect(manager.connect(p.leader).submitRound(1, p.result, p.attestations))
        .to.emit(manager, "RoundFinalized")
        .withArgs(1n, 1n, p.leader.address, p.modelCid, p.root, 250_000n, 900_000n);
      expect((await manager.reputation(first.signer)).leadershipsMissed).to.equal(1n);
      expect((await manager.reputation(p.leader)).leadershipsDone).to.equal(1n);
    });

    it("two missed turns: the step-2 leader posts and both skipped leaders get a miss", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, parts } = ctx;
      const { seed } = await manager.getSession(1);
      const skipped = [0, 1].map((k) => parts[leaderIndex(seed, 1, k, 4)]);
      await time.increase(2 * 60);
      const p = await prepare(ctx);
      expect(p.step).to.equal(2n);
      expect(p.leader.address).to.equal(parts[leaderIndex(seed, 1, 2, 4)].address);
      await manager.connect(p.leader).submitRound(1, p.result, p.attestations);
      for (const s of skipped) expect((await manager.reputation(s)).leadershipsMissed).to.equal(1n);
      expect((await manager.reputation(p.leader)).leadershipsMissed).to.equal(0n);
      // The next round opens at the posting time, back at step 0.
      const [, step] = await manager.eligibleLeader(1);
      expect(step).to.equal(0n);
    });

    it("after every participant's turn and one more timeout the round expires", async function () {
      const ctx = await loadFixture(fixture);
      const { manager } = ctx;
      const startedAt = (await manager.getSession(1)).roundStartedAt;
      await time.increaseTo(startedAt + 60n * 5n - 2n);
      const last = await prepare(ctx); // step 4 == n: the first choice again, still allowed
      expect(last.step).to.equal(4n);
      await time.setNextBlockTimestamp(startedAt + 60n * 5n);
      await expect(manager.connect(last.leader).submitRound(1, last.result, last.attestations))
        .to.be.revertedWithCustomError(manager, "RoundExpired")
        .withArgs(1n, 1n, startedAt + 300n);
    });
  });

  describe("completion and rewards", function () {
    const points = (addr) => (BigInt("0x" + addr.slice(-2)) % 7n) + 1n;

    it("the last round completes the session and credits the pool by points, dust to the creator", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, signers, parts, creator } = ctx;
      await submitCurrentRound(manager, 1, signers, { points });
      await submitCurrentRound(manager, 1, signers, { points });
      const last = await submitCurrentRound(manager, 1, signers, { points });
      await expect(last.tx).to.emit(manager, "SessionCompleted").withArgs(1n, last.modelCid);
      const s = await manager.getSession(1);
      expect(s.status).to.equal(Status.Completed);
      expect(s.finalModelCid).to.equal(last.modelCid);
      expect(s.currentRound).to.equal(3n);
      const total = parts.reduce((acc, r) => acc + 3n * points(r.address), 0n);
      expect(s.totalPoints).to.equal(total);
      let paid = 0n;
      for (const r of parts) {
        const share = (POOL * 3n * points(r.address)) / total;
        expect(await manager.owed(r)).to.equal(share);
        await expect(last.tx).to.emit(manager, "RewardCredited").withArgs(1n, r.address, share);
        paid += share;
      }
      expect(POOL - paid).to.be.greaterThan(0n);
      expect(await manager.owed(creator)).to.equal(POOL - paid);
      await expect(submitCurrentRound(manager, 1, signers))
        .to.be.revertedWithCustomError(manager, "SessionNotActive")
        .withArgs(1n, Status.Completed);
    });

    it("with zero points the whole pool goes back to the creator", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, signers, creator } = ctx;
      for (let i = 0; i < 3; i++) await submitCurrentRound(manager, 1, signers, { points: () => 0n });
      expect(await manager.owed(creator)).to.equal(POOL);
    });
  });

  describe("abandonSession", function () {
    it("is refused before every participant had its turn plus one timeout", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, stranger } = ctx;
      const startedAt = (await manager.getSession(1)).roundStartedAt;
      await expect(manager.connect(stranger).abandonSession(1))
        .to.be.revertedWithCustomError(manager, "AbandonTooEarly")
        .withArgs(1n, startedAt + 300n);
      await expect(manager.connect(stranger).abandonSession(3))
        .to.be.revertedWithCustomError(manager, "UnknownSession")
        .withArgs(3n);
    });

    it("credits pool * roundsDone / totalRounds by points and the rest to the creator", async function () {
      const ctx = await loadFixture(fixture);
      const { manager, signers, parts, creator, stranger } = ctx;
      await submitCurrentRound(manager, 1, signers, { contributors: parts.map((x) => x.address).slice(0, 3) });
      await time.increase(300);
      const tx = manager.connect(stranger).abandonSession(1);
      await expect(tx).to.emit(manager, "SessionAbandoned").withArgs(1n, 1n);
      const earned = POOL / 3n;
      const share = earned / 3n; // three contributors with equal points
      for (const r of parts.slice(0, 3)) expect(await manager.owed(r)).to.equal(share);
      expect(await manager.owed(parts[3])).to.equal(0n);
      expect(await manager.owed(creator)).to.equal(POOL - 3n * share);
      expect((await manager.getSession(1)).status).to.equal(Status.Abandoned);
      await expect(manager.connect(stranger).abandonSession(1))
        .to.be.revertedWithCustomError(manager, "SessionNotActive")
        .withArgs(1n, Status.Abandoned);
    });

    it("with no round done the whole pool goes back to the creator", async function () {
      const { manager, creator, stranger } = await loadFixture(fixture);
      await time.increase(300);
      await expect(manager.connect(stranger).abandonSession(1))
        .to.emit(manager, "RewardCredited")
        .withArgs(1n, creator.address, POOL);
    });
  });

  describe("claim", function () {
    it("pays the owed balance once; a second claim is refused", async function () {
      const { manager, token, creator, stranger } = await loadFixture(fixture);
      await time.increase(300);
      await manager.connect(stranger).abandonSession(1);
      const tx = manager.connect(creator).claim();
      await expect(tx).to.emit(manager, "RewardsClaimed").withArgs(creator.address, POOL);
      await expect(tx).to.changeTokenBalances(token, [manager, creator], [-POOL, POOL]);
      expect(await manager.owed(creator)).to.equal(0n);
      await expect(manager.connect(creator).claim())
        .to.be.revertedWithCustomError(manager, "NothingToClaim")
        .withArgs(creator.address);
    });
  });

  describe("reference rules (shared with the Python client)", function () {
    it("updatesRoot matches the reference Merkle rule for 0..9 leaves", async function () {
      const { manager, signers } = await loadFixture(fixture);
      const addrs = signers.map((s) => s.address);
      for (let n = 0; n <= 9; n++) {
        const cs = contributionsFor(addrs.slice(0, n), 1, () => BigInt(n));
        expect(await manager.updatesRoot(cs)).to.equal(merkleRoot(cs));
      }
      const one = contributionsFor(addrs.slice(0, 1), 1);
      const leaf = ethers.keccak256(
        ethers.AbiCoder.defaultAbiCoder().encode(
          ["address", "bytes32", "uint256", "uint256"],
          [one[0].runner, one[0].updateDigest, one[0].dataSize, one[0].points],
        ),
      );
      expect(await manager.updatesRoot(one)).to.equal(leaf);
    });

    it("leaderAt matches the reference election for every round and step", async function () {
      const { manager, parts } = await loadFixture(fixture);
      const { seed } = await manager.getSession(1);
      for (let round = 1; round <= 3; round++) {
        for (let step = 0; step < 9; step++) {
          expect(await manager.leaderAt(1, round, step)).to.equal(parts[leaderIndex(seed, round, step, 4)].address);
        }
      }
    });

    it("the digests are the EIP-712 typed-data hashes", async function () {
      const { manager } = await loadFixture(fixture);
      const d = await domain(manager);
      const value = { sessionId: 1n, round: 2, modelCid: "bafkreim", updatesRoot: ethers.id("root") };
      expect(await manager.attestationDigest(1, 2, "bafkreim", value.updatesRoot)).to.equal(
        ethers.TypedDataEncoder.hash(d, ATTESTATION_TYPES, value),
      );
      expect(await manager.proposalDigest(1, 2, "bafkreim", value.updatesRoot)).to.equal(
        ethers.TypedDataEncoder.hash(d, PROPOSAL_TYPES, value),
      );
    });
  });
});
