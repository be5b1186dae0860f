"""A local network of real processes: anvil, the contracts, and N `parity-node start` runners, staked and connected.

`Devnet.up()` leaves everything running and records it in `<root>/devnet.json`, so `parity-node devnet down` (or
`Devnet.down()`) can stop it from another process; `with Devnet(...) as net:` stops it on exit, on failure and on
Ctrl-C. Each process runs in its own process group, so stopping it never leaves an orphan.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import TracebackType

import trio

from parity_p2p.chain import ChainClient, Deployment, JsonRpc, deploy
from parity_p2p.devnet.anvil import AnvilNode, AnvilProcess
from parity_p2p.node.api.client import NodeApiClient, endpoint_for
from parity_p2p.node.config import ApiConfig, ChainConfig, NetworkConfig, NodeConfig
from parity_p2p.node.datadir import DataDir, init_data_dir
from parity_p2p.node.errors import NodeError

UNIT = 10**18
PASSWORD = "devnet-only-password"  # devnet keys are anvil's public dev keys: nothing here is secret
STATE_FILE = "devnet.json"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
RESTART_BOOTSTRAP_PEERS = 3  # a restarted runner dials several live peers: one of them may be going down too


class DevnetError(RuntimeError):
    """The devnet could not be brought up or down; the message says what to look at."""


@dataclass(frozen=True)
class DevnetNode:
    index: int
    address: str
    peer_id: str
    data_dir: Path
    log: Path
    pid: int


@dataclass
class DevnetState:
    root: Path
    rpc_url: str
    chain_id: int
    deployment_file: Path
    anvil_pid: int
    creator_key: str
    nodes: list[DevnetNode] = field(default_factory=list)

    def save(self) -> None:
        body = asdict(self)
        (self.root / STATE_FILE).write_text(json.dumps(body, indent=2, default=str) + "\n")

    @classmethod
    def load(cls, root: Path) -> DevnetState:
        try:
            raw = json.loads((root / STATE_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise DevnetError(f"no devnet recorded in {root} ({exc}); start one with `parity-node devnet up`") from None
        nodes = [DevnetNode(**{**n, "data_dir": Path(n["data_dir"]), "log": Path(n["log"])}) for n in raw["nodes"]]
        return cls(
            Path(raw["root"]), raw["rpc_url"], raw["chain_id"], Path(raw["deployment_file"]), raw["anvil_pid"],
            raw["creator_key"], nodes,
        )  # fmt: skip


def _node_binary() -> list[str]:
    found = shutil.which("parity-node", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "parity_p2p.node.cli"]


class Devnet:
    """`anvil_state`: anvil keeps its chain in this file (`--state`), so `restart_chain()` keeps every block.
    `anvil_port`: a fixed port (e.g. for a proxy set up before `up()`). `node_rpc_urls`: runner index -> the RPC URL
    that node uses instead of anvil's (a fault-injecting proxy); registration still talks to anvil directly."""

    def __init__(
        self,
        root: Path,
        runners: int = 4,
        *,
        stake: int = 200 * UNIT,
        log_level: str = "warning",
        anvil_state: Path | None = None,
        anvil_port: int | None = None,
        node_rpc_urls: Mapping[int, str] | None = None,
    ) -> None:
        if not 1 <= runners <= 64:
            raise DevnetError(f"runners must be between 1 and 64, got {runners}")
        unknown = sorted(set(node_rpc_urls or {}) - set(range(1, runners + 1)))
        if unknown:
            raise DevnetError(f"node_rpc_urls names runners {unknown}; runners are numbered 1..{runners}")
        self.root = root.resolve()
        self.runners = runners
        self.stake = stake
        self.log_level = log_level
        self.anvil_state = anvil_state
        self.anvil_port = anvil_port
        self.node_rpc_urls = dict(node_rpc_urls or {})
        self.anvil: AnvilProcess | None = None
        self.chain: AnvilNode | None = None
        self.state: DevnetState | None = None
        self._processes: list[subprocess.Popen[bytes]] = []
        self._by_index: dict[int, subprocess.Popen[bytes]] = {}
        self._previous_sigterm: signal._HANDLER | None = None

    # ---- up -----------------------------------------------------------------------------------------------------
    def up(self, progress: object = print) -> DevnetState:
        say = progress if callable(progress) else print
        if (self.root / STATE_FILE).exists():
            raise DevnetError(f"{self.root} already holds a devnet: run `parity-node devnet down --root {self.root}`")
        self.root.mkdir(parents=True, exist_ok=True)
        self.anvil = AnvilProcess(
            port=self.anvil_port, state_path=self.anvil_state, extra_args=("--accounts", str(self.runners + 1))
        )
        self.chain = chain = self.anvil.start()
        say(f"anvil up at {chain.url} (chain id {chain.chain_id}; in memory, gone when the devnet stops)")
        try:
            deployment = trio.run(self._deploy, chain)
            deployment_file = self.root / "deployment.json"
            deployment.save(deployment_file)
            say(f"contracts deployed: SessionManager {deployment.session_manager}, token {deployment.token}")
            assert self.anvil._proc is not None
            self.state = DevnetState(
                self.root, chain.url, chain.chain_id, deployment_file, self.anvil._proc.pid, chain.private_keys[0]
            )
            self._start_nodes(deployment, say)
            self.state.save()
            return self.state
        except BaseException:
            self.down()
            raise

    async def _deploy(self, chain: AnvilNode) -> Deployment:
        async with JsonRpc(chain.url) as rpc:
            return await deploy(rpc, chain.accounts[0], min_stake=100 * UNIT, unstake_cooldown=3600)

    def _start_nodes(self, deployment: Deployment, say: object) -> None:
        assert self.chain is not None and self.state is not None
        report = say if callable(say) else print
        homes = []
        for index in range(1, self.runners + 1):
            home = self.root / f"node{index}"
            config = NodeConfig(
                network=NetworkConfig(),
                chain=ChainConfig(
                    rpc_url=self.node_rpc_urls.get(index, self.chain.url), deployment=self.state.deployment_file
                ),
                api=ApiConfig(port=0),  # several nodes on one machine: each takes a free port (see api.json)
            )
            os.environ[f"PARITY_DEVNET_KEY_{index}"] = self.chain.private_keys[index]
            result = init_data_dir(home, PASSWORD, import_key_env=f"PARITY_DEVNET_KEY_{index}", config=config)
            del os.environ[f"PARITY_DEVNET_KEY_{index}"]
            trio.run(self._register, deployment, index, result.peer_id)
            homes.append((index, home, result.address, result.peer_id))
            report(f"runner {index}: {result.address} staked {self.stake // UNIT} USDFC, peer {result.peer_id}")
        # The first runner is every other one's bootstrap peer, so it comes up alone; the rest start together: each
        # spends seconds importing torch and unlocking its key, and one after another that added up to minutes.
        first = self._spawn(homes[0][1], [])
        self._wait_for_api(homes[0][1], *first)
        bootstrap: list[str] = trio.run(self._listen_addrs, homes[0][1])
        spawned = [first] + [self._spawn(home, bootstrap) for _, home, _, _ in homes[1:]]
        for (index, home, address, peer_id), (process, log) in zip(homes, spawned, strict=True):
            self._wait_for_api(home, process, log)
            self._by_index[index] = process
            self.state.nodes.append(DevnetNode(index, address, peer_id, home, log, process.pid))
        report(f"{len(homes)} parity-node processes up, bootstrapping from {bootstrap[0] if bootstrap else '-'}")

    async def _register(self, deployment: Deployment, index: int, peer_id: str) -> None:
        assert self.chain is not None
        async with await ChainClient.connect(deployment, account=self.chain.accounts[index]) as client:
            await client.token.faucet(self.stake)
            await client.token.approve(deployment.registry, self.stake)
            await client.registry.register(peer_id, self.stake)

    def _spawn(self, home: Path, bootstrap: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = home / "node.log"
        (home / "api.json").unlink(missing_ok=True)  # a node killed with -9 leaves its old one behind
        args = [*_node_binary(), "start", "--data-dir", str(home), "--log-level", self.log_level]
        for addr in bootstrap:
            args += ["--bootstrap", addr]
        env = {**os.environ, "PARITY_KEYSTORE_PASSWORD": PASSWORD}
        with log.open("ab") as out:  # appended: a restarted node's log follows its previous run
            process = subprocess.Popen(
                args, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._processes.append(process)
        return process, log

    def _wait_for_api(self, home: Path, process: subprocess.Popen[bytes], log: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while DataDir(home).read_api_endpoint() is None:  # exists and parses: the node has bound its API
            if process.poll() is not None:
                raise DevnetError(f"parity-node in {home} exited with {process.returncode}: {_tail(log)}")
            if time.monotonic() > deadline:
                raise DevnetError(f"parity-node in {home} did not start in {START_TIMEOUT_S:g} s: {_tail(log)}")
            time.sleep(0.1)

    async def _listen_addrs(self, home: Path) -> list[str]:
        url, token = endpoint_for(home)
        client = NodeApiClient(url, token)
        try:
            status = await client.status()
        finally:
            await client.aclose()
        return [a if "/p2p/" in a else f"{a}/p2p/{status.peer_id}" for a in status.listen_addrs][:1]

    # ---- faults: crash, restart (the fault drills in tests/faults/ use these) -------------------------------------
    def node(self, index: int) -> DevnetNode:
        if self.state is None:
            raise DevnetError("the devnet is not up")
        for node in self.state.nodes:
            if node.index == index:
                return node
        raise DevnetError(f"no runner {index}: runners are numbered 1..{self.runners}")

    def kill_node(self, index: int) -> None:
        """`kill -9` the runner's process group (no clean shutdown: what a crash or a power cut leaves)."""
        node = self.node(index)
        _signal_group(node.pid, signal.SIGKILL)
        process = self._by_index.get(index)
        if process is not None:
            process.wait(timeout=STOP_TIMEOUT_S)

    def restart_node(self, index: int) -> DevnetNode:
        """Start runner `index` again on its own data directory (same key, same peer id), bootstrapping from the
        other runners that answer; returns it with its new pid once its control API is up."""
        assert self.state is not None
        node = self.node(index)
        if _alive(node.pid):
            raise DevnetError(f"runner {index} (pid {node.pid}) is still running: kill_node({index}) first")
        bootstrap: list[str] = []
        for other in self.state.nodes:
            if other.index != index and _alive(other.pid) and len(bootstrap) < RESTART_BOOTSTRAP_PEERS:
                with contextlib.suppress(NodeError):  # dying, or not answering yet: ask the next one
                    bootstrap += trio.run(self._listen_addrs, other.data_dir)
        process, log = self._spawn(node.data_dir, bootstrap)
        self._wait_for_api(node.data_dir, process, log)
        self._by_index[index] = process
        restarted = replace(node, pid=process.pid)
        self.state.nodes[self.state.nodes.index(node)] = restarted
        self.state.save()
        return restarted

    def restart_chain(self, pause_s: float = 0.0) -> None:
        """Stop anvil (it writes its state on SIGTERM), wait `pause_s`, start it on the same port from that state."""
        if self.anvil is None or self.anvil_state is None:
            raise DevnetError("restart_chain needs a running devnet made with anvil_state=PATH (else it is lost)")
        self.anvil.stop()
        time.sleep(pause_s)
        self.chain = self.anvil.start()
        assert self.anvil._proc is not None and self.state is not None
        self.state.anvil_pid = self.anvil._proc.pid
        self.state.save()

    # ---- down ---------------------------------------------------------------------------------------------------
    def down(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL), then anvil; forget the state file."""
        stop_process_groups([p.pid for p in self._processes])
        for process in self._processes:
            process.wait()  # already gone or killed above; this lets Popen know (no "still running" warning)
        self._processes.clear()
        if self.anvil is not None:
            self.anvil.stop()
            self.anvil = None
        (self.root / STATE_FILE).unlink(missing_ok=True)

    def __enter__(self) -> Devnet:
        # SIGTERM (`kill`, `timeout`, a CI job's cancel) ends Python without unwinding: the node and anvil process
        # groups would outlive it. Within the block it unwinds like Ctrl-C, so __exit__ stops them.
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.down()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None


def down_recorded(root: Path) -> DevnetState:
    """`parity-node devnet down`: stop what `devnet up` recorded in `root` (from any process)."""
    state = DevnetState.load(root)
    stop_process_groups([n.pid for n in state.nodes])
    stop_process_groups([state.anvil_pid])
    (root / STATE_FILE).unlink(missing_ok=True)
    return state


def stop_process_groups(pids: list[int]) -> None:
    """SIGTERM each process group, wait for all, SIGKILL what is left."""
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
        _reap(pid)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child (down from another process)
        os.waitpid(pid, os.WNOHANG)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-1500:]
    except OSError:
        return "(no log)"
