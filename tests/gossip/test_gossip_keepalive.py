"""Dead connections are noticed: our Yamux pings a quiet peer and closes a connection that stays silent.

Between the two real hosts sits a TCP relay that can stall: it keeps both sockets open and forwards nothing, as
a network cut does (no FIN, no RST; TCP alone would wait out its retransmission backoff)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from fixtures.tcp_relay import TcpRelay, relayed_hosts
from gossip_helpers import wait_until

from parity_p2p.gossip.errors import HostConfigError
from parity_p2p.gossip.host import P2PHost
from parity_p2p.gossip.transport_stack import TransportSettings
from parity_p2p.gossip.yamux_frames import MuxerSettings

FAST = MuxerSettings(keepalive_interval_s=0.3, keepalive_timeout_s=1.0)


@dataclass
class StallableRelay(TcpRelay):
    """Forwards nothing while `stalled` is set: the bytes of a cut are lost for good."""

    stalled: bool = False

    async def interfere(self, chunk: bytes, toward_dialer: bool) -> bytes:
        while self.stalled:
            await trio.sleep(0.05)
            chunk = b""
        return chunk


def stalling_hosts(
    tmp_path: Path, muxer: MuxerSettings
) -> AbstractAsyncContextManager[tuple[P2PHost, P2PHost, StallableRelay]]:
    return relayed_hosts(tmp_path, StallableRelay, TransportSettings(tuned=True, muxer=muxer))


async def test_a_quiet_but_live_connection_is_kept_by_its_pings(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with stalling_hosts(tmp_path, FAST) as (a, b, relay):
            await trio.sleep(0.5)  # the connection's own set-up traffic settles
            before = relay.forwarded
            await trio.sleep(3 * FAST.keepalive_timeout_s)  # no stream, no gossip: only pings and their answers
            assert a.is_connected(b.peer_id) and b.is_connected(a.peer_id)
            assert relay.forwarded > before, "nothing crossed the quiet connection: no keepalive pings were sent"


async def test_a_connection_that_goes_silent_is_closed_on_both_sides(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with stalling_hosts(tmp_path, FAST) as (a, b, relay):
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
