// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MockUSDFC} from "../MockUSDFC.sol";

/// @notice Test only: MockUSDFC with a settable chain id, to test the faucet on a "real" network.
contract MockUSDFCChainHarness is MockUSDFC {
    uint256 private _fakeChainId;

    function setChainId(uint256 chainId) external {
        _fakeChainId = chainId;
    }

    function _chainId() internal view override returns (uint256) {
        return _fakeChainId == 0 ? block.chainid : _fakeChainId;
    }
}
