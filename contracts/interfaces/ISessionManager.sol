// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISessionManagerActions} from "./session/ISessionManagerActions.sol";
import {ISessionManagerErrors} from "./session/ISessionManagerErrors.sol";
import {ISessionManagerEvents} from "./session/ISessionManagerEvents.sol";
import {ISessionManagerViews} from "./session/ISessionManagerViews.sol";

/// @title SessionManager: federated-learning sessions, rounds, rewards and equivocation slashing
/// @notice Creators escrow a reward pool; staked runners join; each round the elected leader (with timed failover)
/// posts the model CID and contributions with a quorum of participant attestations; rewards are pulled with claim().
interface ISessionManager is
    ISessionManagerErrors,
    ISessionManagerEvents,
    ISessionManagerActions,
    ISessionManagerViews
{}
