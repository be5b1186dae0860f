// A seeded random walk over every action from several accounts; the money invariants are checked after each step.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { E18, Status, MIN_STAKE, PROPOSAL_TYPES, deploySystem, sessionParams, signRound, submitCurrentRound } = require(
  "./helpers",
);

const SEED = 0x5eed2026;
const STEPS = 240;

/// mulberry32: a tiny deterministic PRNG, so a failing walk can be replayed from SEED.
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    subset: (xs, min) => {
      const shuffled = [...xs].sort(() => next() - 0.5);
      return shuffled.slice(0, min + Math.floor(next() * (xs.length - min + 1)));
    },
  };
}

describe("Money invariants under a random sequence of operations", function () {
  async function fixture() {
    const ctx = await deploySystem({ runnerCount: 0 });
    const s = ctx.signers;
    return { ...ctx, creators: [s[1], s[2]], runners: s.slice(3, 11), reporters: [s[11], s[12]] };
  }

  async function checkInvariants({ signers, token, registry, manager }) {
    let staked = 0n;
    const count = await registry.runnerCount();
    for (let i = 0n; i < count; i++) {
      const r = await registry.runnerOf(await registry.runnerAt(i));
      staked += r.stake + r.pendingUnstake;
    }
    expect(await token.balanceOf(registry), "registry balance == stakes + pending").to.equal(staked);

    let escrowed = 0n;
    const sessions = await manager.sessionCount();
    for (let id = 1n; id <= sessions; id++) {
      const v = await manager.getSession(id);
      if (v.status === Status.Open || v.status === Status.Active) escrowed += v.params.rewardPool;
    }
    let owed = 0n;
    for (const a of signers) owed += await manager.owed(a);
    expect(await token.balanceOf(manager), "manager balance == open/active pools + owed").to.equal(escrowed + owed);
  }

  it(`holds after each of ${STEPS} seeded random operations`, async function () {
    const ctx = await loadFixture(fixture);
    const { signers, creators, runners, reporters, registry, manager } = ctx;
    const rng = prng(SEED);
    const byAddr = (a) => signers.find((x) => x.address === a);
    const slashedKeys = new Set();
    const counts = {};

    const now = async () => BigInt(await time.latest());
    const sessionsWith = async (statuses) => {
      const out = [];
      const n = await manager.sessionCount();
      for (let id = 1n; id <= n; id++) {
        const v = await manager.getSession(id);
        if (statuses.includes(v.status)) out.push({ id, v });
      }
      return out;
    };

    // Each action returns false when nothing fits the current state (then another kind is drawn).
    const actions = {
      register: async () => {
        const free = [];
        for (const r of runners) if (!(await registry.isRegistered(r))) free.push(r);
        if (free.length === 0) return false;
        const amount = MIN_STAKE * BigInt(rng.int(1, 3));
        await registry.connect(rng.pick(free)).register(`12D3KooW${rng.int(0, 1e6)}`, amount);
        return true;
      },
      addStake: async () => {
        const regs = [];
        for (const r of runners) if (await registry.isRegistered(r)) regs.push(r);
        if (regs.length === 0) return false;
        await registry.connect(rng.pick(regs)).addStake(BigInt(rng.int(1, 200)) * E18);
        return true;
      },
      requestUnstake: async () => {
        const staked = [];
        for (const r of runners) if ((await registry.stakeOf(r)) > 0n) staked.push(r);
        if (staked.length === 0) return false;
        const r = rng.pick(staked);
        const stake = await registry.stakeOf(r);
        await registry.connect(r).requestUnstake((stake * BigInt(rng.int(1, 100))) / 100n || stake);
        return true;
      },
      withdraw: async () => {
        const t = await now();
        const ready = [];
        for (const r of runners) {
          const info = await registry.runnerOf(r);
          if (info.pendingUnstake > 0n && t + 1n >= info.unlockAt) ready.push(r);
        }
        if (ready.length === 0) return false;
        await registry.connect(rng.pick(ready)).withdraw();
        return true;
      },
      create: async () => {
        const open = await sessionsWith([Status.Open, Status.Active]);
        if (open.length >= 6) return false;
        const min = rng.int(1, 3);
        const params = sessionParams({
          totalRounds: rng.int(1, 3),
          minParticipants: min,
          maxParticipants: rng.int(min, 5),
          roundTimeout: rng.int(20, 90),
          rewardPool: BigInt(rng.int(0, 1000)) * E18 + BigInt(rng.int(0, 999)),
        });
        await manager.connect(rng.pick(creators)).createSession(params);
        return true;
      },
      join: async () => {
        const options = [];
        for (const { id, v } of await sessionsWith([Status.Open])) {
          if (v.participantCount >= v.params.maxParticipants) continue;
          for (const r of runners) {
            if ((await registry.stakeOf(r)) >= v.params.minStake && !(await manager.isParticipant(id, r))) {
              options.push([id, r]);
            }
          }
        }
        if (options.length === 0) return false;
        const [id, r] = rng.pick(options);
        await manager.connect(r).joinSession(id);
        return true;
      },
      start: async () => {
        const open = await sessionsWith([Status.Open]);
        const ready = open.filter(({ v }) => v.participantCount >= v.params.minParticipants);
        if (ready.length === 0) return false;
        const { id, v } = rng.pick(ready);
        await manager.connect(byAddr(v.creator)).startSession(id);
        return true;
      },
      cancel: async () => {
        const open = await sessionsWith([Status.Open]);
        if (open.length === 0 || rng.next() < 0.6) return false; // rarer, so sessions get to run
        const { id, v } = rng.pick(open);
        await manager.connect(byAddr(v.creator)).cancelSession(id);
        return true;
      },
      submitRound: async () => {
        const t = (await now()) + 1n;
        const live = (await sessionsWith([Status.Active])).filter(
          ({ v }) => t < v.roundStartedAt + v.params.roundTimeout * (v.participantCount + 1n),
        );
        if (live.length === 0) return false;
        const { id, v } = rng.pick(live);
        const parts = await manager.participants(id);
        const q = Number(await manager.quorum(id));
        await submitCurrentRound(manager, id, signers, {
          contributors: rng.subset(parts, Number(v.params.minParticipants)),
          attesters: rng.subset(parts, q),
          points: () => BigInt(rng.int(0, 20)),
        });
        return true;
      },
      abandon: async () => {
        const t = (await now()) + 1n;
        const late = (await sessionsWith([Status.Active])).filter(
          ({ v }) => t >= v.roundStartedAt + v.params.roundTimeout * (v.participantCount + 1n),
        );
        if (late.length === 0) return false;
        await manager.connect(rng.pick(reporters)).abandonSession(rng.pick(late).id);
        return true;
      },
      report: async () => {
        const started = await sessionsWith([Status.Active, Status.Completed, Status.Abandoned]);
        if (started.length === 0) return false;
        const { id, v } = rng.pick(started);
        const round = rng.int(1, Number(v.params.totalRounds));
        const cheat = byAddr(rng.pick(await manager.participants(id)));
        const key = `${id}/${round}/${cheat.address}`;
        if (slashedKeys.has(key)) return false;
        const a = { modelCid: `bafkreia${rng.int(0, 1e6)}`, updatesRoot: ethers.id(`a${rng.int(0, 1e6)}`) };
        const b = { modelCid: a.modelCid, updatesRoot: ethers.id(`b${rng.int(0, 1e6)}`) };
        const sigA = await signRound(manager, PROPOSAL_TYPES, cheat, id, round, a.modelCid, a.updatesRoot);
        const sigB = await signRound(manager, PROPOSAL_TYPES, cheat, id, round, b.modelCid, b.updatesRoot);
        await manager.connect(rng.pick(reporters)).reportEquivocation(id, round, a, sigA, b, sigB);
        slashedKeys.add(key);
        return true;
      },
      claim: async () => {
        const owed = [];
        for (const a of signers) if ((await manager.owed(a)) > 0n) owed.push(a);
        if (owed.length === 0) return false;
        await manager.connect(rng.pick(owed)).claim();
        return true;
      },
      wait: async () => {
        await time.increase(rng.next() < 0.3 ? 3600 : rng.int(5, 300)); // sometimes past the unstake cooldown
        return true;
      },
    };

    const kinds = Object.keys(actions);
    // Rounds need many steps to finish a session; draw them (and what leads to them) more often.
    const weights = { submitRound: 6, join: 3, start: 2, create: 2 };
    const draws = kinds.flatMap((k) => Array(weights[k] ?? 1).fill(k));
    let done = 0;
    while (done < STEPS) {
      const kind = rng.pick(draws);
      if (!(await actions[kind]())) continue;
      counts[kind] = (counts[kind] ?? 0) + 1;
      done += 1;
      await checkInvariants(ctx);
    }
    if (process.env.PARITY_WALK_VERBOSE) console.log(counts);
    // The walk must have exercised every action, or it proves less than it claims.
    for (const kind of kinds) expect(counts[kind] ?? 0, `${kind} never ran`).to.be.greaterThan(0);
    const finished = await sessionsWith([Status.Completed]);
    expect(finished.length, "no session completed").to.be.greaterThan(0);
  });
});
