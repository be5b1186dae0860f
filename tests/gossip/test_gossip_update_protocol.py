"""/parity/update/1.0.0 between two real hosts: large pushes arrive intact, over-cap and refused pushes get a
reason, a stalled or trickling sender times out on the receiver."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
from gossip_helpers import wait_until
from hypothesis import given
from hypothesis import strategies as st

from parity_p2p.gossip.errors import BadFrame, StreamProtocolError, UpdateRejected
from parity_p2p.gossip.host import HostConfig, P2PHost, serve
from parity_p2p.gossip.streams import StreamLimits
from parity_p2p.gossip.update_protocol import (
    UPDATE_PROTOCOL,
    UpdateLimits,
    UpdateOffer,
    Verdict,
    push_update,
    register_update_handler,
)

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


@dataclass
class HashingSink:
    """Accepts updates for session 1 round 2 and keeps the SHA-256 of each body, like a leader storing them."""

    stored: list[tuple[UpdateOffer, str]] = field(default_factory=list)
    released: list[UpdateOffer] = field(default_factory=list)

    async def admit(self, offer: UpdateOffer, peer_id: str) -> Verdict:
        if (offer.session_id, offer.round) != (1, 2):
            return Verdict.reject(f"not collecting session {offer.session_id} round {offer.round}")
        return Verdict.accept()

    async def store(self, offer: UpdateOffer, data: bytes, peer_id: str) -> Verdict:
        self.stored.append((offer, hashlib.sha256(data).hexdigest()))
        return Verdict.accept()

    async def release(self, offer: UpdateOffer, peer_id: str) -> None:
        self.released.append(offer)


@asynccontextmanager
async def two_hosts(
    tmp_path: Path, sink: HashingSink, limits: UpdateLimits, stream_limits: StreamLimits | None = None
) -> AsyncIterator[tuple[P2PHost, P2PHost]]:
    extra = {"stream_limits": stream_limits} if stream_limits else {}
    async with trio.open_nursery() as nursery:
        leader: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "leader", **extra))
        runner: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "runner"))
        register_update_handler(leader, sink, limits)
        await runner.connect(leader.listen_addrs()[0])
        yield leader, runner
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("size", [1_000_000, 20_000_000])
async def test_push_arrives_intact(tmp_path: Path, size: int) -> None:
    sink = HashingSink()
    data = os.urandom(size)
    with trio.fail_after(60):
        async with two_hosts(tmp_path, sink, UpdateLimits(max_update_bytes=32_000_000)) as (leader, runner):
            await push_update(runner, leader.peer_id, session_id=1, round=2, cid=CID, data=data)
    assert sink.stored == [(UpdateOffer(1, 2, CID, size), hashlib.sha256(data).hexdigest())]
    assert sink.released == [UpdateOffer(1, 2, CID, size)]
    assert leader.metrics.counters["update.bytes_received"] == size


async def test_over_cap_and_unwanted_pushes_are_refused_with_a_reason(tmp_path: Path) -> None:
    sink = HashingSink()
    with trio.fail_after(30):
        async with two_hosts(tmp_path, sink, UpdateLimits(max_update_bytes=1000)) as (leader, runner):
            with pytest.raises(UpdateRejected, match="size 1001 exceeds the cap of 1000 bytes"):
                await push_update(runner, leader.peer_id, session_id=1, round=2, cid=CID, data=b"x" * 1001)
            with pytest.raises(UpdateRejected, match="not collecting session 1 round 3"):
                await push_update(runner, leader.peer_id, session_id=1, round=3, cid=CID, data=b"x")
            # The connection is still fine for a valid push afterwards.
            await push_update(runner, leader.peer_id, session_id=1, round=2, cid=CID, data=b"ok")
    assert [offer.size for offer, _ in sink.stored] == [2]
    assert [offer.size for offer in sink.released] == [2], "only an admitted offer is released"
    assert leader.metrics.counters["update.rejected"] == 2


@pytest.mark.parametrize("behaviour", ["stalls", "trickles"])
async def test_slow_sender_times_out_on_the_receiver(tmp_path: Path, behaviour: str) -> None:
    sink = HashingSink()
    limits = StreamLimits(read_timeout_s=0.5, frame_base_s=1.0, min_rate_bytes_per_s=1_000_000)
    with trio.fail_after(30):
        async with two_hosts(tmp_path, sink, UpdateLimits(), limits) as (leader, runner):
            stream = await runner.open_stream(leader.peer_id, UPDATE_PROTOCOL)
            await stream.write_json(UpdateOffer(1, 2, CID, 1000).to_json())
            assert (await stream.read_json(4096, UPDATE_PROTOCOL))["status"] == "READY"
            await stream._write((1000).to_bytes(4, "big") + b"x" * 10)
            if behaviour == "stalls":
                await trio.sleep(2.0)
            else:  # one byte every 0.3 s: each read is in time, the whole frame is not
                for _ in range(8):
                    await trio.sleep(0.3)
                    try:
                        await stream._write(b"x")
                    except StreamProtocolError:
                        break
            await wait_until(
                lambda: leader.metrics.counters["update.failed.StreamTimeout"] == 1, timeout=5, what="timeout"
            )
            await stream.aclose()
    assert sink.stored == []
    assert sink.released == [UpdateOffer(1, 2, CID, 1000)], "an admitted push whose body never came is released"


_VALUES = st.one_of(st.integers(), st.text(max_size=140), st.none(), st.booleans(), st.floats())


@given(
    st.one_of(
        st.dictionaries(st.text(max_size=8), _VALUES),
        st.fixed_dictionaries({key: _VALUES for key in ("session", "round", "cid", "size")}),
    )
)
def test_header_parsing_of_arbitrary_json_raises_only_bad_frame(raw: dict[str, object]) -> None:
    try:
        offer = UpdateOffer.from_json(raw)
    except BadFrame:
        return
    assert offer.size >= 0 and offer.cid.isascii()
