const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { E18, MIN_STAKE, COOLDOWN, deploySystem, sessionParams } = require("./helpers");

const POOL = 1000n * E18;

describe("Reentrancy through a malicious token", function () {
  // The system runs on HookedToken. The attacker contract created session 1 (abandoned, so the whole pool is owed
  // to it) and is a registered runner with its whole stake pending and unlocked.
  async function fixture() {
    const ctx = await deploySystem({ tokenFactory: "HookedToken", runnerCount: 2 });
    const { creator, runners, token, registry, manager } = ctx;
    const attacker = await ethers.deployContract("ReentrantAttacker");
    await token.connect(creator).transfer(attacker, 5000n * E18);
    await attacker.approveMax(token, registry);
    await attacker.approveMax(token, manager);
    const call = (target, name, args) => attacker.execute(target, target.interface.encodeFunctionData(name, args));
    await call(manager, "createSession", [sessionParams({ rewardPool: POOL })]);
    for (const r of runners) await manager.connect(r).joinSession(1);
    await call(manager, "startSession", [1]);
    await time.increase(60 * 3);
    await manager.abandonSession(1);
    await call(registry, "register", ["12D3KooWAttacker", MIN_STAKE]);
    await call(registry, "requestUnstake", [MIN_STAKE]);
    await time.increase(COOLDOWN);
    await token.setHookedReceiver(attacker);
    return { ...ctx, attacker, call };
  }

  it("claim cannot be re-entered: the nested claim reverts and nothing is paid twice", async function () {
    const { attacker, call, manager, token } = await loadFixture(fixture);
    expect(await manager.owed(attacker)).to.equal(POOL);
    await attacker.arm(manager, manager.interface.encodeFunctionData("claim"));
    await expect(call(manager, "claim", [])).to.be.revertedWithCustomError(manager, "ReentrancyGuardReentrantCall");
    expect(await manager.owed(attacker)).to.equal(POOL);
    expect(await token.balanceOf(manager)).to.equal(POOL);

    // Unarmed, the same account claims exactly once.
    await attacker.arm(ethers.ZeroAddress, "0x");
    await expect(call(manager, "claim", [])).to.changeTokenBalances(token, [manager, attacker], [-POOL, POOL]);
    await expect(call(manager, "claim", []))
      .to.be.revertedWithCustomError(manager, "NothingToClaim")
      .withArgs(await attacker.getAddress());
  });

  it("withdraw cannot be re-entered", async function () {
    const { attacker, call, registry, token } = await loadFixture(fixture);
    await attacker.arm(registry, registry.interface.encodeFunctionData("withdraw"));
    await expect(call(registry, "withdraw", [])).to.be.revertedWithCustomError(
      registry,
      "ReentrancyGuardReentrantCall",
    );
    expect((await registry.runnerOf(attacker)).pendingUnstake).to.equal(MIN_STAKE);
    expect(await token.balanceOf(registry)).to.equal(MIN_STAKE + 2n * 500n * E18);

    await attacker.arm(ethers.ZeroAddress, "0x");
    await expect(call(registry, "withdraw", [])).to.changeTokenBalances(
      token,
      [registry, attacker],
      [-MIN_STAKE, MIN_STAKE],
    );
  });

  it("the hook really runs: an unguarded re-entry (into the token itself) goes through", async function () {
    const { attacker, call, manager, token } = await loadFixture(fixture);
    // Re-entering the token itself (not guarded) succeeds, which proves the callback path is live.
    await attacker.arm(token, token.interface.encodeFunctionData("approve", [await manager.getAddress(), 1n]));
    await call(manager, "claim", []);
    expect(await attacker.reentries()).to.equal(1n);
  });
});
