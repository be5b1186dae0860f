"""Host lifecycle, identity file, configuration errors, connection limit, framed streams."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from libp2p.peer.id import ID

from parity_p2p.gossip.errors import (
    DialError,
    FrameTooLarge,
    HostConfigError,
    KeyFileError,
    ServiceStopped,
    StreamClosedEarly,
)
from parity_p2p.gossip.guarded_pubsub import GuardedPubsub
from parity_p2p.gossip.host import GossipSettings, HostConfig, P2PHost, serve
from parity_p2p.gossip.keyfile import create_key_file, load_key_file, load_or_create_key_file

ECHO = "/parity/test-echo/1.0.0"


def test_key_file_roundtrip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "id" / "libp2p.key"
    created = load_or_create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_key_file(path).public_key.to_bytes() == created.public_key.to_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        create_key_file(path)
    (tmp_path / "junk").write_bytes(b"not a key")
    with pytest.raises(KeyFileError, match="not a libp2p private key"):
        load_key_file(tmp_path / "junk")
    with pytest.raises(KeyFileError, match="No such file"):
        load_key_file(tmp_path / "missing")


def test_config_errors_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(HostConfigError, match="multiaddr"):
        HostConfig(key_path=tmp_path / "k", listen_addrs=("127.0.0.1:4001",))
    with pytest.raises(HostConfigError, match="lacks /p2p"):
        HostConfig(key_path=tmp_path / "k", bootstrap=("/ip4/127.0.0.1/tcp/4001",))
    with pytest.raises(HostConfigError, match="target_peers"):
        HostConfig(key_path=tmp_path / "k", target_peers=2)
    with pytest.raises(HostConfigError, match="degree"):
        GossipSettings(degree=3, degree_low=4)


async def test_same_identity_after_restart_and_clean_shutdown(tmp_path: Path) -> None:
    config = HostConfig(key_path=tmp_path / "node.key")
    ids = []
    for _ in range(2):
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                host: P2PHost = await nursery.start(serve, config)
                ids.append(host.peer_id)
                assert host.listen_addrs()[0].endswith(f"/p2p/{host.peer_id}")
                nursery.cancel_scope.cancel()
    assert ids[0] == ids[1]


async def test_dial_errors_and_connection_limit(tmp_path: Path) -> None:
    small = GossipSettings(degree=2, degree_low=1, degree_high=3)
    limited = HostConfig(key_path=tmp_path / "hub", max_connections=2, target_peers=2, gossip=small)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            hub: P2PHost = await nursery.start(serve, limited)
            others: list[P2PHost] = [
                await nursery.start(serve, HostConfig(key_path=tmp_path / f"o{i}")) for i in range(3)
            ]
            with pytest.raises(DialError, match="our own peer id"):
                await hub.connect(hub.listen_addrs()[0])
            with pytest.raises(DialError, match="not a full peer address"):
                await hub.connect("/ip4/127.0.0.1/tcp/1")
            stranger = ID.from_pubkey(create_key_file(tmp_path / "stranger").public_key).to_base58()
            dead = others[0].listen_addrs()[0].replace(others[0].peer_id, stranger)
            with pytest.raises(DialError):
                await hub.connect(dead)  # right port, wrong identity: Noise refuses
            await hub.connect(others[0].listen_addrs()[0])
            await hub.connect(others[1].listen_addrs()[0])
            with pytest.raises(DialError, match="connection limit 2"):
                await hub.connect(others[2].listen_addrs()[0])
            with pytest.raises(DialError):  # inbound: the hub's swarm refuses a third connection
                await others[2].connect(hub.listen_addrs()[0])
            assert len(hub.connected_peers()) == 2
            nursery.cancel_scope.cancel()


async def test_framed_stream_caps_and_eof(tmp_path: Path) -> None:
    results: list[object] = []

    async def handler(stream: object) -> None:
        try:
            results.append(await stream.read_frame(max_size=10))  # type: ignore[attr-defined]
            results.append(await stream.read_frame(max_size=10))  # type: ignore[attr-defined]
        except (FrameTooLarge, StreamClosedEarly) as exc:
            results.append(exc)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "s"))
            client: P2PHost = await nursery.start(serve, HostConfig(key_path=tmp_path / "c"))
            server.set_stream_handler(ECHO, handler)
            await client.connect(server.listen_addrs()[0])

            stream = await client.open_stream(server.peer_id, ECHO)
            await stream.write_frame(b"0123456789")
            await stream.write_frame(b"01234567890")  # one byte over: refused before its body is read
            await trio.sleep(0.3)
            await stream.aclose()

            stream = await client.open_stream(server.peer_id, ECHO)
            await stream._write((8).to_bytes(4, "big") + b"abc")  # promises 8 bytes, sends 3, then closes
            await stream.close_write()
            await trio.sleep(0.3)
            nursery.cancel_scope.cancel()
    assert results[0] == b"0123456789"
    assert isinstance(results[1], FrameTooLarge) and (results[1].size, results[1].limit) == (11, 10)
    assert isinstance(results[2], StreamClosedEarly) and (results[2].expected, results[2].received) == (8, 3)


async def test_a_crashed_pubsub_service_stops_the_host_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash_while_running(self: GuardedPubsub) -> None:
        self.manager.run_daemon_task(self.handle_peer_queue)
        self.manager.run_daemon_task(self.handle_dead_peer_queue)
        await trio.sleep(0.2)
        raise RuntimeError("some bug inside py-libp2p")

    monkeypatch.setattr(GuardedPubsub, "run", crash_while_running)
    with pytest.raises(BaseExceptionGroup) as info, trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(serve, HostConfig(key_path=tmp_path / "b"))
            await trio.sleep_forever()
    # Loud either way: our watcher's ServiceStopped, or py-libp2p's own error if its manager re-raises first.
    assert info.group_contains(ServiceStopped, depth=None) or info.group_contains(
        RuntimeError, match="some bug inside py-libp2p", depth=None
    )


async def test_closed_nursery_error_outside_shutdown_is_not_swallowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash_with_the_shutdown_message(self: GuardedPubsub) -> None:
        self.manager.run_daemon_task(self.handle_peer_queue)
        self.manager.run_daemon_task(self.handle_dead_peer_queue)
        await trio.sleep(0.2)
        raise RuntimeError("Nursery is closed to new arrivals")

    monkeypatch.setattr(GuardedPubsub, "run", crash_with_the_shutdown_message)
    with pytest.raises(BaseExceptionGroup) as info, trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(serve, HostConfig(key_path=tmp_path / "c"))
            await trio.sleep_forever()
    # Not mistaken for the shutdown race (which serve tolerates): the error surfaces.
    assert info.group_contains(ServiceStopped, depth=None) or info.group_contains(
        RuntimeError, match="Nursery is closed to new arrivals", depth=None
    )


async def test_unspecified_listen_address_is_never_advertised(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            wildcard: P2PHost = await nursery.start(
                serve, HostConfig(key_path=tmp_path / "w", listen_addrs=("/ip4/0.0.0.0/tcp/0",))
            )
            announced: P2PHost = await nursery.start(
                serve, HostConfig(key_path=tmp_path / "a", announce_addrs=("/ip4/203.0.113.7/tcp/4001",))
            )
            port = wildcard.listen_addrs()[0].split("/")[4]
            advertised = wildcard.advertised_addrs()
            assert f"/ip4/127.0.0.1/tcp/{port}/p2p/{wildcard.peer_id}" in advertised
            assert not any("0.0.0.0" in addr for addr in advertised)
            # Reachable through what it advertises:
            peer = await announced.connect(f"/ip4/127.0.0.1/tcp/{port}/p2p/{wildcard.peer_id}")
            assert peer == wildcard.peer_id
            assert announced.advertised_addrs() == [f"/ip4/203.0.113.7/tcp/4001/p2p/{announced.peer_id}"]
            nursery.cancel_scope.cancel()
