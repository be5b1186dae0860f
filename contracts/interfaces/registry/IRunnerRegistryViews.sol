// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Runner} from "./RunnerTypes.sol";

/// @title Read-only functions of the RunnerRegistry
interface IRunnerRegistryViews {
    /// @notice The runner record of `account` (all zero and `registered == false` if never registered).
    function runnerOf(address account) external view returns (Runner memory);

    /// @notice Whether `account` registered (registration is permanent).
    function isRegistered(address account) external view returns (bool);

    /// @notice The active (not pending) stake of `account`.
    function stakeOf(address account) external view returns (uint256);

    /// @notice The minimum stake to register.
    function minStake() external view returns (uint256);

    /// @notice Seconds between `requestUnstake` and the earliest `withdraw`.
    function unstakeCooldown() external view returns (uint64);

    /// @notice The staking token.
    function token() external view returns (IERC20);

    /// @notice The only address allowed to slash (zero until set).
    function sessionManager() external view returns (address);

    /// @notice How many runners ever registered.
    function runnerCount() external view returns (uint256);

    /// @notice The runner registered in position `index` (registration order).
    function runnerAt(uint256 index) external view returns (address);
}
