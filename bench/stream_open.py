"""Small-request latency: open a stream, send an Iris-size update (11 kB) eagerly, read the verdict.

What a follower's push costs a round apart from the bytes: with our optimistic multistream-select
(parity_p2p/gossip/optimistic_select.py) the offer and body leave with the protocol proposal; with py-libp2p's
negotiation the sender first waits two round trips (header echo, protocol echo). Both against the same receiver
process (bench/transfer.py's, a real P2PHost with the update handler), alternating in one run; the median of many
pushes each. Measured on an idle receiver: on a busy one each round trip waits for its turn on the CPU as well.

    .venv/bin/python bench/stream_open.py [--pushes 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import transfer
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from parity_p2p.gossip.host import P2PHost, serve
from parity_p2p.gossip.streams import FramedStream
from parity_p2p.gossip.update_protocol import MAX_HEADER_BYTES, UPDATE_PROTOCOL, UpdateOffer

RESULTS = Path(__file__).resolve().parent / "results"
BODY_BYTES = 11_000  # an Iris update


@dataclass(frozen=True)
class OpenLatency:
    pushes: int
    optimistic_ms: float
    """Median open + offer + body + READY + ACCEPTED with the node's optimistic open."""
    negotiated_ms: float
    """The same with py-libp2p's two-round-trip negotiation before the first byte."""
    ratio: float


async def _push(stream: FramedStream, data: bytes) -> None:
    await stream.write_json(UpdateOffer(1, 1, transfer.CID, len(data)).to_json())
    await stream.write_frame(data)
    for expected in ("READY", "ACCEPTED"):
        answer = await stream.read_json(MAX_HEADER_BYTES, UPDATE_PROTOCOL)
        if answer.get("status") != expected:
            raise RuntimeError(f"receiver answered {answer}, expected {expected}")
    await stream.aclose()


async def _measure(address: str, key_dir: str, pushes: int) -> tuple[list[float], list[float]]:
    async with trio.open_nursery() as nursery:
        host: P2PHost = await nursery.start(serve, transfer._host_config(Path(key_dir) / "sender", "tuned"))
        peer = await host.connect(address)

        async def optimistic() -> FramedStream:
            return await host.open_stream(peer, UPDATE_PROTOCOL)

        async def negotiated() -> FramedStream:
            stream = await host._host.new_stream(ID.from_base58(peer), [TProtocol(UPDATE_PROTOCOL)])
            return FramedStream(stream, host.config.stream_limits)

        data = os.urandom(BODY_BYTES)
        times: dict[str, list[float]] = {"optimistic": [], "negotiated": []}
        for index in range(pushes + 20):  # the first 20 warm up, alternating like the rest
            for name, opener in (("optimistic", optimistic), ("negotiated", negotiated)):
                started = time.perf_counter()
                await _push(await opener(), data)
                if index >= 20:
                    times[name].append(time.perf_counter() - started)
        nursery.cancel_scope.cancel()
    return times["optimistic"], times["negotiated"]


def run(pushes: int = 300) -> OpenLatency:
    with tempfile.TemporaryDirectory(prefix="bench-open-") as key_dir:
        receiver = transfer._Receiver("libp2p", key_dir)
        try:
            optimistic, negotiated = trio.run(_measure, receiver.address, key_dir, pushes)
        finally:
            receiver.stop()
    a, b = statistics.median(optimistic) * 1000, statistics.median(negotiated) * 1000
    result = OpenLatency(pushes, round(a, 3), round(b, 3), round(a / b, 3))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stream_open.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def markdown(result: OpenLatency) -> str:
    return "\n".join(
        [
            f"## Small push latency ({BODY_BYTES // 1000} kB, stream open to verdict, median of {result.pushes})",
            "",
            "| optimistic open (ours) ms | py-libp2p negotiation ms | ratio |",
            "|---|---|---|",
            f"| {result.optimistic_ms:.3f} | {result.negotiated_ms:.3f} | {result.ratio:.3f} |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=300, help="per variant (default 300; the median is reported)")
    print(markdown(run(parser.parse_args().pushes)))


if __name__ == "__main__":
    main()
