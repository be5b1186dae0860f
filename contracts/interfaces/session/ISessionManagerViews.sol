// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IRunnerRegistry} from "../IRunnerRegistry.sol";
import {Contribution, Reputation, RoundRecord, SessionView} from "./SessionTypes.sol";

/// @title Read-only functions of the SessionManager
interface ISessionManagerViews {
    /// @notice Most participants a session may have.
    function MAX_PARTICIPANTS() external view returns (uint32);
    /// @notice Most rounds a session may have.
    function MAX_ROUNDS() external view returns (uint32);
    /// @notice Fraction of a runner's registry stake slashed for equivocation, in basis points.
    function SLASH_BPS() external view returns (uint16);
    /// @notice Fraction of the slashed amount paid to the reporter, in basis points.
    function REPORTER_BPS() external view returns (uint16);
    /// @notice Shortest allowed roundTimeout, in seconds.
    function MIN_ROUND_TIMEOUT() external view returns (uint64);

    /// @notice The reward token.
    function token() external view returns (IERC20);
    /// @notice The runner registry (stakes, slashing).
    function registry() external view returns (IRunnerRegistry);

    /// @notice The whole session record. Reverts `UnknownSession` for an id never created.
    function getSession(uint256 sessionId) external view returns (SessionView memory);
    /// @notice Participants in join order (the order leader election indexes).
    function participants(uint256 sessionId) external view returns (address[] memory);
    /// @notice A finalized round (all zero if not finalized).
    function getRound(uint256 sessionId, uint32 round) external view returns (RoundRecord memory);
    /// @notice Contribution points of `runner` in the session so far.
    function pointsOf(uint256 sessionId, address runner) external view returns (uint256);
    /// @notice Tokens `account` can claim.
    function owed(address account) external view returns (uint256);
    /// @notice A runner's track record across sessions.
    function reputation(address runner) external view returns (Reputation memory);
    /// @notice How many sessions were created (the highest id).
    function sessionCount() external view returns (uint256);
    /// @notice Attestations needed per round: min(n, max(minParticipants, n / 2 + 1)), n = participant count.
    function quorum(uint256 sessionId) external view returns (uint256);
    /// @notice Leader of `round` at failover `step`: participants[(base + step) % n] with
    /// base = uint256(keccak256(abi.encode(seed, uint256(round)))) % n. Reverts if the session never started.
    function leaderAt(uint256 sessionId, uint32 round, uint256 step) external view returns (address);
    /// @notice Leader allowed to post the current round now, and its step (now - roundStartedAt) / roundTimeout.
    function eligibleLeader(uint256 sessionId) external view returns (address leader, uint256 step);
    /// @notice Whether `account` joined the session.
    function isParticipant(uint256 sessionId, address account) external view returns (bool);
    /// @notice EIP-712 digest of RoundAttestation(uint256 sessionId,uint32 round,string modelCid,bytes32 updatesRoot).
    function attestationDigest(uint256 sessionId, uint32 round, string calldata modelCid, bytes32 updatesRoot)
        external
        view
        returns (bytes32);
    /// @notice EIP-712 digest of RoundProposal(uint256 sessionId,uint32 round,string modelCid,bytes32 updatesRoot).
    function proposalDigest(uint256 sessionId, uint32 round, string calldata modelCid, bytes32 updatesRoot)
        external
        view
        returns (bytes32);
    /// @notice Merkle root of the contributions (see docs/specs/chain-interface.md for the leaf and tree rules).
    function updatesRoot(Contribution[] calldata contributions) external pure returns (bytes32);
}
