// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SessionStatus} from "./SessionTypes.sol";

/// @title Errors raised by the SessionManager
interface ISessionManagerErrors {
    /// @notice No session has this id.
    error UnknownSession(uint256 sessionId);
    /// @notice totalRounds is 0 or above MAX_ROUNDS.
    error InvalidTotalRounds(uint32 totalRounds);
    /// @notice Not 1 <= minParticipants <= maxParticipants <= MAX_PARTICIPANTS.
    error InvalidParticipantBounds(uint32 minParticipants, uint32 maxParticipants);
    /// @notice roundTimeout below MIN_ROUND_TIMEOUT.
    error RoundTimeoutTooShort(uint64 roundTimeout, uint64 minimum);
    /// @notice datasetCid is empty.
    error EmptyDatasetCid();
    /// @notice specCid is empty.
    error EmptySpecCid();
    /// @notice specHash is zero.
    error ZeroSpecHash();
    /// @notice The session is not Open.
    error SessionNotOpen(uint256 sessionId, SessionStatus status);
    /// @notice The session is not Active.
    error SessionNotActive(uint256 sessionId, SessionStatus status);
    /// @notice The session was never started (Open, Cancelled).
    error SessionNotStarted(uint256 sessionId, SessionStatus status);
    /// @notice Only the session's creator may do this.
    error NotCreator(uint256 sessionId, address caller);
    /// @notice The runner is not registered in the RunnerRegistry.
    error RunnerNotRegistered(address runner);
    /// @notice The runner's active registry stake is below the session's minStake.
    error StakeTooLow(address runner, uint256 stake, uint256 required);
    /// @notice The runner already joined.
    error AlreadyJoined(uint256 sessionId, address runner);
    /// @notice maxParticipants reached.
    error SessionFull(uint256 sessionId, uint32 maxParticipants);
    /// @notice Fewer participants than minParticipants.
    error NotEnoughParticipants(uint256 sessionId, uint256 count, uint32 minParticipants);
    /// @notice The submitted round is not the current round.
    error WrongRound(uint256 sessionId, uint32 expected, uint32 submitted);
    /// @notice The caller is not the leader of the current failover step.
    error NotLeader(uint256 sessionId, address caller, address leader);
    /// @notice Every participant had its turn and one more timeout passed: only abandonSession is left.
    error RoundExpired(uint256 sessionId, uint32 round, uint256 deadline);
    /// @notice modelCid is empty.
    error EmptyModelCid();
    /// @notice Fewer contributions than minParticipants.
    error NotEnoughContributions(uint256 sessionId, uint256 count, uint32 minParticipants);
    /// @notice Contribution `index` is not in strictly ascending runner order.
    error UnsortedContributions(uint256 index);
    /// @notice Attestation `index` is not in strictly ascending signer order.
    error UnsortedAttestations(uint256 index);
    /// @notice Attestation `index` is not a valid 65-byte ECDSA signature.
    error InvalidSignature(uint256 index);
    /// @notice `account` is not a participant of the session.
    error NotParticipant(uint256 sessionId, address account);
    /// @notice Fewer valid attestations than the quorum.
    error NotEnoughAttestations(uint256 sessionId, uint256 count, uint256 quorum);
    /// @notice abandonSession before every participant had its turn and one more timeout passed.
    error AbandonTooEarly(uint256 sessionId, uint256 abandonableAt);
    /// @notice The round is 0 or above totalRounds.
    error InvalidRound(uint256 sessionId, uint32 round);
    /// @notice The two proposals are the same: no equivocation.
    error IdenticalProposals();
    /// @notice The two proposal signatures recover different signers.
    error ProposalSignersDiffer(address signerA, address signerB);
    /// @notice This signer was already slashed for this session and round.
    error AlreadySlashed(uint256 sessionId, uint32 round, address leader);
    /// @notice The account has nothing owed.
    error NothingToClaim(address account);
}
