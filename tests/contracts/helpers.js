// Shared helpers for the contract tests: deployment, EIP-712 signing, the Merkle and leader reference rules.
const { ethers } = require("hardhat");
const { time } = require("@nomicfoundation/hardhat-network-helpers");

const abi = ethers.AbiCoder.defaultAbiCoder();
const E18 = 10n ** 18n;
const Status = { None: 0n, Open: 1n, Active: 2n, Completed: 3n, Cancelled: 4n, Abandoned: 5n };

const ROUND_FIELDS = [
  { name: "sessionId", type: "uint256" },
  { name: "round", type: "uint32" },
  { name: "modelCid", type: "string" },
  { name: "updatesRoot", type: "bytes32" },
];
const ATTESTATION_TYPES = { RoundAttestation: ROUND_FIELDS };
const PROPOSAL_TYPES = { RoundProposal: ROUND_FIELDS };

const MIN_STAKE = 100n * E18;
const COOLDOWN = 3600n;

/// Token, registry and manager wired together; `runners` registered with `stake` each and approvals in place.
async function deploySystem({ tokenFactory = "MockUSDFC", runnerCount = 5, stake = 500n * E18 } = {}) {
  const signers = await ethers.getSigners();
  const [owner, creator] = signers;
  const token = await ethers.deployContract(tokenFactory);
  const registry = await ethers.deployContract("RunnerRegistry", [token, MIN_STAKE, COOLDOWN, owner.address]);
  const manager = await ethers.deployContract("SessionManager", [token, registry]);
  await registry.connect(owner).setSessionManager(manager);
  const runners = signers.slice(2, 2 + runnerCount);
  for (const account of [creator, ...runners, ...signers.slice(2 + runnerCount)]) {
    await token.connect(account).faucet(10_000n * E18);
    await token.connect(account).approve(registry, ethers.MaxUint256);
    await token.connect(account).approve(manager, ethers.MaxUint256);
  }
  for (const [i, runner] of runners.entries()) {
    await registry.connect(runner).register(`12D3KooWRunner${i}`, stake);
  }
  return { signers, owner, creator, runners, token, registry, manager };
}

function sessionParams(overrides = {}) {
  return {
    name: "mnist-demo",
    datasetCid: "bafkreidatasetcid",
    specCid: "bafkreispeccid",
    specHash: ethers.id("{\"model\":\"mlp\"}"),
    totalRounds: 3,
    minParticipants: 2,
    maxParticipants: 5,
    roundTimeout: 60,
    minStake: MIN_STAKE,
    rewardPool: 1000n * E18,
    ...overrides,
  };
}

async function domain(manager) {
  const { chainId } = await ethers.provider.getNetwork();
  return { name: "ParityP2P", version: "1", chainId, verifyingContract: await manager.getAddress() };
}

function leafOf(c) {
  return ethers.keccak256(
    abi.encode(["address", "bytes32", "uint256", "uint256"], [c.runner, c.updateDigest, c.dataSize, c.points]),
  );
}

/// Reference Merkle root (spec): pairwise keccak of packed siblings, odd last node carried up unchanged.
function merkleRoot(contributions) {
  if (contributions.length === 0) return ethers.ZeroHash;
  let level = contributions.map(leafOf);
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) {
      const pair = () => ethers.solidityPackedKeccak256(["bytes32", "bytes32"], [level[i], level[i + 1]]);
      next.push(i + 1 < level.length ? pair() : level[i]);
    }
    level = next;
  }
  return level[0];
}

/// Reference leader rule (spec): participants[(base + step) % n], base = keccak(seed, round) % n.
function leaderIndex(seed, round, step, n) {
  const base = BigInt(ethers.keccak256(abi.encode(["bytes32", "uint256"], [seed, round]))) % BigInt(n);
  return Number((base + BigInt(step)) % BigInt(n));
}

function byAddress(a, b) {
  const x = BigInt(a.address ?? a.runner);
  const y = BigInt(b.address ?? b.runner);
  return x < y ? -1 : x > y ? 1 : 0;
}

/// Contributions from `addresses` (any order), sorted ascending as the contract requires.
function contributionsFor(addresses, round, points = () => 10n) {
  return addresses
    .map((runner) => ({
      runner,
      updateDigest: ethers.id(`bafkreiupdate-${runner}-${round}`),
      dataSize: 100n,
      points: points(runner),
    }))
    .sort(byAddress);
}

async function signRound(manager, types, signer, sessionId, round, modelCid, updatesRoot) {
  return signer.signTypedData(await domain(manager), types, { sessionId, round, modelCid, updatesRoot });
}

/// Attestation signatures from `signers`, ordered by ascending signer address.
async function attest(manager, signers, sessionId, round, modelCid, updatesRoot) {
  const sorted = [...signers].sort(byAddress);
  const sign = (s) => signRound(manager, ATTESTATION_TYPES, s, sessionId, round, modelCid, updatesRoot);
  return Promise.all(sorted.map(sign));
}

/// Fixes the next block's timestamp and returns the leader (signer) and step the contract will see then.
async function leaderForNextBlock(manager, sessionId, allSigners, advanceSeconds = 1) {
  const next = BigInt(await time.latest()) + BigInt(advanceSeconds);
  await time.setNextBlockTimestamp(next);
  const s = await manager.getSession(sessionId);
  const step = (next - s.roundStartedAt) / s.params.roundTimeout;
  const address = await manager.leaderAt(sessionId, s.currentRound, step);
  const signer = allSigners.find((x) => x.address === address);
  return { signer, step, round: s.currentRound, timestamp: next };
}

/// Submits the current round as the leader in force at the next block, with every participant contributing and
/// attesting unless told otherwise. Returns the transaction and what was posted.
async function submitCurrentRound(manager, sessionId, allSigners, opts = {}) {
  const parts = await manager.participants(sessionId);
  const { signer: leader, round, step } = await leaderForNextBlock(manager, sessionId, allSigners, opts.advance ?? 1);
  const contributors = opts.contributors ?? parts;
  const contributions = contributionsFor(contributors, round, opts.points);
  const root = merkleRoot(contributions);
  const modelCid = opts.modelCid ?? `bafkreimodel-${sessionId}-${round}`;
  const attesters = (opts.attesters ?? parts).map((a) => allSigners.find((x) => x.address === a));
  const attestations = await attest(manager, attesters, sessionId, round, modelCid, root);
  const result = { round, modelCid, loss: 250_000n, accuracy: 900_000n, contributions };
  const tx = await manager.connect(leader).submitRound(sessionId, result, attestations);
  return { tx, leader, step, round, modelCid, root, contributions };
}

module.exports = {
  E18,
  Status,
  MIN_STAKE,
  COOLDOWN,
  ATTESTATION_TYPES,
  PROPOSAL_TYPES,
  deploySystem,
  sessionParams,
  domain,
  leafOf,
  merkleRoot,
  leaderIndex,
  byAddress,
  contributionsFor,
  signRound,
  attest,
  leaderForNextBlock,
  submitCurrentRound,
};
