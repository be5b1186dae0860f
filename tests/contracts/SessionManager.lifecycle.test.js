const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const { E18, Status, MIN_STAKE, deploySystem, sessionParams } = require("./helpers");

describe("SessionManager: create, join, start, cancel, views", function () {
  // One open session (id 1) by `creator`, nobody joined yet.
  async function fixture() {
    const ctx = await deploySystem({ runnerCount: 5 });
    await ctx.manager.connect(ctx.creator).createSession(sessionParams());
    return { ...ctx, stranger: ctx.signers[10] };
  }

  async function joined(count) {
    const ctx = await loadFixture(fixture);
    for (const r of ctx.runners.slice(0, count)) await ctx.manager.connect(r).joinSession(1);
    return ctx;
  }

  describe("createSession", function () {
    it("stores the session, escrows the pool and emits SessionCreated", async function () {
      const { creator, manager, token } = await loadFixture(fixture);
      const p = sessionParams({ name: "second", rewardPool: 7n * E18 });
      const tx = manager.connect(creator).createSession(p);
      await expect(tx)
        .to.emit(manager, "SessionCreated")
        .withArgs(2n, creator.address, p.name, p.datasetCid, p.specCid, p.specHash, p.rewardPool);
      await expect(tx).to.changeTokenBalances(token, [creator, manager], [-p.rewardPool, p.rewardPool]);
      expect(await manager.sessionCount()).to.equal(2n);
      const s = await manager.getSession(2);
      expect(s.params.name).to.equal("second");
      expect(s.params.specHash).to.equal(p.specHash);
      expect(s.params.totalRounds).to.equal(3n);
      expect(s.params.rewardPool).to.equal(7n * E18);
      expect(s.creator).to.equal(creator.address);
      expect(s.status).to.equal(Status.Open);
      expect(s.currentRound).to.equal(0n);
      expect(s.participantCount).to.equal(0n);
      expect(s.seed).to.equal(ethers.ZeroHash);
      expect(s.finalModelCid).to.equal("");
    });

    it("accepts a zero reward pool without a transfer", async function () {
      const { stranger, manager } = await loadFixture(fixture);
      await expect(manager.connect(stranger).createSession(sessionParams({ rewardPool: 0n })))
        .to.emit(manager, "SessionCreated");
    });

    it("validates every parameter", async function () {
      const { creator, manager } = await loadFixture(fixture);
      const create = (o) => manager.connect(creator).createSession(sessionParams(o));
      await expect(create({ totalRounds: 0 })).to.be.revertedWithCustomError(manager, "InvalidTotalRounds").withArgs(0);
      await expect(create({ totalRounds: 1001 }))
        .to.be.revertedWithCustomError(manager, "InvalidTotalRounds")
        .withArgs(1001);
      await expect(create({ minParticipants: 0 }))
        .to.be.revertedWithCustomError(manager, "InvalidParticipantBounds")
        .withArgs(0, 5);
      await expect(create({ minParticipants: 6, maxParticipants: 5 }))
        .to.be.revertedWithCustomError(manager, "InvalidParticipantBounds")
        .withArgs(6, 5);
      await expect(create({ maxParticipants: 129 }))
        .to.be.revertedWithCustomError(manager, "InvalidParticipantBounds")
        .withArgs(2, 129);
      await expect(create({ roundTimeout: 9 }))
        .to.be.revertedWithCustomError(manager, "RoundTimeoutTooShort")
        .withArgs(9, 10);
      await expect(create({ datasetCid: "" })).to.be.revertedWithCustomError(manager, "EmptyDatasetCid");
      await expect(create({ specCid: "" })).to.be.revertedWithCustomError(manager, "EmptySpecCid");
      await expect(create({ specHash: ethers.ZeroHash })).to.be.revertedWithCustomError(manager, "ZeroSpecHash");
      await expect(create({ totalRounds: 1000, maxParticipants: 128, roundTimeout: 10 })).to.emit(
        manager,
        "SessionCreated",
      );
    });

    it("exposes its constants and wiring", async function () {
      const { manager, token, registry } = await loadFixture(fixture);
      expect(await manager.MAX_PARTICIPANTS()).to.equal(128n);
      expect(await manager.MAX_ROUNDS()).to.equal(1000n);
      expect(await manager.SLASH_BPS()).to.equal(5000n);
      expect(await manager.REPORTER_BPS()).to.equal(2000n);
      expect(await manager.MIN_ROUND_TIMEOUT()).to.equal(10n);
      expect(await manager.token()).to.equal(await token.getAddress());
      expect(await manager.registry()).to.equal(await registry.getAddress());
      const d = await manager.eip712Domain();
      expect([d.name, d.version]).to.deep.equal(["ParityP2P", "1"]);
    });
  });

  describe("joinSession", function () {
    it("adds the runner in join order", async function () {
      const { runners, manager } = await loadFixture(fixture);
      await expect(manager.connect(runners[1]).joinSession(1))
        .to.emit(manager, "SessionJoined")
        .withArgs(1n, runners[1].address);
      await manager.connect(runners[0]).joinSession(1);
      expect(await manager.participants(1)).to.deep.equal([runners[1].address, runners[0].address]);
      expect(await manager.isParticipant(1, runners[0])).to.equal(true);
      expect(await manager.isParticipant(1, runners[2])).to.equal(false);
      expect((await manager.getSession(1)).participantCount).to.equal(2n);
    });

    it("refuses unknown and non-open sessions", async function () {
      const { creator, runners, manager } = await loadFixture(fixture);
      await expect(manager.connect(runners[0]).joinSession(9))
        .to.be.revertedWithCustomError(manager, "UnknownSession")
        .withArgs(9n);
      await manager.connect(creator).cancelSession(1);
      await expect(manager.connect(runners[0]).joinSession(1))
        .to.be.revertedWithCustomError(manager, "SessionNotOpen")
        .withArgs(1n, Status.Cancelled);
    });

    it("refuses unregistered runners and runners with too little stake", async function () {
      const { creator, runners, stranger, manager } = await loadFixture(fixture);
      await expect(manager.connect(stranger).joinSession(1))
        .to.be.revertedWithCustomError(manager, "RunnerNotRegistered")
        .withArgs(stranger.address);
      await manager.connect(creator).createSession(sessionParams({ minStake: 501n * E18 }));
      await expect(manager.connect(runners[0]).joinSession(2))
        .to.be.revertedWithCustomError(manager, "StakeTooLow")
        .withArgs(runners[0].address, 500n * E18, 501n * E18);
    });

    it("counts only active stake, not pending unstake", async function () {
      const { runners, registry, manager } = await loadFixture(fixture);
      await registry.connect(runners[0]).requestUnstake(401n * E18);
      await expect(manager.connect(runners[0]).joinSession(1))
        .to.be.revertedWithCustomError(manager, "StakeTooLow")
        .withArgs(runners[0].address, 99n * E18, MIN_STAKE);
    });

    it("refuses a second join and a full session", async function () {
      const { creator, runners, manager } = await loadFixture(fixture);
      await manager.connect(creator).createSession(sessionParams({ minParticipants: 1, maxParticipants: 1 }));
      await manager.connect(runners[0]).joinSession(2);
      await expect(manager.connect(runners[0]).joinSession(2))
        .to.be.revertedWithCustomError(manager, "AlreadyJoined")
        .withArgs(2n, runners[0].address);
      await expect(manager.connect(runners[1]).joinSession(2))
        .to.be.revertedWithCustomError(manager, "SessionFull")
        .withArgs(2n, 1);
    });
  });

  describe("startSession", function () {
    it("fixes the seed from prevrandao, opens round 1 and emits SessionStarted", async function () {
      const { creator, runners, manager } = await joined(3);
      const tx = await manager.connect(creator).startSession(1);
      const block = await ethers.provider.send("eth_getBlockByHash", [(await tx.wait()).blockHash, false]);
      const parts = runners.slice(0, 3).map((r) => r.address);
      const seed = ethers.keccak256(
        ethers.AbiCoder.defaultAbiCoder().encode(["uint256", "uint256", "address[]"], [block.mixHash, 1n, parts]),
      );
      await expect(tx).to.emit(manager, "SessionStarted").withArgs(1n, seed, 3n);
      const s = await manager.getSession(1);
      expect(s.status).to.equal(Status.Active);
      expect(s.seed).to.equal(seed);
      expect(s.currentRound).to.equal(1n);
      expect(s.roundStartedAt).to.equal(BigInt(block.timestamp));
    });

    it("refuses strangers, too few participants and a second start", async function () {
      const { creator, runners, stranger, manager } = await joined(1);
      await expect(manager.connect(stranger).startSession(1))
        .to.be.revertedWithCustomError(manager, "NotCreator")
        .withArgs(1n, stranger.address);
      await expect(manager.connect(creator).startSession(1))
        .to.be.revertedWithCustomError(manager, "NotEnoughParticipants")
        .withArgs(1n, 1n, 2);
      await manager.connect(runners[1]).joinSession(1);
      await manager.connect(creator).startSession(1);
      await expect(manager.connect(creator).startSession(1))
        .to.be.revertedWithCustomError(manager, "SessionNotOpen")
        .withArgs(1n, Status.Active);
      await expect(manager.connect(creator).startSession(5))
        .to.be.revertedWithCustomError(manager, "UnknownSession")
        .withArgs(5n);
    });
  });

  describe("cancelSession", function () {
    it("refunds the pool to the creator at once", async function () {
      const { creator, manager, token } = await joined(2);
      const tx = manager.connect(creator).cancelSession(1);
      await expect(tx).to.emit(manager, "SessionCancelled").withArgs(1n);
      await expect(tx).to.changeTokenBalances(token, [manager, creator], [-1000n * E18, 1000n * E18]);
      expect((await manager.getSession(1)).status).to.equal(Status.Cancelled);
      expect(await manager.owed(creator)).to.equal(0n);
    });

    it("refuses strangers, started sessions and unknown ids", async function () {
      const { creator, stranger, manager } = await joined(2);
      await expect(manager.connect(stranger).cancelSession(1))
        .to.be.revertedWithCustomError(manager, "NotCreator")
        .withArgs(1n, stranger.address);
      await manager.connect(creator).startSession(1);
      await expect(manager.connect(creator).cancelSession(1))
        .to.be.revertedWithCustomError(manager, "SessionNotOpen")
        .withArgs(1n, Status.Active);
      await expect(manager.connect(creator).cancelSession(0))
        .to.be.revertedWithCustomError(manager, "UnknownSession")
        .withArgs(0n);
    });
  });

  describe("views", function () {
    it("quorum is min(n, max(minParticipants, n/2 + 1))", async function () {
      const { creator, runners, manager } = await loadFixture(fixture);
      await manager.connect(creator).createSession(sessionParams({ minParticipants: 1, maxParticipants: 5 }));
      const expected = [0n, 1n, 2n, 2n, 3n, 3n];
      expect(await manager.quorum(2)).to.equal(expected[0]);
      for (let n = 1; n <= 5; n++) {
        await manager.connect(runners[n - 1]).joinSession(2);
        expect(await manager.quorum(2)).to.equal(expected[n]);
      }
      // minParticipants dominates: min 4 of 5 joined
      await manager.connect(creator).createSession(sessionParams({ minParticipants: 4, maxParticipants: 5 }));
      for (const r of runners) await manager.connect(r).joinSession(3);
      expect(await manager.quorum(3)).to.equal(4n);
    });

    it("unknown sessions revert in views that need one", async function () {
      const { manager } = await loadFixture(fixture);
      const calls = [() => manager.getSession(4), () => manager.participants(4), () => manager.quorum(4)];
      for (const call of [...calls, () => manager.eligibleLeader(4)]) {
        await expect(call()).to.be.revertedWithCustomError(manager, "UnknownSession").withArgs(4n);
      }
      await expect(manager.leaderAt(4, 1, 0)).to.be.revertedWithCustomError(manager, "UnknownSession").withArgs(4n);
    });

    it("leader views need a started session", async function () {
      const { manager } = await loadFixture(fixture);
      await expect(manager.leaderAt(1, 1, 0))
        .to.be.revertedWithCustomError(manager, "SessionNotStarted")
        .withArgs(1n, Status.Open);
      await expect(manager.eligibleLeader(1))
        .to.be.revertedWithCustomError(manager, "SessionNotActive")
        .withArgs(1n, Status.Open);
    });

    it("fresh accounts have empty records", async function () {
      const { stranger, manager } = await loadFixture(fixture);
      expect(await manager.owed(stranger)).to.equal(0n);
      expect(await manager.pointsOf(1, stranger)).to.equal(0n);
      const rep = await manager.reputation(stranger);
      expect([rep.roundsDone, rep.leadershipsDone, rep.leadershipsMissed, rep.slashes]).to.deep.equal([0n, 0n, 0n, 0n]);
      const round = await manager.getRound(1, 1);
      expect(round.leader).to.equal(ethers.ZeroAddress);
      expect(round.finalizedAt).to.equal(0n);
    });
  });
});
