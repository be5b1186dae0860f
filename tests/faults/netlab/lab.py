"""N hosts, each in its own network namespace, on one impaired L2 segment; torn down on exit, also on failure.

    root ns:    ctl veth 10.a.b.254 ──┐ (clear port: the test process, anvil, the node APIs' callers)
    switch ns:  ports h1..hN, ctl ──── userspace switch (delay, seeded loss, per-port cut)
    host ns i:  eth0 10.a.b.i ──────┘

Every host-to-host frame crosses the switch once, so `delay_ms` one way gives an RTT of 2 x delay between hosts,
and `loss` applies per frame and direction (like `netem delay 80ms loss 2%` on every host's interface). When the
kernel has sch_netem the impairment is done by netem on the switch's host ports instead (then frames from the
control port to a host are delayed too, and losses do not show in the switch's counters), and the switch only
forwards and cuts (`backend` says which ran).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from netlab.errors import NetlabError, SwitchError
from netlab.offloads import disable_offloads
from netlab.system import PREFIX, kill_namespace_processes, netem_available, routed_networks, run, sweep_stale

SWITCH_SCRIPT = Path(__file__).with_name("switch.py")
PING_SCRIPT = Path(__file__).with_name("ping.py")
CONTROL_HOST = 254
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
Backend = Literal["userspace-switch", "netem"]
_LAB_NUMBERS = itertools.count()  # names are <prefix><pid>x<n>: unique per run, and short (15-byte link names)


@dataclass(frozen=True)
class Impairment:
    delay_ms: float = 80.0
    loss: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.delay_ms <= 10_000:
            raise NetlabError(f"delay_ms must be in [0, 10000], got {self.delay_ms}")
        if not 0 <= self.loss < 1:
            raise NetlabError(f"loss must be in [0, 1), got {self.loss}")


@dataclass(frozen=True)
class Host:
    name: str  # also the switch port's name
    namespace: str
    ip: str


@dataclass(frozen=True)
class PortStats:
    received: int
    forwarded: int
    dropped_loss: int
    dropped_cut: int
    dropped_send: int


@dataclass(frozen=True)
class SwitchStats:
    cut: tuple[str, ...]
    queued: int
    ports: dict[str, PortStats]


@dataclass(frozen=True)
class PingResult:
    sent: int
    received: int
    rtts_ms: tuple[float, ...]

    @property
    def loss(self) -> float:
        return 1 - self.received / self.sent if self.sent else 0.0

    @property
    def median_ms(self) -> float:
        ordered = sorted(self.rtts_ms)
        return ordered[len(ordered) // 2] if ordered else float("nan")


@dataclass
class NetLab:
    hosts_count: int
    impairment: Impairment = field(default_factory=Impairment)
    hosts: list[Host] = field(default_factory=list)
    control_ip: str = ""
    backend: Backend = "userspace-switch"
    _tag: str = field(default_factory=lambda: f"{os.getpid()}x{next(_LAB_NUMBERS) % 16:x}")
    _namespaces: list[str] = field(default_factory=list)
    _root_links: list[str] = field(default_factory=list)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="netlab-")))

    def __post_init__(self) -> None:
        if not 1 <= self.hosts_count <= 32:
            raise NetlabError(f"hosts_count must be in [1, 32], got {self.hosts_count}")

    @property
    def switch_ns(self) -> str:
        return f"{PREFIX}-{self._tag}-sw"

    @property
    def control_socket(self) -> Path:
        return self._workdir / "switch.sock"

    @property
    def switch_log(self) -> Path:
        return self._workdir / "switch.log"

    # ---- up / down ----------------------------------------------------------------------------------------------
    def __enter__(self) -> NetLab:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.down()

    def up(self) -> None:
        sweep_stale()
        subnet = _free_subnet()
        self._add_namespace(self.switch_ns)
        ports = []
        for index in range(1, self.hosts_count + 1):
            host = Host(f"h{index}", f"{PREFIX}-{self._tag}-h{index}", str(subnet[index]))
            self._add_namespace(host.namespace)
            inner, outer = f"{PREFIX}{self._tag}i{index}", f"{PREFIX}{self._tag}o{index}"
            self._veth(inner, outer)
            run("ip", "link", "set", inner, "netns", host.namespace)
            run("ip", "-n", host.namespace, "link", "set", inner, "name", "eth0")
            run("ip", "-n", host.namespace, "addr", "add", f"{host.ip}/{subnet.prefixlen}", "dev", "eth0")
            run("ip", "-n", host.namespace, "link", "set", "eth0", "up")
            self._to_switch(outer, host.name)
            self.hosts.append(host)
            ports.append(host.name)
        inner, outer = f"{PREFIX}{self._tag}c", f"{PREFIX}{self._tag}s"
        self._veth(inner, outer)
        self._root_links.append(inner)  # deleting one end deletes the pair
        self.control_ip = str(subnet[CONTROL_HOST])
        run("ip", "addr", "add", f"{self.control_ip}/{subnet.prefixlen}", "dev", inner)
        run("ip", "link", "set", inner, "up")
        self._to_switch(outer, "ctl")
        ports.append("ctl:clear")
        delay_ms, loss = self.impairment.delay_ms, self.impairment.loss
        if (delay_ms or loss) and netem_available(self.switch_ns):
            self.backend = "netem"
            for host in self.hosts:  # egress of the switch's host port = ingress of the host: one hop per frame
                run("ip", "netns", "exec", self.switch_ns, "tc", "qdisc", "add", "dev", host.name, "root", "netem",
                    "delay", f"{delay_ms}ms", "loss", f"{loss * 100}%")  # fmt: skip
            delay_ms, loss = 0.0, 0.0
        self._start_switch(ports, delay_ms, loss)

    def down(self) -> None:
        """Stop every process started in the lab, then delete the namespaces and links. Never raises."""
        _stop_groups(self._processes)
        self._processes.clear()
        for namespace in reversed(self._namespaces):
            kill_namespace_processes(namespace)
            run("ip", "netns", "del", namespace, check=False)
        self._namespaces.clear()
        for link in self._root_links:
            run("ip", "link", "del", link, check=False)
        self._root_links.clear()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _add_namespace(self, name: str) -> None:
        run("ip", "netns", "add", name)
        self._namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def _veth(self, a: str, b: str) -> None:
        run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        self._root_links.append(a)
        disable_offloads(a)
        disable_offloads(b)

    def _to_switch(self, link: str, port: str) -> None:
        run("ip", "link", "set", link, "netns", self.switch_ns)
        run("ip", "-n", self.switch_ns, "link", "set", link, "name", port)
        run("ip", "-n", self.switch_ns, "link", "set", port, "up")

    def _start_switch(self, ports: list[str], delay_ms: float, loss: float) -> None:
        args = [sys.executable, str(SWITCH_SCRIPT), "--delay-ms", str(delay_ms), "--loss", str(loss),
                "--seed", str(self.impairment.seed), "--control", str(self.control_socket)]  # fmt: skip
        for port in ports:
            args += ["--port", port]
        process = self.popen_in(self.switch_ns, args, log=self.switch_log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.control_socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SwitchError(f"the switch did not start: {self.switch_log.read_text(errors='replace')[-800:]}")
            time.sleep(0.05)

    # ---- processes ----------------------------------------------------------------------------------------------
    def popen(
        self, host: Host, args: list[str], *, log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `args` inside `host`'s namespace in its own process group; stopped by down()."""
        return self.popen_in(host.namespace, args, log=log, env=env)

    def popen_in(
        self, namespace: str, args: list[str], *, log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, *args], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, env=env,
            )  # fmt: skip
        self._processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        _stop_groups([process])
        if process in self._processes:
            self._processes.remove(process)

    # ---- the switch ---------------------------------------------------------------------------------------------
    def cut(self, host: Host) -> SwitchStats:
        """Drop every frame to and from `host` (its links stay up: to it, the network has gone silent)."""
        return self._control({"op": "cut", "port": host.name})

    def rejoin(self, host: Host) -> SwitchStats:
        return self._control({"op": "rejoin", "port": host.name})

    def stats(self) -> SwitchStats:
        return self._control({"op": "stats"})

    def _control(self, request: dict[str, Any]) -> SwitchStats:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5.0)
                sock.connect(str(self.control_socket))
                sock.sendall(json.dumps(request).encode() + b"\n")
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
        except OSError as exc:
            raise SwitchError(f"switch control {request}: {exc}") from None
        body = json.loads(reply)
        if not body.get("ok"):
            raise SwitchError(f"switch refused {request}: {body.get('error')}")
        return SwitchStats(
            tuple(body["cut"]), body["queued"], {name: PortStats(**c) for name, c in body["ports"].items()}
        )

    # ---- measuring ----------------------------------------------------------------------------------------------
    def ping(self, source: Host, target_ip: str, *, count: int = 50, interval_s: float = 0.02) -> PingResult:
        """ICMP echo from inside `source`'s namespace (our own pinger: no ping binary is installed here)."""
        args = ["ip", "netns", "exec", source.namespace, sys.executable, str(PING_SCRIPT), target_ip,
                "--count", str(count), "--interval", str(interval_s)]  # fmt: skip
        done = run(*args, timeout=count * interval_s + 30)
        body = json.loads(done.stdout)
        return PingResult(body["sent"], body["received"], tuple(body["rtts_ms"]))


def _free_subnet() -> ipaddress.IPv4Network:
    """A random 10.a.b.0/24 that the root namespace does not route yet."""
    taken = routed_networks()
    for _ in range(200):
        candidate = ipaddress.IPv4Network(f"10.{random.randint(200, 254)}.{random.randint(0, 255)}.0/24")
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise NetlabError("no free 10.a.b.0/24 subnet found for the lab")


def _stop_groups(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        _killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _killpg(process.pid, signal.SIGKILL)
            process.wait()
        _killpg(process.pid, signal.SIGKILL)  # children that outlived their group leader


def _killpg(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
