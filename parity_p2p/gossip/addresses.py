"""Which of our addresses to tell other peers: never 0.0.0.0 (unspecified) — nobody can dial that."""

from __future__ import annotations

import socket

_UNSPECIFIED = ("/ip4/0.0.0.0/", "/ip6/::/")


def primary_ipv4() -> str | None:
    """The local address of the default route, found without sending anything (UDP connect only picks a route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("0.") else address


def advertised_addrs(listen: list[str], announce: tuple[str, ...], peer_id: str) -> list[str]:
    """`announce` if configured (e.g. a public or NATed address), else the listen addresses with every unspecified
    one expanded to the primary IPv4 and loopback. Each ends in /p2p/<peer_id>."""
    suffix = f"/p2p/{peer_id}"
    if announce:
        return [a if a.endswith(suffix) else a + suffix for a in announce]
    result: list[str] = []
    for addr in listen:
        if addr.startswith("/ip4/0.0.0.0/"):
            rest = addr[len("/ip4/0.0.0.0/") :]
            hosts = [h for h in (primary_ipv4(), "127.0.0.1") if h]
            result.extend(f"/ip4/{host}/{rest}" for host in hosts)
        elif not addr.startswith(_UNSPECIFIED):
            result.append(addr)
    return list(dict.fromkeys(result))
