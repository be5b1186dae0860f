"""Dead connections are noticed: our Yamux pings a quiet peer and closes a connection that stays silent.

Between the two real hosts sits a TCP relay that can stall: it keeps both sockets open and forwards nothing, as
a network cut does (no FIN, no RST; TCP alone would wait out its retransmission backoff)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from gossip_helpers import wait_until

from parity_p2p.gossip.errors import HostConfigError
from parity_p2p.gossip.host import HostConfig, P2PHost, serve
from parity_p2p.gossip.transport_stack import TransportSettings
from parity_p2p.gossip.yamux_frames import MuxerSettings

FAST = MuxerSettings(keepalive_interval_s=0.3, keepalive_timeout_s=1.0)


@dataclass
class StallableRelay:
    """Forwards one TCP connection to `target_port` until `stalled` is set; counts what it forwarded."""

    target_port: int
    stalled: bool = False
    forwarded: int = 0
    port: int = 0

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._relay, listeners)

    async def _relay(self, client: trio.SocketStream) -> None:
        server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server)
            nursery.start_soon(self._pump, server, client)

    async def _pump(self, source: trio.SocketStream, sink: trio.SocketStream) -> None:
        while chunk := await source.receive_some(65536):
            while self.stalled:
                await trio.sleep(0.05)  # hold the bytes: the cut loses them for good
                chunk = b""
            if chunk:
                self.forwarded += len(chunk)
                await sink.send_all(chunk)


@asynccontextmanager
async def relayed_hosts(tmp_path: Path, muxer: MuxerSettings) -> AsyncIterator[tuple[P2PHost, P2PHost, StallableRelay]]:
    transport = TransportSettings(tuned=True, muxer=muxer)
    async with trio.open_nursery() as nursery:
        a: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "a", transport=transport))
        b: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "b", transport=transport))
        b_port = int(b.listen_addrs()[0].split("/tcp/")[1].split("/")[0])
        relay = StallableRelay(b_port)
        await nursery.start(relay.serve)
        await a.connect(f"/ip4/127.0.0.1/tcp/{relay.port}/p2p/{b.peer_id}")
        yield a, b, relay
        nursery.cancel_scope.cancel()


async def test_a_quiet_but_live_connection_is_kept_by_its_pings(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with relayed_hosts(tmp_path, FAST) as (a, b, relay):
            await trio.sleep(0.5)  # the connection's own set-up traffic settles
            before = relay.forwarded
            await trio.sleep(3 * FAST.keepalive_timeout_s)  # no stream, no gossip: only pings and their answers
            assert a.is_connected(b.peer_id) and b.is_connected(a.peer_id)
            assert relay.forwarded > before, "nothing crossed the quiet connection: no keepalive pings were sent"


async def test_a_connection_that_goes_silent_is_closed_on_both_sides(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with relayed_hosts(tmp_path, FAST) as (a, b, relay):
            assert a.is_connected(b.peer_id)
            relay.stalled = True
            stalled_at = trio.current_time()
            await wait_until(
                lambda: not a.is_connected(b.peer_id) and not b.is_connected(a.peer_id),
                timeout=10, what="both hosts to drop the dead connection",
            )  # fmt: skip
            # Not before the timeout: a slow but live peer is not cut off.
            assert trio.current_time() - stalled_at >= FAST.keepalive_timeout_s - FAST.keepalive_interval_s
            relay.stalled = False
            b_addr = next(addr for addr in b.listen_addrs() if "/ip4/127.0.0.1/" in addr)
            await a.connect(b_addr)  # the network is back: a fresh connection works at once
            assert a.is_connected(b.peer_id)


@pytest.mark.parametrize(("interval", "timeout"), [(0.0, 1.0), (2.0, 1.0), (1.0, 1.0)])
def test_keepalive_settings_that_cannot_work_are_refused(interval: float, timeout: float) -> None:
    with pytest.raises(HostConfigError, match="keepalive_interval_s"):
        MuxerSettings(keepalive_interval_s=interval, keepalive_timeout_s=timeout)
