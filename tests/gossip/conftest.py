"""Test setup for the libp2p adapter (helpers live in gossip_helpers.py)."""

from __future__ import annotations

import warnings

# libp2p 0.8.1 imports websockets.legacy, which warns at import; with filterwarnings=error that import would fail.
# Import it once here under a filter for exactly that message (pyproject could carry the same filter).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)
    import libp2p  # noqa: F401
