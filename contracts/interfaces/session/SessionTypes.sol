// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Lifecycle of a session; see docs/contracts.md for the state machine.
enum SessionStatus {
    None,
    Open,
    Active,
    Completed,
    Cancelled,
    Abandoned
}

/// @notice What a creator asks for. Numbers the contract enforces live here; everything else about training is in
/// the JSON spec fetched by `specCid` and checked against `specHash`.
/// @param name Human-readable name.
/// @param datasetCid CID of the dataset.
/// @param specCid CID of the canonical JSON training spec (model config, split, lr, batch, epochs, aggregation, DP).
/// @param specHash keccak256 of the spec JSON bytes: runners verify what they fetch by CID.
/// @param totalRounds Rounds to run, 1..MAX_ROUNDS.
/// @param minParticipants Fewest participants to start, and fewest contributions per round.
/// @param maxParticipants Most participants, at most MAX_PARTICIPANTS.
/// @param roundTimeout Seconds a leader has to post a round before the next one may, at least MIN_ROUND_TIMEOUT.
/// @param minStake Active registry stake a runner needs to join.
/// @param rewardPool Tokens escrowed at creation and paid out by contribution points.
struct SessionParams {
    string name;
    string datasetCid;
    string specCid;
    bytes32 specHash;
    uint32 totalRounds;
    uint32 minParticipants;
    uint32 maxParticipants;
    uint64 roundTimeout;
    uint256 minStake;
    uint256 rewardPool;
}

/// @notice One runner's part in a round.
/// @param runner The participant.
/// @param updateDigest keccak256 of the UTF-8 bytes of the update's CID string.
/// @param dataSize Samples trained on.
/// @param points Contribution points awarded for this round.
struct Contribution {
    address runner;
    bytes32 updateDigest;
    uint64 dataSize;
    uint64 points;
}

/// @notice What a leader posts for a round.
/// @param round The round number (must equal the session's current round).
/// @param modelCid CID of the aggregated global model.
/// @param loss Evaluation loss scaled by 1e6.
/// @param accuracy Evaluation accuracy scaled by 1e6.
/// @param contributions Included updates, in strictly ascending runner address order.
struct RoundResult {
    uint32 round;
    string modelCid;
    uint64 loss;
    uint64 accuracy;
    Contribution[] contributions;
}

/// @notice A leader's signed round proposal; two different ones for the same round prove equivocation.
struct Proposal {
    string modelCid;
    bytes32 updatesRoot;
}

/// @notice A finalized round as stored on-chain.
struct RoundRecord {
    string modelCid;
    bytes32 updatesRoot;
    address leader;
    uint64 loss;
    uint64 accuracy;
    uint64 finalizedAt;
}

/// @notice A runner's track record across all sessions.
struct Reputation {
    uint64 roundsDone;
    uint64 leadershipsDone;
    uint64 leadershipsMissed;
    uint64 slashes;
}

/// @notice Everything about a session in one read.
/// @param params The creation parameters; `params.rewardPool` is the current pool (equivocation slashes during an
/// active session add to it).
/// @param currentRound The round being worked on (1-based; 0 before start; stays at the last round once completed).
/// @param roundStartedAt When the current round opened (start, or the previous round's finalization).
/// @param seed Leader-election seed fixed at start.
struct SessionView {
    SessionParams params;
    address creator;
    SessionStatus status;
    uint32 currentRound;
    uint64 roundStartedAt;
    bytes32 seed;
    uint256 participantCount;
    uint256 totalPoints;
    string finalModelCid;
}
