"""The node's libp2p peer id as plain text, for callers above the gossip layer (chain registration, CLI, demo)."""

from __future__ import annotations

from pathlib import Path

from libp2p.peer.id import ID

from .keyfile import load_or_create_key_file


def peer_id_for_key_file(path: Path) -> str:
    """The base58 peer id of the Ed25519 identity in `path`, creating the key file if it does not exist."""
    return ID.from_pubkey(load_or_create_key_file(path).public_key).to_base58()
