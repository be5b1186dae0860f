"""Turn off a veth's segmentation and checksum offloads (what `ethtool -K dev tx off sg off tso off gso off` does).

Why: with offloads on, a veth hands a packet socket 64 KiB TCP super-frames with unfilled checksums; the switch
could neither re-send them (larger than the MTU) nor would the receiver accept them (bad checksum). There is no
ethtool binary here, so this is the SIOCETHTOOL ioctl itself. Call it in the namespace that holds the device (the
root namespace, before the device is moved: features survive the move).
"""

from __future__ import annotations

import ctypes
import fcntl
import socket
import struct

from netlab.errors import NetlabError

SIOCETHTOOL = 0x8946
# ethtool "set" commands of the legacy ethtool_value interface (include/uapi/linux/ethtool.h)
ETHTOOL_STXCSUM = 0x17
ETHTOOL_SSG = 0x19
ETHTOOL_STSO = 0x1F
ETHTOOL_SGSO = 0x24
ETHTOOL_SGRO = 0x2C
OFFLOADS = {"tx-checksum": ETHTOOL_STXCSUM, "scatter-gather": ETHTOOL_SSG, "tso": ETHTOOL_STSO,
            "gso": ETHTOOL_SGSO, "gro": ETHTOOL_SGRO}  # fmt: skip


class OffloadError(NetlabError):
    def __init__(self, device: str, feature: str, reason: str) -> None:
        super().__init__(f"cannot turn off {feature} on {device}: {reason}")
        self.device, self.feature = device, feature


def disable_offloads(device: str) -> None:
    if not 0 < len(device) < 16:
        raise OffloadError(device, "any", "an interface name has 1-15 characters")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for feature, command in OFFLOADS.items():
            value = ctypes.create_string_buffer(struct.pack("II", command, 0))
            request = struct.pack("16sP", device.encode(), ctypes.addressof(value))
            try:
                fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)
            except OSError as exc:
                raise OffloadError(device, feature, exc.strerror or str(exc)) from None
