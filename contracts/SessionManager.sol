// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IRunnerRegistry} from "./interfaces/IRunnerRegistry.sol";
import {ISessionManager} from "./interfaces/ISessionManager.sol";
import {ISessionManagerActions} from "./interfaces/session/ISessionManagerActions.sol";
import {ISessionManagerViews} from "./interfaces/session/ISessionManagerViews.sol";
import {
    Contribution,
    Proposal,
    Reputation,
    RoundRecord,
    RoundResult,
    SessionParams,
    SessionStatus,
    SessionView
} from "./interfaces/session/SessionTypes.sol";
import {LeaderElection} from "./libraries/LeaderElection.sol";
import {UpdatesMerkle} from "./libraries/UpdatesMerkle.sol";

/// @title SessionManager
/// @notice Sessions, rounds, rewards and equivocation slashing. Invariant: token.balanceOf(this) ==
/// sum(rewardPool of Open and Active sessions) + sum(owed).
contract SessionManager is ISessionManager, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @inheritdoc ISessionManagerViews
    uint32 public constant MAX_PARTICIPANTS = 128;
    /// @inheritdoc ISessionManagerViews
    uint32 public constant MAX_ROUNDS = 1000;
    /// @inheritdoc ISessionManagerViews
    uint16 public constant SLASH_BPS = 5000;
    /// @inheritdoc ISessionManagerViews
    uint16 public constant REPORTER_BPS = 2000;
    /// @inheritdoc ISessionManagerViews
    uint64 public constant MIN_ROUND_TIMEOUT = 10;

    uint256 private constant _BPS_DENOMINATOR = 10_000;
    bytes32 private constant _ATTESTATION_TYPEHASH =
        keccak256("RoundAttestation(uint256 sessionId,uint32 round,string modelCid,bytes32 updatesRoot)");
    bytes32 private constant _PROPOSAL_TYPEHASH =
        keccak256("RoundProposal(uint256 sessionId,uint32 round,string modelCid,bytes32 updatesRoot)");

    struct Session {
        SessionParams params;
        address creator;
        SessionStatus status;
        uint32 currentRound;
        uint64 roundStartedAt;
        bytes32 seed;
        uint256 totalPoints;
        string finalModelCid;
        address[] participants;
    }

    IERC20 private immutable _token;
    IRunnerRegistry private immutable _registry;

    uint256 private _sessionCount;
    mapping(uint256 sessionId => Session) private _sessions;
    mapping(uint256 sessionId => mapping(address account => bool)) private _isParticipant;
    mapping(uint256 sessionId => mapping(uint32 round => RoundRecord)) private _rounds;
    mapping(uint256 sessionId => mapping(address runner => uint256)) private _points;
    mapping(address account => uint256) private _owed;
    mapping(address runner => Reputation) private _reputation;
    mapping(bytes32 sessionRoundSigner => bool) private _slashed;

    constructor(IERC20 token_, IRunnerRegistry registry_) EIP712("ParityP2P", "1") {
        _token = token_;
        _registry = registry_;
    }

    // ----------------------------------------------------------------------------------------------- actions

    /// @inheritdoc ISessionManagerActions
    function createSession(SessionParams calldata p) external nonReentrant returns (uint256 sessionId) {
        _validateParams(p);
        sessionId = ++_sessionCount;
        Session storage s = _sessions[sessionId];
        s.params = p;
        s.creator = msg.sender;
        s.status = SessionStatus.Open;
        emit SessionCreated(sessionId, msg.sender, p.name, p.datasetCid, p.specCid, p.specHash, p.rewardPool);
        if (p.rewardPool > 0) {
            _token.safeTransferFrom(msg.sender, address(this), p.rewardPool);
        }
    }

    /// @inheritdoc ISessionManagerActions
    function joinSession(uint256 sessionId) external {
        Session storage s = _existing(sessionId);
        if (s.status != SessionStatus.Open) {
            revert SessionNotOpen(sessionId, s.status);
        }
        if (!_registry.isRegistered(msg.sender)) {
            revert RunnerNotRegistered(msg.sender);
        }
        uint256 stake = _registry.stakeOf(msg.sender);
        if (stake < s.params.minStake) {
            revert StakeTooLow(msg.sender, stake, s.params.minStake);
        }
        if (_isParticipant[sessionId][msg.sender]) {
            revert AlreadyJoined(sessionId, msg.sender);
        }
        if (s.participants.length >= s.params.maxParticipants) {
            revert SessionFull(sessionId, s.params.maxParticipants);
        }
        _isParticipant[sessionId][msg.sender] = true;
        s.participants.push(msg.sender);
        emit SessionJoined(sessionId, msg.sender);
    }

    /// @inheritdoc ISessionManagerActions
    function startSession(uint256 sessionId) external {
        Session storage s = _existing(sessionId);
        _checkCreatorAndOpen(sessionId, s);
        uint256 n = s.participants.length;
        if (n < s.params.minParticipants) {
            revert NotEnoughParticipants(sessionId, n, s.params.minParticipants);
        }
        bytes32 seed = keccak256(abi.encode(block.prevrandao, sessionId, s.participants));
        s.seed = seed;
        s.currentRound = 1;
        s.roundStartedAt = uint64(block.timestamp);
        s.status = SessionStatus.Active;
        emit SessionStarted(sessionId, seed, n);
    }

    /// @inheritdoc ISessionManagerActions
    function cancelSession(uint256 sessionId) external nonReentrant {
        Session storage s = _existing(sessionId);
        _checkCreatorAndOpen(sessionId, s);
        s.status = SessionStatus.Cancelled;
        emit SessionCancelled(sessionId);
        uint256 pool = s.params.rewardPool;
        if (pool > 0) {
            _token.safeTransfer(s.creator, pool);
        }
    }

    /// @inheritdoc ISessionManagerActions
    function submitRound(uint256 sessionId, RoundResult calldata r, bytes[] calldata attestations)
        external
        nonReentrant
    {
        Session storage s = _existing(sessionId);
        if (s.status != SessionStatus.Active) {
            revert SessionNotActive(sessionId, s.status);
        }
        if (r.round != s.currentRound) {
            revert WrongRound(sessionId, s.currentRound, r.round);
        }
        if (bytes(r.modelCid).length == 0) {
            revert EmptyModelCid();
        }
        uint256 step = _checkLeader(sessionId, s, r.round);
        bytes32 root = _applyContributions(sessionId, s, r.contributions);
        _checkAttestations(
            sessionId, _hashRound(_ATTESTATION_TYPEHASH, sessionId, r.round, r.modelCid, root), attestations
        );
        _recordLeadership(s, r.round, step);

        _rounds[sessionId][r.round] = RoundRecord({
            modelCid: r.modelCid,
            updatesRoot: root,
            leader: msg.sender,
            loss: r.loss,
            accuracy: r.accuracy,
            finalizedAt: uint64(block.timestamp)
        });
        emit RoundFinalized(sessionId, r.round, msg.sender, r.modelCid, root, r.loss, r.accuracy);

        if (r.round == s.params.totalRounds) {
            s.status = SessionStatus.Completed;
            s.finalModelCid = r.modelCid;
            emit SessionCompleted(sessionId, r.modelCid);
            _payOut(sessionId, s, s.params.rewardPool);
        } else {
            s.currentRound = r.round + 1;
            s.roundStartedAt = uint64(block.timestamp);
        }
    }

    /// @inheritdoc ISessionManagerActions
    function abandonSession(uint256 sessionId) external nonReentrant {
        Session storage s = _existing(sessionId);
        if (s.status != SessionStatus.Active) {
            revert SessionNotActive(sessionId, s.status);
        }
        uint256 abandonableAt = _abandonableAt(s);
        if (block.timestamp < abandonableAt) {
            revert AbandonTooEarly(sessionId, abandonableAt);
        }
        // currentRound >= 1 while Active.
        uint32 roundsDone;
        unchecked {
            roundsDone = s.currentRound - 1;
        }
        s.status = SessionStatus.Abandoned;
        emit SessionAbandoned(sessionId, roundsDone);
        uint256 pool = s.params.rewardPool;
        _payOut(sessionId, s, Math.mulDiv(pool, roundsDone, s.params.totalRounds), pool);
    }

    /// @inheritdoc ISessionManagerActions
    function reportEquivocation(
        uint256 sessionId,
        uint32 round,
        Proposal calldata a,
        bytes calldata sigA,
        Proposal calldata b,
        bytes calldata sigB
    ) external nonReentrant {
        Session storage s = _existing(sessionId);
        SessionStatus status = s.status;
        if (status != SessionStatus.Active && status != SessionStatus.Completed && status != SessionStatus.Abandoned) {
            revert SessionNotStarted(sessionId, status);
        }
        if (round == 0 || round > s.params.totalRounds) {
            revert InvalidRound(sessionId, round);
        }
        _slash(sessionId, s, round, _equivocator(sessionId, round, a, sigA, b, sigB));
    }

    /// @inheritdoc ISessionManagerActions
    function claim() external nonReentrant {
        uint256 amount = _owed[msg.sender];
        if (amount == 0) {
            revert NothingToClaim(msg.sender);
        }
        _owed[msg.sender] = 0;
        emit RewardsClaimed(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------------- views

    /// @inheritdoc ISessionManagerViews
    function token() external view returns (IERC20) {
        return _token;
    }

    /// @inheritdoc ISessionManagerViews
    function registry() external view returns (IRunnerRegistry) {
        return _registry;
    }

    /// @inheritdoc ISessionManagerViews
    function getSession(uint256 sessionId) external view returns (SessionView memory v) {
        Session storage s = _existing(sessionId);
        v.params = s.params;
        v.creator = s.creator;
        v.status = s.status;
        v.currentRound = s.currentRound;
        v.roundStartedAt = s.roundStartedAt;
        v.seed = s.seed;
        v.participantCount = s.participants.length;
        v.totalPoints = s.totalPoints;
        v.finalModelCid = s.finalModelCid;
    }

    /// @inheritdoc ISessionManagerViews
    function participants(uint256 sessionId) external view returns (address[] memory) {
        return _existing(sessionId).participants;
    }

    /// @inheritdoc ISessionManagerViews
    function getRound(uint256 sessionId, uint32 round) external view returns (RoundRecord memory) {
        return _rounds[sessionId][round];
    }

    /// @inheritdoc ISessionManagerViews
    function pointsOf(uint256 sessionId, address runner) external view returns (uint256) {
        return _points[sessionId][runner];
    }

    /// @inheritdoc ISessionManagerViews
    function owed(address account) external view returns (uint256) {
        return _owed[account];
    }

    /// @inheritdoc ISessionManagerViews
    function reputation(address runner) external view returns (Reputation memory) {
        return _reputation[runner];
    }

    /// @inheritdoc ISessionManagerViews
    function sessionCount() external view returns (uint256) {
        return _sessionCount;
    }

    /// @inheritdoc ISessionManagerViews
    function quorum(uint256 sessionId) public view returns (uint256) {
        Session storage s = _existing(sessionId);
        uint256 n = s.participants.length;
        return Math.min(n, Math.max(s.params.minParticipants, n / 2 + 1));
    }

    /// @inheritdoc ISessionManagerViews
    function leaderAt(uint256 sessionId, uint32 round, uint256 step) external view returns (address) {
        Session storage s = _existing(sessionId);
        SessionStatus status = s.status;
        if (status != SessionStatus.Active && status != SessionStatus.Completed && status != SessionStatus.Abandoned) {
            revert SessionNotStarted(sessionId, status);
        }
        return _leaderAt(s, round, step);
    }

    /// @inheritdoc ISessionManagerViews
    function eligibleLeader(uint256 sessionId) external view returns (address leader, uint256 step) {
        Session storage s = _existing(sessionId);
        if (s.status != SessionStatus.Active) {
            revert SessionNotActive(sessionId, s.status);
        }
        step = LeaderElection.stepAt(block.timestamp, s.roundStartedAt, s.params.roundTimeout);
        leader = _leaderAt(s, s.currentRound, step);
    }

    /// @inheritdoc ISessionManagerViews
    function isParticipant(uint256 sessionId, address account) external view returns (bool) {
        return _isParticipant[sessionId][account];
    }

    /// @inheritdoc ISessionManagerViews
    function attestationDigest(uint256 sessionId, uint32 round, string calldata modelCid, bytes32 root)
        external
        view
        returns (bytes32)
    {
        return _hashRound(_ATTESTATION_TYPEHASH, sessionId, round, modelCid, root);
    }

    /// @inheritdoc ISessionManagerViews
    function proposalDigest(uint256 sessionId, uint32 round, string calldata modelCid, bytes32 root)
        external
        view
        returns (bytes32)
    {
        return _hashRound(_PROPOSAL_TYPEHASH, sessionId, round, modelCid, root);
    }

    /// @inheritdoc ISessionManagerViews
    function updatesRoot(Contribution[] calldata contributions) external pure returns (bytes32) {
        return UpdatesMerkle.root(contributions);
    }

    // --------------------------------------------------------------------------------------------- internals

    function _validateParams(SessionParams calldata p) private pure {
        if (p.totalRounds == 0 || p.totalRounds > MAX_ROUNDS) {
            revert InvalidTotalRounds(p.totalRounds);
        }
        if (p.minParticipants == 0 || p.minParticipants > p.maxParticipants || p.maxParticipants > MAX_PARTICIPANTS) {
            revert InvalidParticipantBounds(p.minParticipants, p.maxParticipants);
        }
        if (p.roundTimeout < MIN_ROUND_TIMEOUT) {
            revert RoundTimeoutTooShort(p.roundTimeout, MIN_ROUND_TIMEOUT);
        }
        if (bytes(p.datasetCid).length == 0) {
            revert EmptyDatasetCid();
        }
        if (bytes(p.specCid).length == 0) {
            revert EmptySpecCid();
        }
        if (p.specHash == bytes32(0)) {
            revert ZeroSpecHash();
        }
    }

    function _existing(uint256 sessionId) private view returns (Session storage s) {
        s = _sessions[sessionId];
        if (s.status == SessionStatus.None) {
            revert UnknownSession(sessionId);
        }
    }

    function _checkCreatorAndOpen(uint256 sessionId, Session storage s) private view {
        if (msg.sender != s.creator) {
            revert NotCreator(sessionId, msg.sender);
        }
        if (s.status != SessionStatus.Open) {
            revert SessionNotOpen(sessionId, s.status);
        }
    }

    function _abandonableAt(Session storage s) private view returns (uint256) {
        return uint256(s.roundStartedAt) + uint256(s.params.roundTimeout) * (s.participants.length + 1);
    }

    function _leaderAt(Session storage s, uint32 round, uint256 step) private view returns (address) {
        uint256 n = s.participants.length;
        return s.participants[LeaderElection.leaderIndex(s.seed, round, step, n)];
    }

    /// Reverts unless the caller leads the current failover step and the round has not expired; returns the step.
    function _checkLeader(uint256 sessionId, Session storage s, uint32 round) private view returns (uint256 step) {
        uint256 deadline = _abandonableAt(s);
        if (block.timestamp >= deadline) {
            revert RoundExpired(sessionId, round, deadline);
        }
        step = LeaderElection.stepAt(block.timestamp, s.roundStartedAt, s.params.roundTimeout);
        address leader = _leaderAt(s, round, step);
        if (msg.sender != leader) {
            revert NotLeader(sessionId, msg.sender, leader);
        }
    }

    /// Checks the contributions (count, order, membership), adds points and roundsDone, returns their Merkle root.
    function _applyContributions(uint256 sessionId, Session storage s, Contribution[] calldata contributions)
        private
        returns (bytes32)
    {
        uint256 count = contributions.length;
        if (count < s.params.minParticipants) {
            revert NotEnoughContributions(sessionId, count, s.params.minParticipants);
        }
        bytes32[] memory leaves = new bytes32[](count);
        address previous = address(0);
        uint256 roundPoints = 0;
        for (uint256 i = 0; i < count; ++i) {
            Contribution calldata c = contributions[i];
            if (c.runner <= previous) {
                revert UnsortedContributions(i);
            }
            if (!_isParticipant[sessionId][c.runner]) {
                revert NotParticipant(sessionId, c.runner);
            }
            previous = c.runner;
            leaves[i] = UpdatesMerkle.leaf(c);
            _points[sessionId][c.runner] += c.points;
            roundPoints += c.points;
            ++_reputation[c.runner].roundsDone;
        }
        s.totalPoints += roundPoints;
        return UpdatesMerkle.rootOfLeaves(leaves);
    }

    /// Returns the participant that signed both proposals; reverts unless they differ and share that signer.
    function _equivocator(
        uint256 sessionId,
        uint32 round,
        Proposal calldata a,
        bytes calldata sigA,
        Proposal calldata b,
        bytes calldata sigB
    ) private view returns (address signer) {
        if (a.updatesRoot == b.updatesRoot && keccak256(bytes(a.modelCid)) == keccak256(bytes(b.modelCid))) {
            revert IdenticalProposals();
        }
        bytes32 digestA = _hashRound(_PROPOSAL_TYPEHASH, sessionId, round, a.modelCid, a.updatesRoot);
        bytes32 digestB = _hashRound(_PROPOSAL_TYPEHASH, sessionId, round, b.modelCid, b.updatesRoot);
        signer = _recover(digestA, sigA, 0);
        address signerB = _recover(digestB, sigB, 1);
        if (signer != signerB) {
            revert ProposalSignersDiffer(signer, signerB);
        }
        if (!_isParticipant[sessionId][signer]) {
            revert NotParticipant(sessionId, signer);
        }
    }

    /// Slashes `signer` once per (session, round): REPORTER_BPS to the caller, the rest to the pool or creator.
    function _slash(uint256 sessionId, Session storage s, uint32 round, address signer) private {
        bytes32 key = keccak256(abi.encode(sessionId, round, signer));
        if (_slashed[key]) {
            revert AlreadySlashed(sessionId, round, signer);
        }
        _slashed[key] = true;
        ++_reputation[signer].slashes;

        // The slashed amount is only known from the registry (trusted, set at deployment); the double-report flag is
        // already set and both contracts are nonReentrant, so crediting after this call is safe.
        uint256 amount = _registry.slash(signer, SLASH_BPS);
        uint256 reporterShare = (amount * REPORTER_BPS) / _BPS_DENOMINATOR;
        _credit(sessionId, msg.sender, reporterShare);
        uint256 rest;
        // reporterShare <= amount because REPORTER_BPS <= 10_000.
        unchecked {
            rest = amount - reporterShare;
        }
        if (s.status == SessionStatus.Active) {
            s.params.rewardPool += rest;
        } else {
            _credit(sessionId, s.creator, rest);
        }
        emit EquivocationSlashed(sessionId, round, signer, msg.sender, amount);
    }

    /// Reverts unless at least quorum distinct participants signed `digest`, in ascending signer order.
    function _checkAttestations(uint256 sessionId, bytes32 digest, bytes[] calldata attestations) private view {
        uint256 count = attestations.length;
        uint256 needed = quorum(sessionId);
        if (count < needed) {
            revert NotEnoughAttestations(sessionId, count, needed);
        }
        address previous = address(0);
        for (uint256 i = 0; i < count; ++i) {
            address signer = _recover(digest, attestations[i], i);
            if (signer <= previous) {
                revert UnsortedAttestations(i);
            }
            if (!_isParticipant[sessionId][signer]) {
                revert NotParticipant(sessionId, signer);
            }
            previous = signer;
        }
    }

    /// Counts the leadership for the caller and a miss for the leader of every step skipped before it.
    function _recordLeadership(Session storage s, uint32 round, uint256 step) private {
        ++_reputation[msg.sender].leadershipsDone;
        for (uint256 k = 0; k < step; ++k) {
            ++_reputation[_leaderAt(s, round, k)].leadershipsMissed;
        }
    }

    /// Credits `distributable` by points (rounding dust to the creator), and the rest of `pool` to the creator.
    function _payOut(uint256 sessionId, Session storage s, uint256 distributable, uint256 pool) private {
        uint256 totalPoints = s.totalPoints;
        uint256 paid = 0;
        if (totalPoints > 0 && distributable > 0) {
            address[] storage runners = s.participants;
            uint256 n = runners.length;
            for (uint256 i = 0; i < n; ++i) {
                address runner = runners[i];
                uint256 share = Math.mulDiv(distributable, _points[sessionId][runner], totalPoints);
                _credit(sessionId, runner, share);
                paid += share;
            }
        }
        uint256 remainder;
        // paid <= distributable <= pool: each share rounds down and the points sum to totalPoints.
        unchecked {
            remainder = pool - paid;
        }
        _credit(sessionId, s.creator, remainder);
    }

    function _payOut(uint256 sessionId, Session storage s, uint256 pool) private {
        _payOut(sessionId, s, pool, pool);
    }

    function _credit(uint256 sessionId, address account, uint256 amount) private {
        if (amount > 0) {
            _owed[account] += amount;
            emit RewardCredited(sessionId, account, amount);
        }
    }

    function _hashRound(bytes32 typeHash, uint256 sessionId, uint32 round, string calldata modelCid, bytes32 root)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(typeHash, sessionId, round, keccak256(bytes(modelCid)), root)));
    }

    function _recover(bytes32 digest, bytes calldata signature, uint256 index) private pure returns (address) {
        (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, signature);
        if (error != ECDSA.RecoverError.NoError) {
            revert InvalidSignature(index);
        }
        return signer;
    }
}
