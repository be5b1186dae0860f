"""The network lab itself: the switch's decisions (pure), then real namespaces: ping sees the delay and the loss,
TCP carries data intact through the switch, a cut silences one host only, and nothing outlives the lab."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from netlab import Impairment, NetLab, NetlabError, SwitchError, why_not_available
from netlab.switch import MacTable, Policy, Scheduler
from netlab.system import netem_available, run, sweep_stale

DELAY_MS = 80.0
LOSS = 0.02
BROADCAST = b"\xff" * 6
MAC_A, MAC_B = bytes.fromhex("02aa00000001"), bytes.fromhex("02aa00000002")


# ---- the switch's decisions, without sockets -----------------------------------------------------------------------
def test_policy_delays_drops_at_the_seeded_rate_and_cuts_both_directions() -> None:
    policy = Policy(0.08, 0.02, seed=1, clear=frozenset({"ctl"}))
    verdicts = [policy.decide("h1", "h2") for _ in range(20_000)]
    lost = verdicts.count("loss") / len(verdicts)
    assert 0.015 < lost < 0.025
    assert set(verdicts) == {"loss", 0.08}
    again = Policy(0.08, 0.02, seed=1, clear=frozenset({"ctl"}))
    assert [again.decide("h1", "h2") for _ in range(20_000)] == verdicts  # seeded: a run can be replayed
    assert {policy.decide("h1", "ctl") for _ in range(1000)} == {0.0}  # the control port is never impaired
    policy.cut.add("h2")
    assert policy.decide("h1", "h2") == policy.decide("h2", "h1") == policy.decide("h2", "ctl") == "cut"
    assert policy.decide("h1", "h3") != "cut"


@pytest.mark.parametrize(("delay", "loss"), [(-0.1, 0.0), (0.08, 1.0), (0.08, -0.01)])
def test_policy_refuses_impossible_settings(delay: float, loss: float) -> None:
    with pytest.raises(ValueError, match="delay must be >= 0 and loss in"):
        Policy(delay, loss, seed=0)


def test_scheduler_releases_by_due_time_then_arrival() -> None:
    scheduler = Scheduler()
    scheduler.push(2.0, "h1", b"late")
    scheduler.push(1.0, "h2", b"first")
    scheduler.push(1.0, "h1", b"second")  # same due time: arrival order, so a flow is never reordered
    assert scheduler.next_due() == 1.0
    assert scheduler.pop_due(1.5) == [("h2", b"first"), ("h1", b"second")]
    assert len(scheduler) == 1
    assert scheduler.pop_due(2.0) == [("h1", b"late")]
    assert scheduler.next_due() is None


def test_mac_table_floods_unknown_and_broadcast_and_never_hairpins() -> None:
    table = MacTable()
    ports = ["h1", "h2", "h3"]
    assert table.targets(MAC_B, "h1", ports) == ["h2", "h3"]  # unknown: flood
    table.learn(MAC_B, "h2")
    table.learn(BROADCAST, "h3")  # a group address is never learned as a source
    assert table.targets(MAC_B, "h1", ports) == ["h2"]
    assert table.targets(BROADCAST, "h1", ports) == ["h2", "h3"]
    assert table.targets(MAC_B, "h2", ports) == []  # its own port: not sent back


@pytest.mark.parametrize(("delay_ms", "loss", "message"), [(-1.0, 0.0, "delay_ms"), (80.0, 1.0, "loss")])
def test_impairment_refuses_bad_values(delay_ms: float, loss: float, message: str) -> None:
    with pytest.raises(NetlabError, match=message):
        Impairment(delay_ms, loss)


def test_lab_refuses_a_bad_host_count() -> None:
    with pytest.raises(NetlabError, match="hosts_count"):
        NetLab(0)


# ---- real namespaces -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(netns_allowed: None) -> Iterator[NetLab]:
    with NetLab(3, Impairment(DELAY_MS, LOSS, seed=3)) as made:
        yield made


def test_ping_between_namespaces_sees_twice_the_delay_and_some_loss(lab: NetLab) -> None:
    before = lab.stats()
    result = lab.ping(lab.hosts[0], lab.hosts[1].ip, count=300, interval_s=0.01)
    after = lab.stats()
    print(f"backend {lab.backend}: {result.received}/{result.sent} replies, median RTT {result.median_ms:.1f} ms")
    assert lab.backend == ("netem" if netem_available(lab.switch_ns) else "userspace-switch")
    # Each direction crosses the switch once: RTT >= 2 x delay (a lower bound, not a speed claim).
    assert min(result.rtts_ms) >= 2 * DELAY_MS - 1
    assert result.median_ms < 2 * DELAY_MS + 240  # generous: a loaded 2-core machine
    # 2% per frame and direction: ~4% of echoes lost; 300 echoes lose none with probability ~5e-6.
    assert 0 < result.loss < 0.15, result
    if lab.backend == "userspace-switch":
        dropped = sum(after.ports[p].dropped_loss - before.ports[p].dropped_loss for p in ("h1", "h2"))
        assert dropped >= result.sent - result.received


TCP_SERVER = """
import hashlib, socket
with socket.create_server(("0.0.0.0", 5001)) as server:
    conn, _ = server.accept()
    digest = hashlib.sha256()
    while chunk := conn.recv(65536):
        digest.update(chunk)
    conn.sendall(digest.hexdigest().encode())
"""
TCP_CLIENT = """
import socket, sys, time
payload = open(sys.argv[2], "rb").read()
for attempt in range(50):  # the server may still be starting
    try:
        conn = socket.create_connection((sys.argv[1], 5001), timeout=30)
        break
    except ConnectionRefusedError:
        time.sleep(0.1)
conn.sendall(payload)
conn.shutdown(socket.SHUT_WR)
print(conn.recv(100).decode())
"""


def test_tcp_carries_a_megabyte_intact_through_delay_and_loss(lab: NetLab, tmp_path: Path) -> None:
    """Offloads off on every veth (netlab/offloads.py): else the switch would see 64 KiB frames with bad checksums."""
    payload = os.urandom(2 << 20)
    (tmp_path / "payload").write_bytes(payload)
    before = lab.stats()
    server = lab.popen(lab.hosts[2], [sys.executable, "-c", TCP_SERVER], log=tmp_path / "server.log")
    try:
        done = subprocess.run(
            ["ip", "netns", "exec", lab.hosts[0].namespace, sys.executable, "-c", TCP_CLIENT, lab.hosts[2].ip,
             str(tmp_path / "payload")], capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        lab.stop(server)
    after = lab.stats()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == hashlib.sha256(payload).hexdigest()
    if lab.backend == "userspace-switch":
        assert after.ports["h3"].dropped_loss > before.ports["h3"].dropped_loss  # TCP really had to recover
        assert after.ports["h3"].dropped_send == before.ports["h3"].dropped_send  # no oversized frame


def test_a_cut_silences_one_host_until_it_rejoins(lab: NetLab) -> None:
    h1, h2, h3 = lab.hosts
    stats = lab.cut(h3)
    try:
        assert stats.cut == ("h3",)
        assert lab.ping(h1, h3.ip, count=10).received == 0
        assert lab.ping(h3, h2.ip, count=10).received == 0
        assert lab.ping(h1, h2.ip, count=20).received > 0  # the others still talk
    finally:
        stats = lab.rejoin(h3)
    assert stats.cut == ()
    assert lab.ping(h1, h3.ip, count=20).received > 0
    assert lab.stats().ports["h3"].dropped_cut > 0


def test_switch_control_refuses_an_unknown_port(lab: NetLab) -> None:
    with pytest.raises(SwitchError, match="unknown port 'h9'"):
        lab._control({"op": "cut", "port": "h9"})
    with pytest.raises(SwitchError, match="unknown op 'flood'"):
        lab._control({"op": "flood"})


def _lab_leftovers(tag: str) -> list[str]:
    namespaces = run("ip", "netns", "list").stdout
    links = run("ip", "-o", "link", "show").stdout
    return [line for line in (namespaces + links).splitlines() if tag in line]


def test_everything_is_torn_down_also_on_failure(netns_allowed: None) -> None:
    lab = NetLab(2, Impairment(0, 0))
    tag = lab._tag
    with pytest.raises(RuntimeError, match="test failure"), lab:
        assert len(_lab_leftovers(tag)) >= 3  # two hosts and the switch namespace, the control link
        sleeper = lab.popen(lab.hosts[0], ["sleep", "600"], log=Path(os.devnull))
        switch = lab._processes[0]
        raise RuntimeError("test failure")
    assert _lab_leftovers(tag) == []
    assert sleeper.poll() is not None and switch.poll() is not None


def test_leftovers_of_a_crashed_run_are_swept(netns_allowed: None) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs: like a test process that crashed without tearing down
    namespace, link = f"pnl-{gone.pid}x0-sw", f"pnl{gone.pid}x0c"
    run("ip", "netns", "add", namespace)
    run("ip", "link", "add", link, "type", "veth", "peer", "name", f"pnl{gone.pid}x0s")
    try:
        removed = sweep_stale()
    finally:
        run("ip", "netns", "del", namespace, check=False)
        run("ip", "link", "del", link, check=False)
    assert namespace in removed and link in removed
    assert _lab_leftovers(f"{gone.pid}x0") == []



def test_the_skip_reason_names_root_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a non-root run (a developer's laptop) is told instead of a failure. The effective uid is faked: this
    machine runs the tests as root and a real unprivileged interpreter cannot read the venv."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = why_not_available()
    assert reason is not None and "need root" in reason
