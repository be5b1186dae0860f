// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Mock USDFC for devnets
/// @notice An 18-decimal ERC-20 with a faucet that works only on local chains (31337 hardhat, 1337 anvil/ganache).
/// On real networks the real USDFC address is configuration, never this contract.
contract MockUSDFC is ERC20 {
    /// @notice Most tokens one faucet call mints.
    uint256 public constant FAUCET_MAX_PER_CALL = 10_000e18;

    /// @notice The faucet was called on a chain that is not a local devnet.
    error FaucetDisabled(uint256 chainId);
    /// @notice The faucet was asked for more than FAUCET_MAX_PER_CALL.
    error FaucetAmountTooLarge(uint256 amount, uint256 maximum);

    constructor() ERC20("Mock USDFC", "USDFC") {}

    /// @notice Mints `amount` (at most FAUCET_MAX_PER_CALL) to the caller, on local chains only.
    function faucet(uint256 amount) external {
        uint256 chainId = _chainId();
        if (chainId != 31337 && chainId != 1337) {
            revert FaucetDisabled(chainId);
        }
        if (amount > FAUCET_MAX_PER_CALL) {
            revert FaucetAmountTooLarge(amount, FAUCET_MAX_PER_CALL);
        }
        _mint(msg.sender, amount);
    }

    /// @dev The chain id the faucet checks; a test harness overrides it to reach the disabled branch.
    function _chainId() internal view virtual returns (uint256) {
        return block.chainid;
    }
}
