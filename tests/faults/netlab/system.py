"""Running `ip`/`tc`, probing what this machine allows, and sweeping what a crashed run left behind."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time

from netlab.errors import CommandFailed

PREFIX = "pnl"
"""Every namespace and root-namespace link the lab makes starts with this, then the creating process's pid: a
later run removes those whose creator is gone, so a crashed run cannot break the next."""
_OWNED = re.compile(rf"^{PREFIX}-?(\d+)")


def run(*args: str, check: bool = True, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise CommandFailed(list(args), done.returncode, done.stderr)
    return done


def why_not_available() -> str | None:
    """None if this process may create namespaces and veths, else the reason (for pytest.skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{PREFIX}-{os.getpid()}-probe"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` fails here: {made.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


def netem_available(namespace: str) -> bool:
    """Whether the kernel has sch_netem (the Debian kernels of CI may; this machine's does not)."""
    if shutil.which("tc") is None:
        return False
    added = run("ip", "netns", "exec", namespace, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
                check=False)  # fmt: skip
    if added.returncode != 0:
        return False
    run("ip", "netns", "exec", namespace, "tc", "qdisc", "del", "dev", "lo", "root", check=False)
    return True


def _creator_alive(name: str) -> bool:
    match = _OWNED.match(name)
    if match is None:
        return True  # not ours: never touch it
    pid = int(match.group(1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != 0


def kill_namespace_processes(namespace: str) -> None:
    """SIGKILL whatever still runs in a namespace the lab made (only processes inside that namespace)."""
    for _ in range(20):
        listed = run("ip", "netns", "pids", namespace, check=False).stdout.split()
        if not listed:
            return
        for pid in listed:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.05)


def sweep_stale() -> list[str]:
    """Delete namespaces and root links of earlier runs whose process is gone; returns what was removed."""
    removed = []
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX) and not _creator_alive(name):
            kill_namespace_processes(name)
            run("ip", "netns", "del", name, check=False)
            removed.append(name)
    for line in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        name = parts[1].strip().split("@")[0] if len(parts) > 1 else ""
        if name.startswith(PREFIX) and not _creator_alive(name):
            run("ip", "link", "del", name, check=False)
            removed.append(name)
    return removed


def routed_networks() -> list[ipaddress.IPv4Network]:
    """IPv4 networks the root namespace routes (a lab subnet must overlap none of them)."""
    networks = []
    for line in run("ip", "-4", "route", "show", check=False).stdout.splitlines():
        target = line.split()[0] if line.split() else ""
        with contextlib.suppress(ValueError):
            networks.append(ipaddress.IPv4Network(target, strict=False))
    return networks
