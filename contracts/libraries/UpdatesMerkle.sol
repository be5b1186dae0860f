// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Contribution} from "../interfaces/session/SessionTypes.sol";

/// @title Merkle root over a round's contributions
/// @notice Mirrors parity_p2p/consensus/merkle.py. leaf = keccak256(abi.encode(runner, updateDigest,
/// uint256(dataSize), uint256(points))) in the given order; parent = keccak256(abi.encodePacked(left, right));
/// an odd last node is carried up unchanged; one leaf is its own root. An empty list has root zero.
library UpdatesMerkle {
    /// @notice The leaf hash of one contribution.
    function leaf(Contribution calldata c) internal pure returns (bytes32) {
        return keccak256(abi.encode(c.runner, c.updateDigest, uint256(c.dataSize), uint256(c.points)));
    }

    /// @notice The root over all contributions, in the given order.
    function root(Contribution[] calldata contributions) internal pure returns (bytes32) {
        uint256 n = contributions.length;
        if (n == 0) {
            return bytes32(0);
        }
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            level[i] = leaf(contributions[i]);
        }
        return rootOfLeaves(level);
    }

    /// @notice Reduces `nodes` in place to the root; `nodes` is clobbered. Needs at least one node.
    function rootOfLeaves(bytes32[] memory nodes) internal pure returns (bytes32) {
        uint256 width = nodes.length;
        while (width > 1) {
            uint256 parents = 0;
            for (uint256 i = 0; i < width; i += 2) {
                nodes[parents] = i + 1 < width ? _hashPair(nodes[i], nodes[i + 1]) : nodes[i];
                ++parents;
            }
            width = parents;
        }
        return nodes[0];
    }

    function _hashPair(bytes32 left, bytes32 right) private pure returns (bytes32 result) {
        result = keccak256(abi.encodePacked(left, right));
    }
}
