// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IRunnerRegistry} from "./interfaces/IRunnerRegistry.sol";
import {IRunnerRegistryActions} from "./interfaces/registry/IRunnerRegistryActions.sol";
import {IRunnerRegistryViews} from "./interfaces/registry/IRunnerRegistryViews.sol";
import {Runner} from "./interfaces/registry/RunnerTypes.sol";

/// @title RunnerRegistry
/// @notice Runners, their peer ids and their stakes. Invariant: token.balanceOf(this) == sum(stake + pendingUnstake).
contract RunnerRegistry is IRunnerRegistry, Ownable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 private constant _MAX_PEER_ID_BYTES = 128;
    uint16 private constant _BPS_DENOMINATOR = 10_000;

    IERC20 private immutable _token;
    uint256 private immutable _minStake;
    uint64 private immutable _unstakeCooldown;

    address private _sessionManager;
    mapping(address runner => Runner) private _runners;
    address[] private _runnerList;

    constructor(IERC20 token_, uint256 minStake_, uint64 unstakeCooldown_, address initialOwner)
        Ownable(initialOwner)
    {
        if (address(token_) == address(0)) {
            revert ZeroAddress();
        }
        _token = token_;
        _minStake = minStake_;
        _unstakeCooldown = unstakeCooldown_;
    }

    modifier onlyRegistered() {
        if (!_runners[msg.sender].registered) {
            revert NotRegistered(msg.sender);
        }
        _;
    }

    // ----------------------------------------------------------------------------------------------- actions

    /// @inheritdoc IRunnerRegistryActions
    function setSessionManager(address manager) external onlyOwner {
        if (_sessionManager != address(0)) {
            revert SessionManagerAlreadySet();
        }
        if (manager == address(0)) {
            revert ZeroAddress();
        }
        _sessionManager = manager;
        emit SessionManagerSet(manager);
    }

    /// @inheritdoc IRunnerRegistryActions
    function register(string calldata peerId, uint256 amount) external nonReentrant {
        Runner storage runner = _runners[msg.sender];
        if (runner.registered) {
            revert AlreadyRegistered(msg.sender);
        }
        _checkPeerId(peerId);
        if (amount < _minStake || amount == 0) {
            revert StakeBelowMinimum(amount, _minStake);
        }
        runner.registered = true;
        runner.peerId = peerId;
        runner.stake = amount;
        _runnerList.push(msg.sender);
        emit RunnerRegistered(msg.sender, peerId, amount);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IRunnerRegistryActions
    function setPeerId(string calldata peerId) external onlyRegistered {
        _checkPeerId(peerId);
        _runners[msg.sender].peerId = peerId;
        emit PeerIdChanged(msg.sender, peerId);
    }

    /// @inheritdoc IRunnerRegistryActions
    function addStake(uint256 amount) external nonReentrant onlyRegistered {
        if (amount == 0) {
            revert ZeroAmount();
        }
        Runner storage runner = _runners[msg.sender];
        uint256 newStake = runner.stake + amount;
        runner.stake = newStake;
        emit StakeAdded(msg.sender, amount, newStake);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IRunnerRegistryActions
    function requestUnstake(uint256 amount) external onlyRegistered {
        if (amount == 0) {
            revert ZeroAmount();
        }
        Runner storage runner = _runners[msg.sender];
        uint256 available = runner.stake;
        if (amount > available) {
            revert InsufficientStake(msg.sender, amount, available);
        }
        uint64 unlockAt = uint64(block.timestamp) + _unstakeCooldown;
        // amount <= available was checked just above.
        unchecked {
            runner.stake = available - amount;
        }
        runner.pendingUnstake += amount;
        runner.unlockAt = unlockAt;
        emit UnstakeRequested(msg.sender, amount, unlockAt);
    }

    /// @inheritdoc IRunnerRegistryActions
    function withdraw() external nonReentrant {
        Runner storage runner = _runners[msg.sender];
        uint256 amount = runner.pendingUnstake;
        if (amount == 0) {
            revert NothingToWithdraw(msg.sender);
        }
        if (block.timestamp < runner.unlockAt) {
            revert StakeLocked(msg.sender, runner.unlockAt);
        }
        runner.pendingUnstake = 0;
        emit StakeWithdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IRunnerRegistryActions
    function slash(address runnerAddress, uint16 bps) external nonReentrant returns (uint256 amount) {
        address manager = _sessionManager;
        if (msg.sender != manager || manager == address(0)) {
            revert NotSessionManager(msg.sender);
        }
        if (bps > _BPS_DENOMINATOR) {
            revert InvalidBps(bps);
        }
        Runner storage runner = _runners[runnerAddress];
        uint256 stake = runner.stake;
        uint256 pending = runner.pendingUnstake;
        amount = ((stake + pending) * bps) / _BPS_DENOMINATOR;
        if (amount <= stake) {
            // amount <= stake was checked on this branch.
            unchecked {
                runner.stake = stake - amount;
            }
        } else {
            runner.stake = 0;
            // amount <= stake + pending because bps <= 10_000, so amount - stake <= pending.
            unchecked {
                runner.pendingUnstake = pending - (amount - stake);
            }
        }
        emit RunnerSlashed(runnerAddress, amount);
        if (amount > 0) {
            _token.safeTransfer(manager, amount);
        }
    }

    // ------------------------------------------------------------------------------------------------- views

    /// @inheritdoc IRunnerRegistryViews
    function runnerOf(address account) external view returns (Runner memory) {
        return _runners[account];
    }

    /// @inheritdoc IRunnerRegistryViews
    function isRegistered(address account) external view returns (bool) {
        return _runners[account].registered;
    }

    /// @inheritdoc IRunnerRegistryViews
    function stakeOf(address account) external view returns (uint256) {
        return _runners[account].stake;
    }

    /// @inheritdoc IRunnerRegistryViews
    function minStake() external view returns (uint256) {
        return _minStake;
    }

    /// @inheritdoc IRunnerRegistryViews
    function unstakeCooldown() external view returns (uint64) {
        return _unstakeCooldown;
    }

    /// @inheritdoc IRunnerRegistryViews
    function token() external view returns (IERC20) {
        return _token;
    }

    /// @inheritdoc IRunnerRegistryViews
    function sessionManager() external view returns (address) {
        return _sessionManager;
    }

    /// @inheritdoc IRunnerRegistryViews
    function runnerCount() external view returns (uint256) {
        return _runnerList.length;
    }

    /// @inheritdoc IRunnerRegistryViews
    function runnerAt(uint256 index) external view returns (address) {
        uint256 count = _runnerList.length;
        if (index >= count) {
            revert IndexOutOfRange(index, count);
        }
        return _runnerList[index];
    }

    function _checkPeerId(string calldata peerId) private pure {
        uint256 length = bytes(peerId).length;
        if (length == 0 || length > _MAX_PEER_ID_BYTES) {
            revert InvalidPeerId(length);
        }
    }
}
