"""`parity-tui` at start: it refuses to open when no node answers, with one clear line and a non-zero exit code
(the choice documented in docs/tui.md), and checks its options."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from client_helpers import RunningNode
from fixture_server import recorded_api

from tui.app import check_reachable, main, parse_args
from tui.endpoint import NodeEndpoint
from tui.errors import EndpointError, NodeUnreachableError

BIN = Path(sys.executable).parent


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_no_node_at_the_url_exits_9(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "api.token"
    token.write_text("whatever\n")
    url = f"http://127.0.0.1:{_closed_port()}"
    assert main(["--api", url, "--token-file", str(token)]) == 9
    err = _error_line(capsys)
    assert err.startswith("parity-tui: error: no node answers at") and url in err and "ConnectError" in err


def test_stopped_node_data_dir_exits_9(running_node: RunningNode, tmp_path: Path) -> None:
    """An initialised data directory without api.json is a node that is not running (the client's own message)."""
    copy = tmp_path / "data"
    subprocess.run(["cp", "-a", str(running_node.data_dir), str(copy)], check=True)
    (copy / "api.json").unlink()
    with pytest.raises(NodeUnreachableError) as caught:
        check_reachable(NodeEndpoint(data_dir=copy))
    assert caught.value.exit_code == 9 and "api.json" in caught.value.reason


def test_not_a_data_dir_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path / "nothing")]) == 3
    assert str(tmp_path / "nothing") in _error_line(capsys)
    with pytest.raises(EndpointError, match="the token file is empty"):
        (tmp_path / "empty").write_text("\n")
        NodeEndpoint(api_url="http://127.0.0.1:1", token_file=tmp_path / "empty").resolve()


def test_wrong_token_exits_10_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with recorded_api(tmp_path) as api:
        wrong = tmp_path / "wrong.token"
        wrong.write_text("not-the-token\n")
        assert main(["--api", api.url, "--token-file", str(wrong)]) == 10
    err = _error_line(capsys)
    assert f"the node at {api.url} refused the request (401)" in err and "unauthorized" in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--api", "http://127.0.0.1:1"], "--api and --token-file go together"),
        (["--data-dir", "x", "--api", "http://a", "--token-file", "t"], "not both"),
    ],
)
def test_option_errors_exit_2(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert fragment in _error_line(capsys)


def test_data_dir_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARITY_DATA_DIR", str(tmp_path))
    assert parse_args([]) == NodeEndpoint(data_dir=tmp_path)
    assert parse_args(["--data-dir", "/elsewhere"]) == NodeEndpoint(data_dir=Path("/elsewhere"))


def test_console_script_is_installed(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "parity-tui"), "--data-dir", str(tmp_path / "none")], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 3, result
    assert result.stderr.startswith("parity-tui: error:")
