"""The node's local control API: HTTP/1.1 + JSON on 127.0.0.1, bearer token, for the CLI and the TUI."""
