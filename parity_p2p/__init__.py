"""Parity P2P: federated learning with no central server."""
