// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Events emitted by the RunnerRegistry
interface IRunnerRegistryEvents {
    /// @notice The owner set the session manager (once).
    event SessionManagerSet(address indexed manager);
    /// @notice A runner registered with its peer id and initial stake.
    event RunnerRegistered(address indexed runner, string peerId, uint256 stake);
    /// @notice A runner changed its peer id.
    event PeerIdChanged(address indexed runner, string peerId);
    /// @notice A runner added stake; `newStake` is its active stake afterwards.
    event StakeAdded(address indexed runner, uint256 amount, uint256 newStake);
    /// @notice A runner moved `amount` of active stake to pending; all pending unlocks at `unlockAt`.
    event UnstakeRequested(address indexed runner, uint256 amount, uint64 unlockAt);
    /// @notice A runner withdrew its whole pending unstake.
    event StakeWithdrawn(address indexed runner, uint256 amount);
    /// @notice The session manager slashed a runner; `amount` went to the session manager.
    event RunnerSlashed(address indexed runner, uint256 amount);
}
