"""Local network tooling: the anvil chain process and the demo."""
