"""Real `parity-node start` processes, one per lab host, configured for the lab's addresses.

The same pieces as parity_p2p/devnet/network.py (init_data_dir with an imported dev key, faucet + approve +
register, `parity-node start` in its own process group), but each node listens on its host's veth address, reaches
anvil on the control address, and serves its API on its host address (allow_remote: the test process calls it
from the root namespace, across the switch's clear port).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import trio
from eth_account.signers.local import LocalAccount

from netlab.errors import NetlabError
from netlab.lab import Host, NetLab
from parity_p2p.chain import ChainClient, Deployment
from parity_p2p.node.api.client import NodeApiClient, endpoint_for
from parity_p2p.node.config import ApiConfig, ChainConfig, NetworkConfig, NodeConfig
from parity_p2p.node.datadir import DataDir, init_data_dir

UNIT = 10**18
PASSWORD = "netlab-devnet-only"  # the keys are anvil's public dev keys: nothing here is secret
P2P_PORT = 4001
API_PORT = 7400
FAST_KDF = 2**10  # scrypt n for the keystore: the default 2**18 costs ~1 s per node at init and again at start
START_TIMEOUT_S = 90.0


class RunnerStartError(NetlabError):
    def __init__(self, host: Host, reason: str, log_tail: str) -> None:
        super().__init__(f"parity-node on {host.name} ({host.ip}): {reason}\n{log_tail}")
        self.host = host


@dataclass(frozen=True)
class Runner:
    host: Host
    address: str
    peer_id: str
    home: Path

    @property
    def multiaddr(self) -> str:
        return f"/ip4/{self.host.ip}/tcp/{P2P_PORT}/p2p/{self.peer_id}"

    @property
    def log(self) -> Path:
        return self.home.parent / f"{self.host.name}.log"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


def init_runner(host: Host, home: Path, key: str, rpc_url: str, deployment_file: Path) -> Runner:
    """A data directory for `host` holding the dev account `key`; bootstrap addresses are given at start."""
    config = NodeConfig(
        network=NetworkConfig(listen=(f"/ip4/{host.ip}/tcp/{P2P_PORT}",)),
        chain=ChainConfig(rpc_url=rpc_url, deployment=deployment_file.resolve()),
        api=ApiConfig(host=host.ip, port=API_PORT, allow_remote=True),
    )
    variable = f"PARITY_NETLAB_KEY_{host.name.upper()}"
    os.environ[variable] = key
    try:
        result = init_data_dir(home, PASSWORD, import_key_env=variable, config=config, kdf_iterations=FAST_KDF)
    finally:
        del os.environ[variable]
    return Runner(host, result.address, result.peer_id, home)


async def stake(deployment: Deployment, account: LocalAccount, peer_id: str, amount: int = 200 * UNIT) -> None:
    async with await ChainClient.connect(deployment, account=account) as client:
        await client.token.faucet(amount)
        await client.token.approve(deployment.registry, amount)
        await client.registry.register(peer_id, amount)


def start_runner(lab: NetLab, runner: Runner, bootstrap: list[str], log_level: str = "info") -> subprocess.Popen[bytes]:
    binary = Path(sys.executable).with_name("parity-node")
    args = [str(binary), "start", "--data-dir", str(runner.home), "--log-level", log_level]
    for addr in bootstrap:
        args += ["--bootstrap", addr]
    env = {**os.environ, "PARITY_KEYSTORE_PASSWORD": PASSWORD}
    return lab.popen(runner.host, args, log=runner.log, env=env)


async def wait_started(runner: Runner, process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT_S) -> str:
    """The node's API URL once it wrote api.json; RunnerStartError if it exits or takes longer than `timeout`."""
    layout = DataDir(runner.home)
    with trio.move_on_after(timeout):
        while True:
            url = layout.read_api_endpoint()
            if url is not None:
                return url
            if process.poll() is not None:
                raise RunnerStartError(runner.host, f"exited with {process.returncode}", runner.log_tail())
            await trio.sleep(0.1)
    raise RunnerStartError(runner.host, f"no API after {timeout:g} s", runner.log_tail())


async def wait_connected(runners: list[Runner], peers: int, timeout: float) -> None:
    """Until every runner's node reports at least `peers` connections; RunnerStartError after `timeout`."""
    counts: dict[str, int] = {}
    with trio.move_on_after(timeout):
        for runner in runners:
            async with NodeApiClient(*endpoint_for(runner.home)) as node:
                while (count := (await node.status()).connected_peers) < peers:
                    counts[runner.host.name] = count
                    await trio.sleep(0.25)
                counts[runner.host.name] = count
        return
    lagging = next(r for r in runners if counts.get(r.host.name, 0) < peers)
    raise RunnerStartError(
        lagging.host, f"connected to {counts} peers after {timeout:g} s, wanted {peers}", lagging.log_tail()
    )
