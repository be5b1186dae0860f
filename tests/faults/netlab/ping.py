"""A minimal ICMP echo client (no ping binary is installed here): `python ping.py 10.0.0.2 --count 50`.

Prints one JSON object: {"sent": n, "received": m, "rtts_ms": [...]}. Runs as a script inside a host namespace
(root: raw socket), stdlib only. Replies are matched by our identifier and sequence number; a reply later than
`--timeout` counts as lost.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import struct
import sys
import time

ECHO_REQUEST, ECHO_REPLY = 8, 0


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int) -> bytes:
    payload = b"parity-netlab".ljust(32, b".")
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + payload), ident, seq) + payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=2.0)
    ns = parser.parse_args(argv)
    ident = os.getpid() & 0xFFFF
    sent_at: dict[int, float] = {}
    rtts: dict[int, float] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        next_send = time.monotonic()
        seq = 0
        while True:
            now = time.monotonic()
            if seq < ns.count and now >= next_send:
                seq += 1
                sock.sendto(echo_request(ident, seq), (ns.target, 0))
                sent_at[seq] = now
                next_send = now + ns.interval
            if seq >= ns.count and (len(rtts) == seq or now > sent_at[seq] + ns.timeout):
                break
            wait = max(0.0, (next_send if seq < ns.count else sent_at[seq] + ns.timeout) - now)
            readable, _, _ = select.select([sock], [], [], wait)
            if readable:
                packet, _ = sock.recvfrom(2048)
                header_len = (packet[0] & 0x0F) * 4  # raw IPv4 sockets deliver the IP header too
                kind, _, _, rid, rseq = struct.unpack("!BBHHH", packet[header_len : header_len + 8])
                arrived = time.monotonic()
                ours = kind == ECHO_REPLY and rid == ident and rseq in sent_at and rseq not in rtts
                if ours and arrived - sent_at[rseq] <= ns.timeout:
                    rtts[rseq] = (arrived - sent_at[rseq]) * 1000
    json.dump({"sent": seq, "received": len(rtts), "rtts_ms": [rtts[s] for s in sorted(rtts)]}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
