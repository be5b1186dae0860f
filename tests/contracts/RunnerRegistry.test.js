const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { E18, MIN_STAKE, COOLDOWN } = require("./helpers");

describe("RunnerRegistry", function () {
  async function fixture() {
    const [owner, alice, bob, manager, stranger] = await ethers.getSigners();
    const token = await ethers.deployContract("MockUSDFC");
    const registry = await ethers.deployContract("RunnerRegistry", [token, MIN_STAKE, COOLDOWN, owner.address]);
    for (const account of [alice, bob]) {
      await token.connect(account).faucet(10_000n * E18);
      await token.connect(account).approve(registry, ethers.MaxUint256);
    }
    return { owner, alice, bob, manager, stranger, token, registry };
  }

  async function registered() {
    const ctx = await loadFixture(fixture);
    await ctx.registry.connect(ctx.alice).register("12D3KooWAlice", MIN_STAKE * 2n);
    return ctx;
  }

  async function expectInvariant({ token, registry }, accounts) {
    let sum = 0n;
    for (const a of accounts) {
      const r = await registry.runnerOf(a);
      sum += r.stake + r.pendingUnstake;
    }
    expect(await token.balanceOf(registry)).to.equal(sum);
  }

  describe("construction and setSessionManager", function () {
    it("exposes its parameters", async function () {
      const { registry, token } = await loadFixture(fixture);
      expect(await registry.token()).to.equal(await token.getAddress());
      expect(await registry.minStake()).to.equal(MIN_STAKE);
      expect(await registry.unstakeCooldown()).to.equal(COOLDOWN);
      expect(await registry.sessionManager()).to.equal(ethers.ZeroAddress);
      expect(await registry.runnerCount()).to.equal(0n);
    });

    it("refuses a zero token", async function () {
      const { owner, registry } = await loadFixture(fixture);
      const factory = await ethers.getContractFactory("RunnerRegistry");
      await expect(factory.deploy(ethers.ZeroAddress, MIN_STAKE, COOLDOWN, owner.address))
        .to.be.revertedWithCustomError(registry, "ZeroAddress");
    });

    it("sets the manager once, owner only, never zero", async function () {
      const { owner, manager, stranger, registry } = await loadFixture(fixture);
      await expect(registry.connect(stranger).setSessionManager(manager.address))
        .to.be.revertedWithCustomError(registry, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
      await expect(registry.connect(owner).setSessionManager(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(registry, "ZeroAddress");
      await expect(registry.connect(owner).setSessionManager(manager.address))
        .to.emit(registry, "SessionManagerSet")
        .withArgs(manager.address);
      expect(await registry.sessionManager()).to.equal(manager.address);
      await expect(registry.connect(owner).setSessionManager(stranger.address))
        .to.be.revertedWithCustomError(registry, "SessionManagerAlreadySet");
    });
  });

  describe("register", function () {
    it("records the runner, pulls the stake and emits RunnerRegistered", async function () {
      const ctx = await loadFixture(fixture);
      const { alice, registry, token } = ctx;
      const tx = registry.connect(alice).register("12D3KooWAlice", MIN_STAKE);
      await expect(tx)
        .to.emit(registry, "RunnerRegistered")
        .withArgs(alice.address, "12D3KooWAlice", MIN_STAKE);
      await expect(tx).to.changeTokenBalances(token, [alice, registry], [-MIN_STAKE, MIN_STAKE]);
      const r = await registry.runnerOf(alice);
      expect(r.peerId).to.equal("12D3KooWAlice");
      expect(r.stake).to.equal(MIN_STAKE);
      expect(r.registered).to.equal(true);
      expect(await registry.isRegistered(alice)).to.equal(true);
      expect(await registry.stakeOf(alice)).to.equal(MIN_STAKE);
      expect(await registry.runnerCount()).to.equal(1n);
      expect(await registry.runnerAt(0)).to.equal(alice.address);
      await expectInvariant(ctx, [alice]);
    });

    it("refuses a second registration", async function () {
      const { alice, registry } = await registered();
      await expect(registry.connect(alice).register("x", MIN_STAKE))
        .to.be.revertedWithCustomError(registry, "AlreadyRegistered")
        .withArgs(alice.address);
    });

    it("refuses an empty or too long peer id", async function () {
      const { bob, registry } = await loadFixture(fixture);
      await expect(registry.connect(bob).register("", MIN_STAKE))
        .to.be.revertedWithCustomError(registry, "InvalidPeerId")
        .withArgs(0n);
      await expect(registry.connect(bob).register("p".repeat(129), MIN_STAKE))
        .to.be.revertedWithCustomError(registry, "InvalidPeerId")
        .withArgs(129n);
      await expect(registry.connect(bob).register("p".repeat(128), MIN_STAKE)).to.emit(registry, "RunnerRegistered");
    });

    it("refuses a stake below the minimum", async function () {
      const { bob, registry } = await loadFixture(fixture);
      await expect(registry.connect(bob).register("12D3KooWBob", MIN_STAKE - 1n))
        .to.be.revertedWithCustomError(registry, "StakeBelowMinimum")
        .withArgs(MIN_STAKE - 1n, MIN_STAKE);
    });
  });

  describe("setPeerId and addStake", function () {
    it("changes the peer id", async function () {
      const { alice, registry } = await registered();
      await expect(registry.connect(alice).setPeerId("12D3KooWNew"))
        .to.emit(registry, "PeerIdChanged")
        .withArgs(alice.address, "12D3KooWNew");
      expect((await registry.runnerOf(alice)).peerId).to.equal("12D3KooWNew");
    });

    it("refuses a peer id change from a stranger or to an invalid id", async function () {
      const { alice, bob, registry } = await registered();
      await expect(registry.connect(bob).setPeerId("x"))
        .to.be.revertedWithCustomError(registry, "NotRegistered")
        .withArgs(bob.address);
      await expect(registry.connect(alice).setPeerId(""))
        .to.be.revertedWithCustomError(registry, "InvalidPeerId")
        .withArgs(0n);
    });

    it("adds stake", async function () {
      const ctx = await registered();
      const { alice, registry, token } = ctx;
      const tx = registry.connect(alice).addStake(5n);
      await expect(tx)
        .to.emit(registry, "StakeAdded")
        .withArgs(alice.address, 5n, MIN_STAKE * 2n + 5n);
      await expect(tx).to.changeTokenBalances(token, [alice, registry], [-5n, 5n]);
      await expectInvariant(ctx, [alice]);
    });

    it("refuses adding zero or stake for a stranger", async function () {
      const { alice, bob, registry } = await registered();
      await expect(registry.connect(alice).addStake(0n)).to.be.revertedWithCustomError(registry, "ZeroAmount");
      await expect(registry.connect(bob).addStake(1n))
        .to.be.revertedWithCustomError(registry, "NotRegistered")
        .withArgs(bob.address);
    });
  });

  describe("requestUnstake and withdraw", function () {
    it("moves stake to pending, then withdraws it after the cooldown", async function () {
      const ctx = await registered();
      const { alice, registry, token } = ctx;
      const request = await registry.connect(alice).requestUnstake(MIN_STAKE);
      const unlockAt = BigInt((await request.getBlock()).timestamp) + COOLDOWN;
      await expect(request).to.emit(registry, "UnstakeRequested").withArgs(alice.address, MIN_STAKE, unlockAt);
      let r = await registry.runnerOf(alice);
      expect([r.stake, r.pendingUnstake, r.unlockAt]).to.deep.equal([MIN_STAKE, MIN_STAKE, unlockAt]);
      await expectInvariant(ctx, [alice]);

      await expect(registry.connect(alice).withdraw())
        .to.be.revertedWithCustomError(registry, "StakeLocked")
        .withArgs(alice.address, unlockAt);
      await time.increaseTo(unlockAt);
      const tx = registry.connect(alice).withdraw();
      await expect(tx)
        .to.emit(registry, "StakeWithdrawn")
        .withArgs(alice.address, MIN_STAKE);
      await expect(tx).to.changeTokenBalances(token, [alice, registry], [MIN_STAKE, -MIN_STAKE]);
      r = await registry.runnerOf(alice);
      expect(r.pendingUnstake).to.equal(0n);
      await expectInvariant(ctx, [alice]);
    });

    it("a later request restarts the cooldown for the whole pending amount", async function () {
      const { alice, registry } = await registered();
      await registry.connect(alice).requestUnstake(1n);
      await time.increase(COOLDOWN - 10n);
      await registry.connect(alice).requestUnstake(2n);
      const r = await registry.runnerOf(alice);
      expect(r.pendingUnstake).to.equal(3n);
      expect(r.unlockAt).to.equal(BigInt(await time.latest()) + COOLDOWN);
    });

    it("refuses zero, more than the stake, and strangers", async function () {
      const { alice, bob, registry } = await registered();
      await expect(registry.connect(alice).requestUnstake(0n)).to.be.revertedWithCustomError(registry, "ZeroAmount");
      await expect(registry.connect(alice).requestUnstake(MIN_STAKE * 2n + 1n))
        .to.be.revertedWithCustomError(registry, "InsufficientStake")
        .withArgs(alice.address, MIN_STAKE * 2n + 1n, MIN_STAKE * 2n);
      await expect(registry.connect(bob).requestUnstake(1n))
        .to.be.revertedWithCustomError(registry, "NotRegistered")
        .withArgs(bob.address);
    });

    it("refuses a withdraw with nothing pending", async function () {
      const { alice, registry } = await registered();
      await expect(registry.connect(alice).withdraw())
        .to.be.revertedWithCustomError(registry, "NothingToWithdraw")
        .withArgs(alice.address);
    });
  });

  describe("slash", function () {
    it("takes bps of stake + pending, active stake first, and pays the manager", async function () {
      const ctx = await registered();
      const { owner, alice, manager, registry, token } = ctx;
      await registry.connect(owner).setSessionManager(manager.address);
      // stake 200, pending 0 -> 50% = 100 from stake
      const tx = registry.connect(manager).slash(alice.address, 5000);
      await expect(tx)
        .to.emit(registry, "RunnerSlashed")
        .withArgs(alice.address, MIN_STAKE);
      await expect(tx).to.changeTokenBalances(token, [registry, manager], [-MIN_STAKE, MIN_STAKE]);
      // stake 100 -> request 80: stake 20, pending 80; 50% of 100 = 50: 20 from stake, 30 from pending (50 left)
      await registry.connect(alice).requestUnstake((MIN_STAKE * 4n) / 5n);
      await registry.connect(manager).slash(alice.address, 5000);
      const r = await registry.runnerOf(alice);
      expect(r.stake).to.equal(0n);
      expect(r.pendingUnstake).to.equal(MIN_STAKE / 2n); // 80 - 30
      await expectInvariant(ctx, [alice]);
    });

    it("takes everything at 10_000 bps and refuses more", async function () {
      const { owner, alice, manager, registry } = await registered();
      await registry.connect(owner).setSessionManager(manager.address);
      await registry.connect(alice).requestUnstake(1n);
      await expect(registry.connect(manager).slash(alice.address, 10_001))
        .to.be.revertedWithCustomError(registry, "InvalidBps")
        .withArgs(10_001);
      await registry.connect(manager).slash(alice.address, 10_000);
      const r = await registry.runnerOf(alice);
      expect(r.stake + r.pendingUnstake).to.equal(0n);
    });

    it("only the session manager may slash", async function () {
      const { owner, alice, stranger, manager, registry } = await registered();
      await expect(registry.connect(stranger).slash(alice.address, 1))
        .to.be.revertedWithCustomError(registry, "NotSessionManager")
        .withArgs(stranger.address);
      await registry.connect(owner).setSessionManager(manager.address);
      await expect(registry.connect(stranger).slash(alice.address, 1))
        .to.be.revertedWithCustomError(registry, "NotSessionManager")
        .withArgs(stranger.address);
    });
  });

  describe("views", function () {
    it("runnerAt refuses an index past the end; runnerOf of a stranger is empty", async function () {
      const { bob, registry } = await registered();
      await expect(registry.runnerAt(1))
        .to.be.revertedWithCustomError(registry, "IndexOutOfRange")
        .withArgs(1n, 1n);
      const r = await registry.runnerOf(bob);
      expect(r.registered).to.equal(false);
      expect(await registry.isRegistered(bob)).to.equal(false);
    });
  });
});
