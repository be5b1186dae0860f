const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");

describe("MockUSDFC", function () {
  async function fixture() {
    const [alice] = await ethers.getSigners();
    const token = await ethers.deployContract("MockUSDFC");
    const harness = await ethers.deployContract("MockUSDFCChainHarness");
    return { alice, token, harness };
  }

  it("has the USDFC metadata and mints nothing at construction", async function () {
    const { token } = await loadFixture(fixture);
    expect(await token.name()).to.equal("Mock USDFC");
    expect(await token.symbol()).to.equal("USDFC");
    expect(await token.decimals()).to.equal(18n);
    expect(await token.totalSupply()).to.equal(0n);
  });

  it("faucet mints up to the cap to the caller on a local chain", async function () {
    const { alice, token } = await loadFixture(fixture);
    const max = await token.FAUCET_MAX_PER_CALL();
    expect(max).to.equal(ethers.parseEther("10000"));
    await expect(token.connect(alice).faucet(max)).to.changeTokenBalance(token, alice, max);
  });

  it("faucet refuses more than the cap", async function () {
    const { alice, token } = await loadFixture(fixture);
    const max = await token.FAUCET_MAX_PER_CALL();
    await expect(token.connect(alice).faucet(max + 1n))
      .to.be.revertedWithCustomError(token, "FaucetAmountTooLarge")
      .withArgs(max + 1n, max);
  });

  it("faucet is disabled on any chain but 31337 and 1337", async function () {
    const { alice, harness } = await loadFixture(fixture);
    await harness.setChainId(314159n);
    await expect(harness.connect(alice).faucet(1n))
      .to.be.revertedWithCustomError(harness, "FaucetDisabled")
      .withArgs(314159n);
    await harness.setChainId(1337n);
    await expect(harness.connect(alice).faucet(1n)).to.changeTokenBalance(harness, alice, 1n);
  });
});
