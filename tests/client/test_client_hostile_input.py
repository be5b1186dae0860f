"""Hostile strings in any flag: never a traceback, always a non-zero exit with a message.

Each example puts one generated string into one slot of an otherwise valid command. A slot whose value happens to
be acceptable (a name, say) lets the command run on until it stops at a later check (no tokens, no node), which
must be just as clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from client_helpers import Cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GOOD_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
CONFIG = str(Path(__file__).resolve().parents[2] / "examples" / "iris_model.json")

# Everything a shell can pass: any code point except NUL (argv cannot carry one), plus lone surrogates, which is
# how Python decodes argv bytes that are not UTF-8.
hostile = st.one_of(
    st.text(st.characters(exclude_characters="\x00"), max_size=60),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00") | st.sampled_from(["\udc80", "\udcff"]),
            max_size=20),
    st.sampled_from(["", "-", "--", "-1", "0", "nan", "inf", "1e400", "9" * 80, "0x" + "f" * 40, "../../etc/passwd",
                     "/dev/null", "http://", "bafy", "Qm", "--help", "\n", "\t", " ", "%s%n", "{}", "[]"]),
)  # fmt: skip

TEMPLATES = [
    ["fl", "create-session", "--name", "{}", "--dataset-cid", GOOD_CID, "--config-file", CONFIG, "--key-env", "KEY1",
     "--node-api", "http://127.0.0.1:9", "--api-token-file", "{token}"],
    ["fl", "create-session", "--name", "n", "--dataset-cid", "{}", "--config-file", CONFIG, "--key-env", "KEY1",
     "--node-api", "http://127.0.0.1:9", "--api-token-file", "{token}"],
    ["fl", "create-session", "--name", "n", "--dataset-cid", GOOD_CID, "--config-file", "{}", "--alpha", "{}"],
    ["fl", "create-session", "--name", "n", "--dataset-cid", GOOD_CID, "--config-file", CONFIG, "--reward-pool", "{}",
     "--split-strategy", "{}", "--key-env", "KEY1", "--node-api", "{}", "--api-token-file", "{token}"],
    ["fl", "create-session-with-data", "{}", "--name", "n", "--config-file", CONFIG, "--data-dir", "{}"],
    ["fl", "get-session", "{}"],
    ["fl", "list-sessions", "--status", "{}", "--rpc-url", "{}"],
    ["fl", "get-model", "1", "--output", "{}", "--node-api", "{}", "--api-token-file", "{}"],
    ["fl", "submit-update", "--session-id", "1", "--round-id", "1", "--runner-id", "{}", "--gradients-file", "{}",
     "--data-size", "1", "--loss", "{}"],
    ["runner", "register", "--stake", "{}", "--peer-id", "{}", "--key-env", "KEY1"],
    ["runner", "stake", "--amount", "{}", "--key-env", "{}"],
    ["token", "balance", "--address", "{}", "--deployment", "{}"],  # a valid address alone would succeed
    ["token", "faucet", "--amount", "{}", "--keystore", "{}"],
    ["chain", "deploy", "--rpc-url", "{}", "--out", "{}", "--key-env", "KEY1"],
    ["chain", "check", "--deployment", "{}"],
]  # fmt: skip


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: " ".join(t[:2]))
def test_hostile_flag_values_fail_cleanly(cli: Cli, tmp_path: Path, template: list[str]) -> None:
    token = tmp_path / "api.token"
    token.write_text("t" * 32)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(values=st.lists(hostile, min_size=template.count("{}"), max_size=template.count("{}")))
    def check(values: list[str]) -> None:
        filled = iter(values)
        args = [next(filled) if a == "{}" else a.replace("{token}", str(token)) for a in template]
        result = cli(*args)
        if "--help" in args and result.exit_code == 0:
            return  # a value of exactly "--help" asks for help, as on any command line
        assert result.exit_code != 0, (args, result.stdout)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
        assert "Traceback" not in result.output, (args, result.output)
        assert result.stderr.strip(), (args, result.stdout)

    check()
