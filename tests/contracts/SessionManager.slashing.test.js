const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const helpers = require("./helpers");

const { E18, Status, PROPOSAL_TYPES, deploySystem, sessionParams, signRound, submitCurrentRound } = helpers;

const STAKE = 500n * E18;
const POOL = 1000n * E18;

describe("SessionManager: equivocation slashing", function () {
  // Session 1 active with runners 0..2; session 2 open. Runner 0 signed two different proposals for round 1.
  async function fixture() {
    const ctx = await deploySystem({ runnerCount: 4, stake: STAKE });
    const { creator, runners, manager } = ctx;
    await manager.connect(creator).createSession(sessionParams({ rewardPool: POOL, totalRounds: 1 }));
    for (const r of runners.slice(0, 3)) await manager.connect(r).joinSession(1);
    await manager.connect(creator).startSession(1);
    await manager.connect(creator).createSession(sessionParams());
    const cheat = runners[0];
    const a = { modelCid: "bafkreimodel-a", updatesRoot: ethers.id("root-a") };
    const b = { modelCid: "bafkreimodel-b", updatesRoot: ethers.id("root-a") };
    const sign = (signer, p, round = 1, sessionId = 1n) =>
      signRound(manager, PROPOSAL_TYPES, signer, sessionId, round, p.modelCid, p.updatesRoot);
    const sigA = await sign(cheat, a);
    const sigB = await sign(cheat, b);
    return { ...ctx, cheat, reporter: ctx.signers[15], a, b, sigA, sigB, sign };
  }

  it("slashes SLASH_BPS of the stake: REPORTER_BPS to the reporter, the rest into the active pool", async function () {
    const { manager, registry, token, cheat, reporter, a, b, sigA, sigB } = await loadFixture(fixture);
    const amount = (STAKE * 5000n) / 10_000n;
    const reporterShare = (amount * 2000n) / 10_000n;
    const tx = manager.connect(reporter).reportEquivocation(1, 1, a, sigA, b, sigB);
    await expect(tx).to.emit(manager, "EquivocationSlashed").withArgs(1n, 1n, cheat.address, reporter.address, amount);
    await expect(tx).to.emit(manager, "RewardCredited").withArgs(1n, reporter.address, reporterShare);
    await expect(tx).to.emit(registry, "RunnerSlashed").withArgs(cheat.address, amount);
    await expect(tx).to.changeTokenBalances(token, [registry, manager], [-amount, amount]);
    expect(await registry.stakeOf(cheat)).to.equal(STAKE - amount);
    expect(await manager.owed(reporter)).to.equal(reporterShare);
    expect((await manager.getSession(1)).params.rewardPool).to.equal(POOL + amount - reporterShare);
    expect((await manager.reputation(cheat)).slashes).to.equal(1n);
  });

  it("after completion the rest goes to the creator's owed balance", async function () {
    const { manager, signers, creator, reporter, a, b, sigA, sigB } = await loadFixture(fixture);
    await submitCurrentRound(manager, 1, signers, { points: () => 0n });
    expect((await manager.getSession(1)).status).to.equal(Status.Completed);
    const before = await manager.owed(creator);
    const amount = (STAKE * 5000n) / 10_000n;
    const rest = amount - (amount * 2000n) / 10_000n;
    await expect(manager.connect(reporter).reportEquivocation(1, 1, a, sigA, b, sigB))
      .to.emit(manager, "RewardCredited")
      .withArgs(1n, creator.address, rest);
    expect(await manager.owed(creator)).to.equal(before + rest);
  });

  it("pending unstake is slashable too", async function () {
    const { manager, registry, cheat, reporter, a, b, sigA, sigB } = await loadFixture(fixture);
    await registry.connect(cheat).requestUnstake(STAKE - 10n);
    await manager.connect(reporter).reportEquivocation(1, 1, a, sigA, b, sigB);
    const r = await registry.runnerOf(cheat);
    expect(r.stake).to.equal(0n);
    expect(r.pendingUnstake).to.equal(STAKE / 2n);
  });

  it("a second report of the same (session, round, signer) is refused", async function () {
    const { manager, cheat, reporter, a, b, sigA, sigB, sign } = await loadFixture(fixture);
    await manager.connect(reporter).reportEquivocation(1, 1, a, sigA, b, sigB);
    await expect(manager.connect(reporter).reportEquivocation(1, 1, b, sigB, a, sigA))
      .to.be.revertedWithCustomError(manager, "AlreadySlashed")
      .withArgs(1n, 1n, cheat.address);
    const c = { modelCid: "bafkreimodel-c", updatesRoot: ethers.id("root-c") };
    await expect(manager.connect(reporter).reportEquivocation(1, 1, a, sigA, c, await sign(cheat, c)))
      .to.be.revertedWithCustomError(manager, "AlreadySlashed")
      .withArgs(1n, 1n, cheat.address);
  });

  it("refuses identical proposals, different signers, non-participants and bad signatures", async function () {
    const { manager, runners, reporter, a, b, sigA, sign } = await loadFixture(fixture);
    await expect(manager.connect(reporter).reportEquivocation(1, 1, a, sigA, a, sigA))
      .to.be.revertedWithCustomError(manager, "IdenticalProposals");
    const sigBOther = await sign(runners[1], b);
    await expect(manager.connect(reporter).reportEquivocation(1, 1, a, sigA, b, sigBOther))
      .to.be.revertedWithCustomError(manager, "ProposalSignersDiffer")
      .withArgs(runners[0].address, runners[1].address);
    const outsider = runners[3];
    await expect(
      manager.connect(reporter).reportEquivocation(1, 1, a, await sign(outsider, a), b, await sign(outsider, b)),
    )
      .to.be.revertedWithCustomError(manager, "NotParticipant")
      .withArgs(1n, outsider.address);
    await expect(manager.connect(reporter).reportEquivocation(1, 1, a, "0x1234", b, sigA))
      .to.be.revertedWithCustomError(manager, "InvalidSignature")
      .withArgs(0n);
    await expect(manager.connect(reporter).reportEquivocation(1, 1, a, sigA, b, "0x"))
      .to.be.revertedWithCustomError(manager, "InvalidSignature")
      .withArgs(1n);
  });

  it("a signature for another round or session does not prove anything about this one", async function () {
    const { manager, cheat, reporter, a, b, sigA, sign } = await loadFixture(fixture);
    const sigBRound2 = await sign(cheat, b, 2);
    const digest = await manager.proposalDigest(1, 1, b.modelCid, b.updatesRoot);
    const recovered = ethers.recoverAddress(digest, sigBRound2);
    await expect(manager.connect(reporter).reportEquivocation(1, 1, a, sigA, b, sigBRound2))
      .to.be.revertedWithCustomError(manager, "ProposalSignersDiffer")
      .withArgs(cheat.address, recovered);
  });

  it("refuses rounds outside the session and sessions never started", async function () {
    const { manager, reporter, a, b, sigA, sigB } = await loadFixture(fixture);
    await expect(manager.connect(reporter).reportEquivocation(1, 0, a, sigA, b, sigB))
      .to.be.revertedWithCustomError(manager, "InvalidRound")
      .withArgs(1n, 0n);
    await expect(manager.connect(reporter).reportEquivocation(1, 2, a, sigA, b, sigB))
      .to.be.revertedWithCustomError(manager, "InvalidRound")
      .withArgs(1n, 2n);
    await expect(manager.connect(reporter).reportEquivocation(2, 1, a, sigA, b, sigB))
      .to.be.revertedWithCustomError(manager, "SessionNotStarted")
      .withArgs(2n, Status.Open);
    await expect(manager.connect(reporter).reportEquivocation(9, 1, a, sigA, b, sigB))
      .to.be.revertedWithCustomError(manager, "UnknownSession")
      .withArgs(9n);
  });

  it("the slash moved into the pool is paid out with the rewards", async function () {
    const { manager, signers, runners, creator, reporter, a, b, sigA, sigB } = await loadFixture(fixture);
    await manager.connect(reporter).reportEquivocation(1, 1, a, sigA, b, sigB);
    const pool = (await manager.getSession(1)).params.rewardPool;
    await submitCurrentRound(manager, 1, signers);
    let sum = await manager.owed(creator);
    for (const r of runners.slice(0, 3)) sum += await manager.owed(r);
    expect(sum).to.equal(pool);
  });
});
