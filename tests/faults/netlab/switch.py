"""A userspace L2 switch that delays and drops frames, for kernels without sch_netem.

Run inside the switch namespace (`ip netns exec <sw> python switch.py --port h1 --port h2 ... --control sock`): it
opens an AF_PACKET socket on every port (the outer ends of the hosts' veth pairs), learns source MACs, and forwards
each frame to the port that owns its destination MAC (floods broadcast, multicast and unknown destinations). A frame
between two impaired ports is dropped with probability `loss` (seeded) and otherwise sent `delay_ms` later by a
heap-ordered scheduler, so TCP between hosts really sees the delay and the loss; a port marked `:clear` (the test's
control host) is neither delayed nor dropped. A cut port drops everything to and from it until it is rejoined.

Control: one JSON object per line on a unix stream socket, one JSON reply per line:
  {"op": "cut", "port": "h3"}   {"op": "rejoin", "port": "h3"}   {"op": "stats"}
The socket file appears once every port is open, so its existence means "ready".

Stdlib only: this file runs as a script in another namespace, without the project's environment.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import heapq
import json
import os
import random
import select
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, field

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4  # pkttype of a frame this host sent: our own transmissions, never forwarded again
PACKET_IGNORE_OUTGOING = 23  # socket option (Linux >= 4.20): do not even deliver those to us
SOL_PACKET = 263
MAX_FRAME = 65536
BROADCAST_BIT = 0x01  # the I/G bit of the first destination octet: broadcast and multicast


@dataclass
class PortCounters:
    received: int = 0
    forwarded: int = 0
    dropped_loss: int = 0
    dropped_cut: int = 0
    dropped_send: int = 0


@dataclass
class Policy:
    """What happens to a frame between two ports; pure, so it is tested without sockets."""

    delay_s: float
    loss: float
    seed: int
    clear: frozenset[str] = frozenset()
    cut: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.delay_s < 0 or not 0 <= self.loss < 1:
            raise ValueError(f"delay must be >= 0 and loss in [0, 1), got {self.delay_s} s and {self.loss}")
        self._rng = random.Random(self.seed)

    def decide(self, src: str, dst: str) -> str | float:
        """The verdict on one frame: "cut" or "loss" when dropped, else its delay in seconds."""
        if src in self.cut or dst in self.cut:
            return "cut"
        if src in self.clear or dst in self.clear:
            return 0.0
        if self.loss and self._rng.random() < self.loss:
            return "loss"
        return self.delay_s


class Scheduler:
    """Frames due at a time, released in (due, arrival) order: a constant delay keeps each flow's order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, bytes]] = []
        self._seq = 0

    def push(self, due: float, port: str, frame: bytes) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, port, frame))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[str, bytes]]:
        out = []
        while self._heap and self._heap[0][0] <= now:
            _, _, port, frame = heapq.heappop(self._heap)
            out.append((port, frame))
        return out

    def __len__(self) -> int:
        return len(self._heap)


class MacTable:
    def __init__(self) -> None:
        self._owner: dict[bytes, str] = {}

    def learn(self, mac: bytes, port: str) -> None:
        if not mac[0] & BROADCAST_BIT:
            self._owner[mac] = port

    def targets(self, dst: bytes, src_port: str, ports: list[str]) -> list[str]:
        owner = None if dst[0] & BROADCAST_BIT else self._owner.get(dst)
        if owner is None:
            return [p for p in ports if p != src_port]
        return [] if owner == src_port else [owner]


class Switch:
    def __init__(self, ports: list[str], policy: Policy, control_path: str) -> None:
        self.policy = policy
        self.ports = ports
        self.counters = {p: PortCounters() for p in ports}
        self.macs = MacTable()
        self.scheduler = Scheduler()
        self.socks: dict[str, socket.socket] = {}
        for port in ports:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            with contextlib.suppress(OSError):  # older kernel: the pkttype check in _drain filters them instead
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            sock.bind((port, 0))
            sock.setblocking(False)
            self.socks[port] = sock
        self.by_fd = {s.fileno(): p for p, s in self.socks.items()}
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = control_path + ".tmp"
        self.control.bind(tmp)
        self.control.listen(4)
        os.rename(tmp, control_path)  # appears atomically once we are ready
        self.control.setblocking(False)
        self.clients: dict[int, tuple[socket.socket, bytearray]] = {}
        self.started = time.monotonic()

    def serve(self) -> None:
        poller = select.poll()
        for fd in self.by_fd:
            poller.register(fd, select.POLLIN)
        poller.register(self.control.fileno(), select.POLLIN)
        while True:
            due = self.scheduler.next_due()
            timeout_ms = 200 if due is None else max(0, int((due - time.monotonic()) * 1000) + 1)
            for fd, _ in poller.poll(timeout_ms):
                if fd in self.by_fd:
                    self._drain(self.by_fd[fd])
                elif fd == self.control.fileno():
                    client, _ = self.control.accept()
                    self.clients[client.fileno()] = (client, bytearray())
                    poller.register(client.fileno(), select.POLLIN)
                elif fd in self.clients and not self._serve_client(fd):
                    poller.unregister(fd)
                    self.clients.pop(fd)[0].close()
            for port, frame in self.scheduler.pop_due(time.monotonic()):
                self._send(port, frame)

    def _drain(self, port: str) -> None:
        sock = self.socks[port]
        while True:
            try:
                frame, addr = sock.recvfrom(MAX_FRAME)
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING or len(frame) < 14:
                continue
            self.counters[port].received += 1
            self.macs.learn(frame[6:12], port)
            now = time.monotonic()
            for target in self.macs.targets(frame[0:6], port, self.ports):
                verdict = self.policy.decide(port, target)
                if verdict == "cut":
                    self.counters[target].dropped_cut += 1
                elif verdict == "loss":
                    self.counters[target].dropped_loss += 1
                elif verdict == 0.0:
                    self._send(target, frame)
                else:
                    assert isinstance(verdict, float)
                    self.scheduler.push(now + verdict, target, frame)

    def _send(self, port: str, frame: bytes) -> None:
        if port in self.policy.cut:  # cut while the frame waited in the scheduler
            self.counters[port].dropped_cut += 1
            return
        try:
            self.socks[port].send(frame)
            self.counters[port].forwarded += 1
        except OSError as exc:
            if exc.errno not in (errno.ENOBUFS, errno.EAGAIN, errno.EMSGSIZE, errno.ENETDOWN, errno.ENXIO):
                raise
            self.counters[port].dropped_send += 1

    def _serve_client(self, fd: int) -> bool:
        client, buffer = self.clients[fd]
        chunk = client.recv(4096)
        if not chunk:
            return False
        buffer += chunk
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            client.sendall(json.dumps(self.handle(line)).encode() + b"\n")
        return True

    def handle(self, line: bytes) -> dict[str, object]:
        try:
            request = json.loads(line)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "error": f"not a JSON object with an 'op': {line[:80]!r}"}
        if op in ("cut", "rejoin"):
            port = request.get("port")
            if port not in self.counters:
                return {"ok": False, "error": f"unknown port {port!r}; ports are {', '.join(self.ports)}"}
            if op == "cut":
                self.policy.cut.add(port)
            else:
                self.policy.cut.discard(port)
        elif op != "stats":
            return {"ok": False, "error": f"unknown op {op!r}; ops are cut, rejoin, stats"}
        return {
            "ok": True, "cut": sorted(self.policy.cut), "queued": len(self.scheduler),
            "uptime_s": time.monotonic() - self.started, "ports": {p: asdict(c) for p, c in self.counters.items()},
        }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", action="append", required=True, help="interface name; NAME:clear = unimpaired")
    parser.add_argument("--delay-ms", type=float, default=80.0)
    parser.add_argument("--loss", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--control", required=True, help="unix socket path for cut/rejoin/stats")
    ns = parser.parse_args(argv)
    names = [p.split(":")[0] for p in ns.port]
    clear = frozenset(p.split(":")[0] for p in ns.port if p.endswith(":clear"))
    policy = Policy(ns.delay_ms / 1000.0, ns.loss, ns.seed, clear)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    switch = Switch(names, policy, ns.control)
    try:
        switch.serve()
    finally:
        os.unlink(ns.control)
    return 0


if __name__ == "__main__":
    sys.exit(main())
