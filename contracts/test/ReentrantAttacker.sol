// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ITokenReceiveHook} from "./HookedToken.sol";

/// @notice Test only: an account that, when paid, calls `reentryTarget` with `reentryData` (e.g. claim() or
/// withdraw() again) and bubbles up whatever that call reverts with.
contract ReentrantAttacker is ITokenReceiveHook {
    address public reentryTarget;
    bytes public reentryData;
    uint256 public reentries;

    /// Makes any call as this account (approve, register, createSession, claim, ...).
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    function arm(address target, bytes calldata data) external {
        reentryTarget = target;
        reentryData = data;
    }

    function onTokenReceived(address, uint256) external {
        if (reentryTarget == address(0)) {
            return;
        }
        ++reentries;
        (bool ok, bytes memory ret) = reentryTarget.call(reentryData);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    function approveMax(IERC20 token, address spender) external {
        token.approve(spender, type(uint256).max);
    }
}
