// Measures gas from real transactions on the in-process Hardhat network and writes docs/gas.md.
//   npx hardhat run scripts/gas_report.js
// Every state-changing external function is sent once in a typical situation; submitRound is measured for
// 2, 4, 8, 16 and 32 participants (all contribute, all attest) to show that a round grows only by a fixed
// per-participant cost (one contribution + one attestation).
const fs = require("fs");
const path = require("path");
const hre = require("hardhat");
const { ethers } = hre;
const { time, setBalance } = require("@nomicfoundation/hardhat-network-helpers");
const {
  E18,
  MIN_STAKE,
  COOLDOWN,
  PROPOSAL_TYPES,
  sessionParams,
  contributionsFor,
  merkleRoot,
  attest,
  signRound,
} = require("../tests/contracts/helpers");

const OUT = path.join(__dirname, "..", "docs", "gas.md");
const SIZES = [2, 4, 8, 16, 32];
const CODE_SIZE_LIMIT = 24_576; // EIP-170

async function gasOf(txPromise) {
  const receipt = await (await txPromise).wait();
  return receipt.gasUsed;
}

async function deployed(name, args) {
  const contract = await ethers.deployContract(name, args);
  const receipt = await contract.deploymentTransaction().wait();
  return { contract, gas: receipt.gasUsed };
}

/// Funded, registered runner wallets with deterministic keys (Hardhat has only 20 accounts).
async function makeRunners(count, tag, token, registry, manager) {
  const wallets = [];
  for (let i = 0; i < count; i++) {
    const w = new ethers.Wallet(ethers.id(`parity-gas-${tag}-${i}`), ethers.provider);
    await setBalance(w.address, 10n ** 20n);
    await token.connect(w).faucet(1000n * E18);
    await token.connect(w).approve(registry, ethers.MaxUint256);
    await token.connect(w).approve(manager, ethers.MaxUint256);
    await registry.connect(w).register(`12D3KooWGas${tag}${i}`, MIN_STAKE);
    wallets.push(w);
  }
  return wallets;
}

/// Sends the current round of `id` from its step-0 leader with every participant contributing and attesting.
async function submitAll(manager, id, wallets) {
  const s = await manager.getSession(id);
  const round = s.currentRound;
  const next = BigInt(await time.latest()) + 1n;
  await time.setNextBlockTimestamp(next);
  const step = (next - s.roundStartedAt) / s.params.roundTimeout;
  const leaderAddr = await manager.leaderAt(id, round, step);
  const leader = wallets.find((w) => w.address === leaderAddr);
  const contributions = contributionsFor(wallets.map((w) => w.address), round, () => 10n);
  const modelCid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"; // a CIDv1-sized string
  const attestations = await attest(manager, wallets, id, round, modelCid, merkleRoot(contributions));
  const result = { round, modelCid, loss: 123_456n, accuracy: 987_654n, contributions };
  return gasOf(manager.connect(leader).submitRound(id, result, attestations));
}

function table(header, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

const fmt = (n) => Number(n).toLocaleString("en-US");

async function main() {
  const [owner, creator, alice, bob, carol, reporter] = await ethers.getSigners();
  const rows = [];
  const record = (contract, fn, gas, note = "") => rows.push([contract, `\`${fn}\``, fmt(gas), note]);

  // Deployment
  const { contract: token, gas: tokenGas } = await deployed("MockUSDFC", []);
  const { contract: registry, gas: registryGas } = await deployed("RunnerRegistry", [
    token,
    MIN_STAKE,
    COOLDOWN,
    owner.address,
  ]);
  const { contract: manager, gas: managerGas } = await deployed("SessionManager", [token, registry]);
  record("MockUSDFC", "constructor", tokenGas);
  record("RunnerRegistry", "constructor", registryGas);
  record("SessionManager", "constructor", managerGas);

  // Token and registry
  record("MockUSDFC", "faucet", await gasOf(token.connect(creator).faucet(10_000n * E18)), "first mint to the account");
  for (const a of [alice, bob, carol]) {
    await token.connect(a).faucet(10_000n * E18);
    await token.connect(a).approve(registry, ethers.MaxUint256);
  }
  await token.connect(creator).approve(manager, ethers.MaxUint256);
  record("RunnerRegistry", "setSessionManager", await gasOf(registry.setSessionManager(manager)));
  const peerId = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"; // a real-length (52-byte) peer id
  const registerGas = await gasOf(registry.connect(alice).register(peerId, MIN_STAKE));
  record("RunnerRegistry", "register", registerGas, "52-byte peer id");
  await registry.connect(bob).register("12D3KooWBob", MIN_STAKE * 2n);
  await registry.connect(carol).register("12D3KooWCarol", MIN_STAKE * 2n);
  record("RunnerRegistry", "setPeerId", await gasOf(registry.connect(alice).setPeerId("12D3KooWAliceNewPeerId")));
  record("RunnerRegistry", "addStake", await gasOf(registry.connect(alice).addStake(MIN_STAKE)));
  record("RunnerRegistry", "requestUnstake", await gasOf(registry.connect(alice).requestUnstake(MIN_STAKE / 2n)));
  await time.increase(COOLDOWN);
  record("RunnerRegistry", "withdraw", await gasOf(registry.connect(alice).withdraw()));
  // slash is callable only by the session manager: measure it directly on a registry whose manager is an EOA.
  const { contract: bare } = await deployed("RunnerRegistry", [token, MIN_STAKE, COOLDOWN, owner.address]);
  await token.connect(alice).approve(bare, ethers.MaxUint256);
  await bare.connect(alice).register("12D3KooWAlice", MIN_STAKE);
  await bare.setSessionManager(owner.address);
  const slashGas = await gasOf(bare.connect(owner).slash(alice.address, 5000));
  record("RunnerRegistry", "slash", slashGas, "called by the manager");

  // Session lifecycle with three runners
  const params = sessionParams({ rewardPool: 1000n * E18, minParticipants: 3, maxParticipants: 3, totalRounds: 2 });
  const createGas = await gasOf(manager.connect(creator).createSession(params));
  record("SessionManager", "createSession", createGas, "with escrow transfer");
  record("SessionManager", "joinSession", await gasOf(manager.connect(alice).joinSession(1)));
  await manager.connect(bob).joinSession(1);
  await manager.connect(carol).joinSession(1);
  record("SessionManager", "startSession", await gasOf(manager.connect(creator).startSession(1)), "3 participants");
  const three = [alice, bob, carol];
  record("SessionManager", "submitRound", await submitAll(manager, 1, three), "3 participants, round 1 of 2");
  record("SessionManager", "submitRound", await submitAll(manager, 1, three), "3 participants, last round (payout)");
  const a = { modelCid: "bafkreia", updatesRoot: ethers.id("a") };
  const b = { modelCid: "bafkreib", updatesRoot: ethers.id("a") };
  const sigA = await signRound(manager, PROPOSAL_TYPES, bob, 1n, 1, a.modelCid, a.updatesRoot);
  const sigB = await signRound(manager, PROPOSAL_TYPES, bob, 1n, 1, b.modelCid, b.updatesRoot);
  const reportGas = await gasOf(manager.connect(reporter).reportEquivocation(1, 1, a, sigA, b, sigB));
  record("SessionManager", "reportEquivocation", reportGas, "session completed: 80 % to the creator");
  record("SessionManager", "claim", await gasOf(manager.connect(alice).claim()));
  await manager.connect(creator).createSession(params);
  record("SessionManager", "cancelSession", await gasOf(manager.connect(creator).cancelSession(2)), "refund transfer");
  await manager.connect(creator).createSession(params);
  for (const r of three) await manager.connect(r).joinSession(3);
  await manager.connect(creator).startSession(3);
  await submitAll(manager, 3, three);
  await time.increase(60 * 4);
  const abandonGas = await gasOf(manager.connect(reporter).abandonSession(3));
  record("SessionManager", "abandonSession", abandonGas, "1 of 2 rounds done, 3 participants");

  // submitRound scaling
  const scaling = [];
  for (const n of SIZES) {
    const wallets = await makeRunners(n, `n${n}`, token, registry, manager);
    await token.connect(creator).faucet(1000n * E18);
    const p = sessionParams({ rewardPool: 100n * E18, minParticipants: n, maxParticipants: n, totalRounds: 3 });
    await manager.connect(creator).createSession(p);
    const id = await manager.sessionCount();
    for (const w of wallets) await manager.connect(w).joinSession(id);
    await manager.connect(creator).startSession(id);
    const first = await submitAll(manager, id, wallets);
    const steady = await submitAll(manager, id, wallets);
    const last = await submitAll(manager, id, wallets);
    scaling.push({ n, first, steady, last });
  }
  const scaleRows = scaling.map((s, i) => {
    const prev = scaling[i - 1];
    const inc = (key) => (prev ? fmt((s[key] - prev[key]) / BigInt(s.n - prev.n)) : "–");
    return [s.n, fmt(s.first), inc("first"), fmt(s.steady), inc("steady"), fmt(s.last), inc("last")];
  });

  // Code size
  const sizeRows = [];
  for (const [name, c] of [["MockUSDFC", token], ["RunnerRegistry", registry], ["SessionManager", manager]]) {
    const size = (ethers.dataLength(await ethers.provider.getCode(await c.getAddress())));
    sizeRows.push([name, fmt(size), `${((100 * size) / CODE_SIZE_LIMIT).toFixed(1)} %`]);
  }

  const settings = hre.config.solidity.compilers[0];
  const opt = settings.settings.optimizer;
  const optimizer = opt.enabled ? `on (${opt.runs} runs)` : "off";
  const perN = "+ per participant";
  const md = `# Gas report

Generated by \`npx hardhat run scripts/gas_report.js\` (do not edit by hand): real transactions on the in-process
Hardhat network, solc ${settings.version}, optimizer ${optimizer}, evm ${settings.settings.evmVersion}.
Figures are \`gasUsed\` from the receipts (21,000 intrinsic gas and calldata included).

## Deployed code size (EIP-170 limit ${fmt(CODE_SIZE_LIMIT)} bytes)

${table(["contract", "bytes", "of limit"], sizeRows)}

## Every state-changing function

${table(["contract", "function", "gas", "situation"], rows)}

Views (\`getSession\`, \`leaderAt\`, \`quorum\`, ...) cost no gas off-chain and are not listed.

## submitRound by participant count

Every participant contributes and attests (the quorum is at most n, so this is the most expensive round). *First* is
round 1 (points and round counters go from zero to nonzero: 20k-gas stores), *steady* is a middle round, *last*
also credits the pool to every participant. The increment column is (gas(n) - gas(previous n)) / (n - previous n):
the cost of one more participant = one contribution (calldata, Merkle leaf, points and reputation writes) + one
attestation (calldata, ecrecover, membership read) (+ one reward credit in the last round). It stays flat, so a
round grows only linearly with what it carries.

${table(["n", "first", perN, "steady", perN, "last (payout)", perN], scaleRows)}
`;
  fs.writeFileSync(OUT, md);
  console.log(md);
  console.log(`gas_report: wrote ${path.relative(process.cwd(), OUT)}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
