// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Round leader election with timed failover
/// @notice Mirrors parity_p2p/consensus/election.py: base = keccak256(abi.encode(seed, uint256(round))) mod n,
/// the leader at failover step k is participants[(base + k) mod n], and k = (now - roundStartedAt) / roundTimeout.
library LeaderElection {
    /// @notice Index into the participant list of the leader of `round` at failover `step`.
    /// @param seed The session's election seed.
    /// @param round The round number.
    /// @param step The failover step (0 = first choice).
    /// @param n The participant count (nonzero).
    function leaderIndex(bytes32 seed, uint32 round, uint256 step, uint256 n) internal pure returns (uint256) {
        uint256 base = uint256(keccak256(abi.encode(seed, uint256(round)))) % n;
        // Reducing step first keeps any caller-supplied step (a view argument) from overflowing; same result mod n.
        return (base + (step % n)) % n;
    }

    /// @notice The failover step in force at `nowTs` for a round that opened at `startedAt`.
    function stepAt(uint256 nowTs, uint256 startedAt, uint256 roundTimeout) internal pure returns (uint256) {
        return (nowTs - startedAt) / roundTimeout;
    }
}
