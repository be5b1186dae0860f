// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice A registered runner as stored by the RunnerRegistry.
/// @param peerId The runner's libp2p peer id (1..128 bytes).
/// @param stake Active stake, in token base units.
/// @param pendingUnstake Stake requested for withdrawal; still slashable until withdrawn.
/// @param unlockAt Timestamp from which `pendingUnstake` can be withdrawn.
/// @param registered Whether the address ever registered (registration is permanent).
struct Runner {
    string peerId;
    uint256 stake;
    uint256 pendingUnstake;
    uint64 unlockAt;
    bool registered;
}
