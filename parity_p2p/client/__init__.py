"""`parity-client`, the user-facing command line (entry point `parity_p2p.client.cli:main`)."""
