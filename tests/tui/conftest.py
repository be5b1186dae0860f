"""The TUI tests reuse the parity-client tests' real node: `node_chain` (an anvil of the module's own with the
contracts) and `running_node` (a `parity-node` process, init + start, on it), imported from tests/client/conftest.py
rather than written again. That conftest imports its helpers as top-level modules, as pytest's default "prepend"
import mode does for tests/client, so its folder goes on sys.path first."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

CLIENT_TESTS = Path(__file__).resolve().parents[1] / "client"
if str(CLIENT_TESTS) not in sys.path:
    sys.path.insert(0, str(CLIENT_TESTS))


def _client_conftest() -> object:
    spec = importlib.util.spec_from_file_location("client_tests_conftest", CLIENT_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_client = _client_conftest()
node_chain = _client.node_chain  # type: ignore[attr-defined]
running_node = _client.running_node  # type: ignore[attr-defined]
