"""Update transfer: MB/s of /parity/update/1.0.0 between two processes on 127.0.0.1, against plain TCP.

Each repetition starts a fresh receiver process per stack (a real P2PHost with the update handler, or a trio TCP
server) and times, in this process, WARMING_TRANSFERS + STEADY_TRANSFERS transfers of the same random bytes one
after another on one connection, each until the receiver confirmed it has them all: push_update returns on
ACCEPTED; the TCP senders wait for a one-byte ack. Medians are reported, with ratios computed in the same run (the
machine is shared and noisy), for the steady state (the last STEADY_TRANSFERS: a node receives an update every
round) and for the first transfer into a fresh process, which also pays for memory the process never touched
before (on this VM ~0.6 ms per MB, measured in the same run: more than plain TCP takes to move the bytes).
py-libp2p's stock Noise + Yamux is measured in the same interleaved run as the "before" figure (--no-stock skips
it).

Three TCP references: "tcp" counts the bytes and drops them (the issue's reference: the wire alone); "tcp_keep"
also gathers them into one buffer in the receiver's memory, as the update sink must hold an update; "tcp_sealed"
(sealed_tcp.py) also encrypts them as Noise does, with nothing else: the floor of any encrypted update stream on
this machine. The headline ratio is against "tcp"; the others locate the gap.

    .venv/bin/python bench/transfer.py [--quick] [--sizes 10 100] [--repetitions 5] [--no-stock]
"""

from __future__ import annotations

import argparse
import json
import mmap
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
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH
from sealed_tcp import receive_sealed, sealing, send_sealed

from parity_p2p.gossip.host import HostConfig, P2PHost, serve
from parity_p2p.gossip.transport_stack import TransportSettings
from parity_p2p.gossip.update_protocol import UpdateLimits, UpdateOffer, Verdict, push_update, register_update_handler

MB = 1_000_000
RESULTS = Path(__file__).resolve().parent / "results"
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # any well-formed cid: the sink checks nothing
_LENGTH = struct.Struct(">Q")

WARMING_TRANSFERS = 2
"""Transfers a fresh receiver process takes to reach its steady state (measured): glibc serves the first large
buffer from a new mapping and the second from newly grown heap, both fresh pages; from the third on it reuses the
memory the one before freed (for buffers up to its mmap threshold's cap, 32 MiB: larger ones are always fresh)."""
STEADY_TRANSFERS = 3
"""Transfers timed after the warming ones on the same connection. A node receives an update every round, so its
steady state is what a session sees; the first transfer into a fresh process also pays for fresh memory."""
STACKS = ("parity", "stock", "tcp", "tcp_keep", "tcp_sealed")


@dataclass(frozen=True)
class TransferResult:
    """Medians per stack: "parity" is the node's stack (batched Noise + our Yamux), "stock" py-libp2p's Noise +
    Yamux (the "before" of issue 7.1), "tcp" plain TCP dropping the bytes (the reference), "tcp_keep" plain TCP
    gathering them into one buffer as an update sink must, "tcp_sealed" plain TCP with Noise's encryption and
    nothing else (sealed_tcp.py: the floor of any encrypted stream)."""

    size_mb: int
    repetitions: int
    steady_mb_s: dict[str, float]
    """The STEADY_TRANSFERS after the WARMING_TRANSFERS of each fresh receiver process."""
    first_mb_s: dict[str, float]
    """The first transfer of each fresh receiver process."""
    ratio: float
    """parity / tcp, steady state: the headline."""
    first_ratio: float
    steady_seconds: dict[str, list[float]]
    first_seconds: dict[str, list[float]]
    fresh_memory_mb_s: float
    """This machine writing the same bytes into memory never touched before (every 4 KiB page faults)."""
    decrypt_mb_s: float
    """ChaCha20-Poly1305 decryption of the same bytes in Noise-sized messages (the receiver must do it)."""

    def stack_ratio(self, stack: str, *, first: bool = False) -> float | None:
        figures = self.first_mb_s if first else self.steady_mb_s
        return figures[stack] / figures["tcp"] if stack in figures else None


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


async def _tcp_receiver(kind: str) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    print(listeners[0].socket.getsockname()[1], flush=True)
    keep = kind == "tcp-keep"

    async def handle(stream: trio.SocketStream) -> None:
        pending = bytearray()
        while True:  # one length-prefixed transfer after another on the same connection, like pushes on one link
            while len(pending) < _LENGTH.size:
                chunk = await stream.receive_some()
                if not chunk:
                    return
                pending += chunk
            (size,) = _LENGTH.unpack(pending[: _LENGTH.size])
            del pending[: _LENGTH.size]
            received = min(size, len(pending))
            kept = bytearray(size) if keep else bytearray()
            view = memoryview(kept)
            if keep:
                view[:received] = pending[:received]
            del pending[:received]
            while received < size:
                chunk = await stream.receive_some(min(1 << 20, size - received))
                if not chunk:
                    raise RuntimeError(f"sender closed after {received} of {size} bytes")
                if keep:
                    view[received : received + len(chunk)] = chunk
                received += len(chunk)
            view.release()
            del kept
            await stream.send_all(b"\x01")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, receive_sealed if kind == "tcp-sealed" else handle, listeners)
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


async def _time_libp2p(address: str, data: bytes, key_dir: str, stack: str, transfers: int) -> list[float]:
    elapsed = []
    async with trio.open_nursery() as nursery:
        host: P2PHost = await nursery.start(serve, _host_config(Path(key_dir) / "sender", stack))
        peer_id = await host.connect(address)
        await push_update(host, peer_id, session_id=1, round=1, cid=CID, data=b"warm-up")  # connection set-up, once
        for _ in range(transfers):
            started = time.perf_counter()
            await push_update(host, peer_id, session_id=1, round=1, cid=CID, data=data)
            elapsed.append(time.perf_counter() - started)
        nursery.cancel_scope.cancel()
    return elapsed


async def _time_tcp(port: int, data: bytes, transfers: int, sealed: bool) -> list[float]:
    elapsed = []
    cipher = sealing()
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        for _ in range(transfers):
            started = time.perf_counter()
            if sealed:
                await send_sealed(stream, data, cipher)
            else:
                await stream.send_all(_LENGTH.pack(len(data)))
                await stream.send_all(data)
            ack = await stream.receive_some(1)
            elapsed.append(time.perf_counter() - started)
            if ack != b"\x01":
                raise RuntimeError(f"TCP receiver answered {ack!r}")
    return elapsed


def _timed(stack: str, key_dir: str, data: bytes, transfers: int) -> list[float]:
    """`transfers` pushes of `data` to a fresh receiver process of `stack`, one after another."""
    if stack.startswith("tcp"):
        receiver = _Receiver(stack.replace("_", "-"), key_dir)
        try:
            return trio.run(_time_tcp, int(receiver.address), data, transfers, stack == "tcp_sealed")
        finally:
            receiver.stop()
    libp2p_stack = "tuned" if stack == "parity" else "stock"
    receiver = _Receiver("libp2p", key_dir, libp2p_stack)
    try:
        return trio.run(_time_libp2p, receiver.address, data, key_dir, libp2p_stack, transfers)
    finally:
        receiver.stop()


def _fresh_memory_seconds(data: bytes) -> float:
    """Copy `data` into a new anonymous mapping: the cost of holding it in memory never touched before."""
    region = mmap.mmap(-1, len(data))
    started = time.perf_counter()
    region.write(data)
    elapsed = time.perf_counter() - started
    region.close()
    return elapsed


def _decrypt_seconds(data: bytes) -> float:
    aead = ChaCha20Poly1305(os.urandom(32))
    nonce = bytes(12)
    pieces = range(0, len(data), MAX_PLAINTEXT_LENGTH)
    messages = [aead.encrypt(nonce, data[i : i + MAX_PLAINTEXT_LENGTH], None) for i in pieces]
    started = time.perf_counter()
    for message in messages:
        aead.decrypt(nonce, message, None)
    return time.perf_counter() - started


def measure(
    sizes_mb: tuple[int, ...], repetitions: int, with_stock: bool = True, steady: int = STEADY_TRANSFERS
) -> list[TransferResult]:
    stacks = [stack for stack in STACKS if with_stock or stack != "stock"]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as key_dir:
        for size_mb in sizes_mb:
            data = os.urandom(size_mb * MB)  # incompressible, like trained float32 weights
            first: dict[str, list[float]] = {stack: [] for stack in stacks}
            later: dict[str, list[float]] = {stack: [] for stack in stacks}
            fresh, decrypt = [], []
            for _ in range(repetitions):
                # Interleaved, so a noisy neighbour hurts every figure of the ratio alike.
                for stack in stacks:
                    seconds = _timed(stack, key_dir, data, WARMING_TRANSFERS + steady)
                    first[stack].append(seconds[0])
                    later[stack].extend(seconds[WARMING_TRANSFERS:])
                fresh.append(_fresh_memory_seconds(data))
                decrypt.append(_decrypt_seconds(data))
            steady_mb_s = {stack: size_mb / statistics.median(later[stack]) for stack in stacks}
            first_mb_s = {stack: size_mb / statistics.median(first[stack]) for stack in stacks}
            result = TransferResult(
                size_mb,
                repetitions,
                steady_mb_s,
                first_mb_s,
                steady_mb_s["parity"] / steady_mb_s["tcp"],
                first_mb_s["parity"] / first_mb_s["tcp"],
                later,
                first,
                size_mb / statistics.median(fresh),
                size_mb / statistics.median(decrypt),
            )
            print(_progress_line(result), flush=True)
            results.append(result)
    return results


def _progress_line(r: TransferResult) -> str:
    def figures(mb_s: dict[str, float]) -> str:
        return ", ".join(f"{stack} {value:7.1f}" for stack, value in mb_s.items())

    return (
        f"transfer {r.size_mb:4} MB, MB/s steady: {figures(r.steady_mb_s)} (parity/tcp {r.ratio:.3f}); "
        f"first: {figures(r.first_mb_s)} (parity/tcp {r.first_ratio:.3f}); fresh memory "
        f"{r.fresh_memory_mb_s:.0f}, decrypt {r.decrypt_mb_s:.0f}"
    )


def markdown(results: list[TransferResult]) -> str:
    lines = ["## Update transfer (127.0.0.1, two processes, median)", ""]
    for first, title in (
        (
            False,
            f"Steady state (transfers {WARMING_TRANSFERS + 1}-{WARMING_TRANSFERS + STEADY_TRANSFERS} of each "
            "receiver process: what a session sees)",
        ),
        (True, "First transfer into a fresh receiver process (also pays for fresh memory)"),
    ):
        lines += [
            title,
            "",
            "| size | /parity/update/1.0.0 MB/s | plain TCP MB/s | ratio | stock py-libp2p MB/s | stock ratio "
            "| TCP keeping the bytes MB/s | parity / keeping | TCP encrypted (floor) MB/s | floor / TCP "
            "| parity / floor |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results:
            mb_s = r.first_mb_s if first else r.steady_mb_s
            stock_ratio = r.stack_ratio("stock", first=first)
            stock = f"{mb_s['stock']:.1f} | {stock_ratio:.3f}" if stock_ratio is not None else "- | -"
            lines.append(
                f"| {r.size_mb} MB | {mb_s['parity']:.1f} | {mb_s['tcp']:.1f} | {mb_s['parity'] / mb_s['tcp']:.3f} "
                f"| {stock} | {mb_s['tcp_keep']:.1f} | {mb_s['parity'] / mb_s['tcp_keep']:.3f} "
                f"| {mb_s['tcp_sealed']:.1f} | {mb_s['tcp_sealed'] / mb_s['tcp']:.3f} "
                f"| {mb_s['parity'] / mb_s['tcp_sealed']:.3f} |"
            )
        lines.append("")
    machine = ", ".join(f"{r.size_mb} MB: {r.fresh_memory_mb_s:.0f} / {r.decrypt_mb_s:.0f}" for r in results)
    lines.append(f"This machine, same run, MB/s writing into fresh memory / decrypting ChaCha20-Poly1305: {machine}.")
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
    parser.add_argument("--receiver", choices=("libp2p", "tcp", "tcp-keep", "tcp-sealed"), help=argparse.SUPPRESS)
    parser.add_argument("--stack", choices=("tuned", "stock"), default="tuned", help=argparse.SUPPRESS)
    parser.add_argument("--key-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver == "libp2p":
        trio.run(_libp2p_receiver, args.key_dir, args.stack)
    elif args.receiver is not None:
        trio.run(_tcp_receiver, args.receiver)
    else:
        sizes = tuple(args.sizes) if args.sizes else None
        print(markdown(run(args.quick, sizes, args.repetitions, not args.no_stock)))


if __name__ == "__main__":
    main()
