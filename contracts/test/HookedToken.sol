// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test only: the callback a HookedToken makes on the receiver of a transfer.
interface ITokenReceiveHook {
    function onTokenReceived(address from, uint256 amount) external;
}

/// @notice Test only: a malicious ERC-20 (ERC-777 style) that calls back into the receiver of every transfer that
/// goes to `hookedReceiver`, giving the receiver a chance to re-enter the contract that is paying it.
contract HookedToken is ERC20 {
    address public hookedReceiver;

    constructor() ERC20("Hooked", "HOOK") {}

    function faucet(uint256 amount) external {
        _mint(msg.sender, amount);
    }

    function setHookedReceiver(address receiver) external {
        hookedReceiver = receiver;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (to == hookedReceiver && to != address(0) && from != address(0)) {
            ITokenReceiveHook(to).onTokenReceived(from, value);
        }
    }
}
