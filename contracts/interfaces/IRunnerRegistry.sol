// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IRunnerRegistryActions} from "./registry/IRunnerRegistryActions.sol";
import {IRunnerRegistryErrors} from "./registry/IRunnerRegistryErrors.sol";
import {IRunnerRegistryEvents} from "./registry/IRunnerRegistryEvents.sol";
import {IRunnerRegistryViews} from "./registry/IRunnerRegistryViews.sol";

/// @title RunnerRegistry: runners, their peer ids and their slashable stakes
/// @notice Runners register with a libp2p peer id and a stake in the session token. Stake leaves through a
/// cooldown (`requestUnstake`, then `withdraw`) and stays slashable by the SessionManager until withdrawn.
interface IRunnerRegistry is
    IRunnerRegistryErrors,
    IRunnerRegistryEvents,
    IRunnerRegistryActions,
    IRunnerRegistryViews
{}
