#!/usr/bin/env node
// Writes parity_p2p/chain/abi/<Contract>.json ({"contractName", "abi", "bytecode"}) from the Hardhat artifacts, so
// Python never needs node at run time. Run after `npx hardhat compile`.
//   node scripts/export_abi.js          write the files
//   node scripts/export_abi.js --check  write nothing; exit 1 naming each file that is missing or stale
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const OUT_DIR = path.join(ROOT, "parity_p2p", "chain", "abi");
const CONTRACTS = ["MockUSDFC", "RunnerRegistry", "SessionManager"];

function render(name) {
  const artifactPath = path.join(ROOT, "artifacts", "contracts", `${name}.sol`, `${name}.json`);
  if (!fs.existsSync(artifactPath)) {
    const where = path.relative(ROOT, artifactPath);
    throw new Error(`no artifact for ${name} at ${where}: run \`npx hardhat compile\` first`);
  }
  const artifact = JSON.parse(fs.readFileSync(artifactPath, "utf8"));
  const exported = { contractName: artifact.contractName, abi: artifact.abi, bytecode: artifact.bytecode };
  return JSON.stringify(exported, null, 2) + "\n";
}

function main(argv) {
  const check = argv.includes("--check");
  const unknown = argv.filter((a) => a !== "--check");
  if (unknown.length > 0) {
    console.error(`export_abi: unknown argument(s) ${unknown.join(" ")}; usage: node scripts/export_abi.js [--check]`);
    return 2;
  }
  const stale = [];
  for (const name of CONTRACTS) {
    const target = path.join(OUT_DIR, `${name}.json`);
    const wanted = render(name);
    const current = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : null;
    if (current === wanted) continue;
    if (check) {
      stale.push(`${path.relative(ROOT, target)} (${current === null ? "missing" : "stale"})`);
    } else {
      fs.mkdirSync(OUT_DIR, { recursive: true });
      fs.writeFileSync(target, wanted);
      console.log(`export_abi: wrote ${path.relative(ROOT, target)}`);
    }
  }
  if (stale.length > 0) {
    for (const s of stale) console.error(`export_abi: ${s}: run \`npx hardhat compile && node scripts/export_abi.js\``);
    return 1;
  }
  if (check) console.log(`export_abi: ${CONTRACTS.length} ABI files up to date`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  console.error(`export_abi: ${err.message}`);
  process.exitCode = 1;
}
