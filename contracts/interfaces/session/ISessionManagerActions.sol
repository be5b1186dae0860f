// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Proposal, RoundResult, SessionParams} from "./SessionTypes.sol";

/// @title State-changing functions of the SessionManager
interface ISessionManagerActions {
    /// @notice Creates an Open session and escrows `p.rewardPool` from the caller (needs an ERC-20 allowance).
    /// @return sessionId The new session's id (ids start at 1).
    function createSession(SessionParams calldata p) external returns (uint256 sessionId);

    /// @notice Joins an Open session. The caller must be registered with active stake >= the session's minStake.
    function joinSession(uint256 sessionId) external;

    /// @notice Starts an Open session (creator only, enough participants): fixes the election seed, opens round 1.
    function startSession(uint256 sessionId) external;

    /// @notice Cancels an Open session (creator only) and refunds the pool to the creator at once.
    function cancelSession(uint256 sessionId) external;

    /// @notice Posts the current round. Caller must be the leader of the current failover step. Contributions in
    /// ascending runner order, at least minParticipants; attestations are EIP-712 `RoundAttestation` signatures over
    /// (sessionId, round, modelCid, updatesRoot computed on-chain), by participants in ascending order, at least
    /// `quorum(sessionId)`. The last round completes the session and credits the pool by points.
    function submitRound(uint256 sessionId, RoundResult calldata r, bytes[] calldata attestations) external;

    /// @notice Ends an Active session whose current round nobody posted: callable by anyone once
    /// `roundStartedAt + roundTimeout * (participantCount + 1)` has passed. `pool * roundsDone / totalRounds` is
    /// credited by points, the rest to the creator.
    function abandonSession(uint256 sessionId) external;

    /// @notice Proves that a participant signed two different EIP-712 `RoundProposal`s for one round. Slashes
    /// SLASH_BPS of its registry stake; REPORTER_BPS of that goes to the caller, the rest to the session pool if
    /// Active, else to the creator.
    function reportEquivocation(
        uint256 sessionId,
        uint32 round,
        Proposal calldata a,
        bytes calldata sigA,
        Proposal calldata b,
        bytes calldata sigB
    ) external;

    /// @notice Transfers the caller's whole owed balance to the caller.
    function claim() external;
}
