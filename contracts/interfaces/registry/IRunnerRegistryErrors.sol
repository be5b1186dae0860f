// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Errors raised by the RunnerRegistry
interface IRunnerRegistryErrors {
    /// @notice The session manager can be set only once.
    error SessionManagerAlreadySet();
    /// @notice The zero address was given where a contract address is required.
    error ZeroAddress();
    /// @notice Only the session manager may call this function.
    error NotSessionManager(address caller);
    /// @notice The peer id is empty or longer than 128 bytes.
    error InvalidPeerId(uint256 length);
    /// @notice The account is already registered.
    error AlreadyRegistered(address runner);
    /// @notice The account is not registered.
    error NotRegistered(address runner);
    /// @notice The registration stake is below the registry's minimum.
    error StakeBelowMinimum(uint256 amount, uint256 minStake);
    /// @notice A zero amount was given.
    error ZeroAmount();
    /// @notice The runner asked to unstake more than its active stake.
    error InsufficientStake(address runner, uint256 requested, uint256 available);
    /// @notice The runner has no pending unstake to withdraw.
    error NothingToWithdraw(address runner);
    /// @notice The pending unstake is still in its cooldown.
    error StakeLocked(address runner, uint64 unlockAt);
    /// @notice A slash fraction above 10_000 basis points.
    error InvalidBps(uint16 bps);
    /// @notice `runnerAt` was asked for an index past the end.
    error IndexOutOfRange(uint256 index, uint256 count);
}
