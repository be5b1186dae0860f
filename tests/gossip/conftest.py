"""Test setup for the libp2p adapter (helpers live in gossip_helpers.py). Importing parity_p2p.gossip first
imports libp2p under the one warning filter it needs (see parity_p2p/gossip/__init__.py)."""

from __future__ import annotations

import parity_p2p.gossip  # noqa: F401
