"""The committed ABIs are fresh, and the Python client covers every function and event in them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_abi.abi import encode

from parity_p2p.chain import CONTRACT_NAMES, ContractRevert, load_contract
from parity_p2p.chain.abi import REGISTRY, SESSION_MANAGER, TOKEN, error_selector
from parity_p2p.chain.contracts import RegistryClient, SessionManagerClient, TokenClient
from parity_p2p.chain.events import EVENT_TYPES, field_name
from parity_p2p.chain.revert import decode_revert

REPO = Path(__file__).resolve().parents[2]
CLIENTS = {TOKEN: TokenClient, REGISTRY: RegistryClient, SESSION_MANAGER: SessionManagerClient}


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=240, check=False)


def test_committed_abis_match_a_fresh_compile() -> None:
    npx = shutil.which("npx")
    assert npx is not None, "npx (Node) is needed to compile the contracts"
    # Always compile: incremental (~2 s when nothing changed) and catches artifacts older than contracts/.
    compiled = run([npx, "hardhat", "compile"])
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    checked = run(["node", "scripts/export_abi.js", "--check"])
    assert checked.returncode == 0, f"stale ABIs:\n{checked.stderr}"


def method_name(abi_name: str) -> str:
    return abi_name.lower() if re.fullmatch(r"[A-Z0-9_]+", abi_name) else field_name(abi_name)


@pytest.mark.parametrize("contract", CONTRACT_NAMES)
def test_client_has_a_method_for_every_function(contract: str) -> None:
    functions = [e["name"] for e in load_contract(contract).entries if e.get("type") == "function"]
    missing = [f for f in functions if not hasattr(CLIENTS[contract], method_name(f))]
    assert not missing, f"{CLIENTS[contract].__name__} lacks {missing}"


@pytest.mark.parametrize("contract", CONTRACT_NAMES)
def test_every_event_has_a_typed_dataclass(contract: str) -> None:
    missing = [e.name for e in load_contract(contract).events() if e.name not in EVENT_TYPES]
    assert not missing


def test_revert_decoding_of_custom_error_string_and_panic() -> None:
    manager = load_contract(SESSION_MANAGER)
    [error] = [e for e in manager.errors() if e.name == "NotEnoughAttestations"]
    revert = decode_revert(error_selector(error) + encode(["uint256", "uint256", "uint256"], [7, 2, 3]))
    assert (revert.name, revert.args, revert.arg_names) == ("NotEnoughAttestations", (7, 2, 3), error.arg_names)
    assert "quorum" in str(revert) and "count=2" in str(revert)

    text = decode_revert(bytes.fromhex("08c379a0") + encode(["string"], ["boom"]))
    assert (text.name, text.args) == ("Error", ("boom",))
    panic = decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11]))
    assert (panic.name, panic.args) == ("Panic", (0x11,)) and "overflow" in str(panic)
    unknown = decode_revert(b"\xde\xad\xbe\xef" + b"\x00" * 32)
    assert unknown.name == "UnknownError"
    assert isinstance(decode_revert(b""), ContractRevert)
