"""Update transfer: MB/s of /parity/update/1.0.0 between two processes on 127.0.0.1, against plain TCP.

Each measurement starts a fresh receiver process (a real P2PHost with the update handler, or a trio TCP server)
and times, in this process, one transfer of the same random bytes until the receiver confirmed it has them all:
push_update returns on ACCEPTED; the TCP sender waits for a one-byte ack. The median of a few repetitions is
reported, with the ratio libp2p / TCP computed in the same run (the machine is shared and noisy). py-libp2p's
stock Noise + Yamux is measured in the same interleaved run as the "before" figure (--no-stock skips it).

Two TCP references: "tcp" counts the bytes and drops them (the issue's reference: the wire alone); "tcp keep" also
gathers them into one buffer in the receiver's memory, as the update sink must hold an update (one copy of every
byte into fresh pages). The headline ratio is against "tcp"; the second is context for where the gap lies.

    .venv/bin/python bench/transfer.py [--quick] [--sizes 10 100] [--repetitions 5] [--no-stock]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import trio

from parity_p2p.gossip.host import HostConfig, P2PHost, serve
from parity_p2p.gossip.transport_stack import TransportSettings
from parity_p2p.gossip.update_protocol import UpdateLimits, UpdateOffer, Verdict, push_update, register_update_handler

MB = 1_000_000
RESULTS = Path(__file__).resolve().parent / "results"
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # any well-formed cid: the sink checks nothing
_LENGTH = struct.Struct(">Q")


@dataclass(frozen=True)
class TransferResult:
    size_mb: int
    repetitions: int
    libp2p_mb_s: float
    """The node's stack: our batched Noise + tuned Yamux (parity_p2p/gossip/transport_stack.py)."""
    tcp_mb_s: float
    ratio: float
    libp2p_seconds: list[float]
    tcp_seconds: list[float]
    stock_mb_s: float | None = None
    """py-libp2p's stock Noise + Yamux on both ends, same run (the "before" of issue 7.1); None if not measured."""
    stock_ratio: float | None = None
    stock_seconds: list[float] | None = None
    tcp_keep_mb_s: float | None = None
    """Plain TCP whose receiver also gathers the bytes into one buffer (what an update sink must hold)."""
    keep_ratio: float | None = None
    tcp_keep_seconds: list[float] | None = None


class _AcceptAll:
    """The receiver keeps nothing: the figure is the wire, not the node's validation and storage."""

    async def admit(self, offer: UpdateOffer, peer_id: str) -> Verdict:
        return Verdict.accept()

    async def store(self, offer: UpdateOffer, data: bytes, peer_id: str) -> Verdict:
        return Verdict.accept()

    async def release(self, offer: UpdateOffer, peer_id: str) -> None:
        """Nothing to release: admission keeps no state here."""


# ---- receivers (child processes) ----------------------------------------------------------------------------------
def _host_config(key_path: Path, stack: str) -> HostConfig:
    return HostConfig(key_path=key_path, transport=TransportSettings(tuned=stack == "tuned"))


async def _libp2p_receiver(key_dir: str, stack: str) -> None:
    async with trio.open_nursery() as nursery:
        host: P2PHost = await nursery.start(serve, _host_config(Path(key_dir) / "receiver", stack))
        register_update_handler(host, _AcceptAll(), UpdateLimits(max_update_bytes=2**31))
        print(host.listen_addrs()[0], flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)  # the parent closes our stdin when it is done
        nursery.cancel_scope.cancel()


async def _tcp_receiver(keep: bool) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    print(listeners[0].socket.getsockname()[1], flush=True)

    async def handle(stream: trio.SocketStream) -> None:
        buffer = bytearray()
        while len(buffer) < _LENGTH.size:
            buffer += await stream.receive_some()
        (size,) = _LENGTH.unpack(buffer[: _LENGTH.size])
        received = len(buffer) - _LENGTH.size
        kept = bytearray(size) if keep else bytearray()
        kept[:received] = buffer[_LENGTH.size :] if keep else b""
        view = memoryview(kept)
        while received < size:
            chunk = await stream.receive_some(1 << 20)
            if not chunk:
                raise RuntimeError(f"sender closed after {received} of {size} bytes")
            if keep:
                view[received : received + len(chunk)] = chunk
            received += len(chunk)
        await stream.send_all(b"\x01")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        await trio.to_thread.run_sync(sys.stdin.read)
        nursery.cancel_scope.cancel()


# ---- senders (this process) ---------------------------------------------------------------------------------------
class _Receiver:
    """A receiver child process; its first stdout line is where to reach it."""

    def __init__(self, kind: str, key_dir: str, stack: str = "tuned") -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--receiver", kind, "--key-dir", key_dir, "--stack", stack],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().decode().strip()
        if not self.address:
            self.stop()
            raise RuntimeError(f"{kind} receiver exited with {self.process.returncode} before listening")

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def _time_libp2p(address: str, data: bytes, key_dir: str, stack: str) -> float:
    async with trio.open_nursery() as nursery:
        host: P2PHost = await nursery.start(serve, _host_config(Path(key_dir) / "sender", stack))
        peer_id = await host.connect(address)
        await push_update(host, peer_id, session_id=1, round=1, cid=CID, data=b"warm-up")  # stream setup, once
        started = time.perf_counter()
        await push_update(host, peer_id, session_id=1, round=1, cid=CID, data=data)
        elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    return elapsed


async def _time_tcp(port: int, data: bytes) -> float:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        started = time.perf_counter()
        await stream.send_all(_LENGTH.pack(len(data)))
        await stream.send_all(data)
        ack = await stream.receive_some(1)
        elapsed = time.perf_counter() - started
    if ack != b"\x01":
        raise RuntimeError(f"TCP receiver answered {ack!r}")
    return elapsed


def _timed_libp2p(key_dir: str, data: bytes, stack: str) -> float:
    receiver = _Receiver("libp2p", key_dir, stack)
    try:
        return trio.run(_time_libp2p, receiver.address, data, key_dir, stack)
    finally:
        receiver.stop()


def measure(sizes_mb: tuple[int, ...], repetitions: int, with_stock: bool = True) -> list[TransferResult]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as key_dir:
        for size_mb in sizes_mb:
            data = os.urandom(size_mb * MB)  # incompressible, like trained float32 weights
            libp2p_s: list[float] = []
            tcp_s: list[float] = []
            keep_s: list[float] = []
            stock_s: list[float] = []
            for _ in range(repetitions):
                # Interleaved, so a noisy neighbour hurts every figure of the ratio alike.
                for kind, into in (("tcp", tcp_s), ("tcp-keep", keep_s)):
                    receiver = _Receiver(kind, key_dir)
                    try:
                        into.append(trio.run(_time_tcp, int(receiver.address), data))
                    finally:
                        receiver.stop()
                libp2p_s.append(_timed_libp2p(key_dir, data, "tuned"))
                if with_stock:
                    stock_s.append(_timed_libp2p(key_dir, data, "stock"))
            libp2p_mb_s = size_mb / statistics.median(libp2p_s)
            tcp_mb_s = size_mb / statistics.median(tcp_s)
            stock_mb_s = size_mb / statistics.median(stock_s) if stock_s else None
            keep_mb_s = size_mb / statistics.median(keep_s)
            result = TransferResult(
                size_mb,
                repetitions,
                libp2p_mb_s,
                tcp_mb_s,
                libp2p_mb_s / tcp_mb_s,
                libp2p_s,
                tcp_s,
                stock_mb_s,
                stock_mb_s / tcp_mb_s if stock_mb_s is not None else None,
                stock_s or None,
                keep_mb_s,
                libp2p_mb_s / keep_mb_s,
                keep_s,
            )
            stock_text = f", stock py-libp2p {stock_mb_s:8.1f} MB/s ({result.stock_ratio:.3f})" if stock_s else ""
            print(
                f"transfer {size_mb:4} MB: libp2p {libp2p_mb_s:8.1f} MB/s, tcp {tcp_mb_s:8.1f} MB/s, "
                f"ratio {result.ratio:.3f}{stock_text}; tcp keeping the bytes {keep_mb_s:8.1f} MB/s "
                f"({result.keep_ratio:.3f}) (median of {repetitions})",
                flush=True,
            )
            results.append(result)
    return results


def markdown(results: list[TransferResult]) -> str:
    lines = [
        "## Update transfer (127.0.0.1, two processes, median)",
        "",
        "| size | /parity/update/1.0.0 MB/s | plain TCP MB/s | ratio | stock py-libp2p MB/s | stock ratio "
        "| TCP keeping the bytes MB/s | ratio to it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        stock = f"{r.stock_mb_s:.1f} | {r.stock_ratio:.3f}" if r.stock_mb_s and r.stock_ratio else "- | -"
        keep = f"{r.tcp_keep_mb_s:.1f} | {r.keep_ratio:.3f}" if r.tcp_keep_mb_s and r.keep_ratio else "- | -"
        lines.append(f"| {r.size_mb} MB | {r.libp2p_mb_s:.1f} | {r.tcp_mb_s:.1f} | {r.ratio:.3f} | {stock} | {keep} |")
    return "\n".join(lines) + "\n"


def run(
    quick: bool = False,
    sizes: tuple[int, ...] | None = None,
    repetitions: int | None = None,
    with_stock: bool = True,
) -> list[TransferResult]:
    if sizes is None:
        sizes = (1, 10) if quick else (1, 10, 100)
    if repetitions is None:
        repetitions = 2 if quick else 5
    results = measure(sizes, repetitions, with_stock)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "transfer.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 10 MB only, two repetitions")
    parser.add_argument("--sizes", type=int, nargs="+", help="sizes in MB (default 1 10 100)")
    parser.add_argument("--repetitions", type=int, help="per size (default 5; the median is reported)")
    parser.add_argument("--no-stock", action="store_true", help="skip py-libp2p's stock Noise + Yamux")
    parser.add_argument("--receiver", choices=("libp2p", "tcp", "tcp-keep"), help=argparse.SUPPRESS)
    parser.add_argument("--stack", choices=("tuned", "stock"), default="tuned", help=argparse.SUPPRESS)
    parser.add_argument("--key-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver == "libp2p":
        trio.run(_libp2p_receiver, args.key_dir, args.stack)
    elif args.receiver in ("tcp", "tcp-keep"):
        trio.run(_tcp_receiver, args.receiver == "tcp-keep")
    else:
        sizes = tuple(args.sizes) if args.sizes else None
        print(markdown(run(args.quick, sizes, args.repetitions, not args.no_stock)))


if __name__ == "__main__":
    main()
