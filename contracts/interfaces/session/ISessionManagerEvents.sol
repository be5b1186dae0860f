// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Events emitted by the SessionManager
interface ISessionManagerEvents {
    /// @notice A session was created and its reward pool escrowed.
    event SessionCreated(
        uint256 indexed sessionId,
        address indexed creator,
        string name,
        string datasetCid,
        string specCid,
        bytes32 specHash,
        uint256 rewardPool
    );
    /// @notice A runner joined an open session.
    event SessionJoined(uint256 indexed sessionId, address indexed runner);
    /// @notice The creator started the session; round 1 is open.
    event SessionStarted(uint256 indexed sessionId, bytes32 seed, uint256 participantCount);
    /// @notice The creator cancelled an open session; the pool went back to the creator.
    event SessionCancelled(uint256 indexed sessionId);
    /// @notice A leader posted a round with a quorum of attestations.
    event RoundFinalized(
        uint256 indexed sessionId,
        uint32 indexed round,
        address indexed leader,
        string modelCid,
        bytes32 updatesRoot,
        uint64 loss,
        uint64 accuracy
    );
    /// @notice The last round was finalized; rewards are claimable.
    event SessionCompleted(uint256 indexed sessionId, string finalModelCid);
    /// @notice Nobody posted the current round in time; rewards for the rounds done are claimable.
    event SessionAbandoned(uint256 indexed sessionId, uint32 roundsDone);
    /// @notice `amount` was added to `account`'s claimable balance.
    event RewardCredited(uint256 indexed sessionId, address indexed account, uint256 amount);
    /// @notice A participant that signed two different proposals for one round was slashed.
    event EquivocationSlashed(
        uint256 indexed sessionId, uint32 round, address indexed leader, address indexed reporter, uint256 amount
    );
    /// @notice An account claimed its whole owed balance.
    event RewardsClaimed(address indexed account, uint256 amount);
}
