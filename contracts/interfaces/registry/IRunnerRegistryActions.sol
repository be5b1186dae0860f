// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title State-changing functions of the RunnerRegistry
interface IRunnerRegistryActions {
    /// @notice Sets the only contract allowed to slash. Owner only, once.
    /// @param manager The SessionManager address.
    function setSessionManager(address manager) external;

    /// @notice Registers the caller as a runner and pulls `amount` of stake (needs an ERC-20 allowance).
    /// @param peerId The caller's libp2p peer id, 1..128 bytes.
    /// @param amount Initial stake, at least `minStake()`.
    function register(string calldata peerId, uint256 amount) external;

    /// @notice Changes the caller's peer id.
    /// @param peerId The new peer id, 1..128 bytes.
    function setPeerId(string calldata peerId) external;

    /// @notice Adds `amount` to the caller's active stake (needs an ERC-20 allowance).
    function addStake(uint256 amount) external;

    /// @notice Moves `amount` of active stake to pending; the whole pending amount unlocks after the cooldown,
    /// counted from this call. Pending stake stays slashable until withdrawn.
    function requestUnstake(uint256 amount) external;

    /// @notice Transfers the caller's whole pending unstake to the caller, once unlocked.
    function withdraw() external;

    /// @notice Takes `(stake + pendingUnstake) * bps / 10_000` from `runner`, active stake first, and transfers it
    /// to the session manager. Session manager only.
    /// @param runner The runner to slash.
    /// @param bps The fraction to take, in basis points (at most 10_000).
    /// @return amount The amount taken and transferred.
    function slash(address runner, uint16 bps) external returns (uint256 amount);
}
