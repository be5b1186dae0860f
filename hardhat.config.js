// Hardhat 2 configuration. This machine has no native solc and Hardhat's compiler download fails offline, so the
// solc-build subtask is overridden to use the solcjs that ships in the npm `solc` package (same version as below).
require("@nomicfoundation/hardhat-chai-matchers");
require("@nomicfoundation/hardhat-ethers");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

const SOLC_VERSION = "0.8.28";

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) {
    return runSuper();
  }
  const solcjsVersion = require("solc/package.json").version;
  if (solcjsVersion !== SOLC_VERSION) {
    throw new Error(`npm solc is ${solcjsVersion}, hardhat.config.js wants ${SOLC_VERSION}: run npm ci`);
  }
  const solc = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion: solc.version(),
  };
});

module.exports = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      // FEVM (where USDFC lives) supports Cancun only piecewise: keep this a setting, check the target before deploying.
      evmVersion: process.env.PARITY_EVM_VERSION || "cancun",
    },
  },
  paths: {
    sources: "./contracts",
    tests: "./tests/contracts",
    cache: "./cache",
    artifacts: "./artifacts",
  },
  mocha: { timeout: 120000 },
};
