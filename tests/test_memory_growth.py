"""The policy node holds its memory while it runs (the bound of `tether bench soak`: < 1 MB over
10 minutes at 500 Hz). Counts, not timings: the cycle is run a given number of times with the
collector off, as the real-time loop runs it, in a process of its own (tests/memory_probe.py), and
the Python memory it still holds afterwards and the reference cycles it left are bounded; the DDS
graph check reads each discovered endpoint once, not every second (cyclonedds-python's
builtin-topic read keeps ~70-80 bytes of C heap per sample it returns, which was the soak's steady
~66 KiB/min growth)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from deploy.runtime.safety import State
from tests.memory_probe import CYCLES

ROOT = Path(__file__).resolve().parents[1]

#: Python memory the node may still hold after CYCLES more cycles than after the warm-up. A
#: per-cycle leak of 7 bytes or more exceeds it; what varies legitimately is bounded (the newest
#: odometry arrival times, the interpreter's free lists).
MAX_GROWTH_BYTES = 64 * 1024
#: Reference cycles the collector may find after CYCLES cycles with it off: the cycle should make
#: none (a few may come from the transport's own threads).
MAX_UNREACHABLE = 100


def test_the_cycle_through_dds_holds_its_python_memory(tmp_path: Path, dds_domain: int):
    """tests/memory_probe.py in a process of its own: the node with nothing else running."""
    run = subprocess.run(
        [sys.executable, "-m", "tests.memory_probe", str(dds_domain), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["state"] == State.RUNNING.value
    assert got["policy_cycles"] >= got["cycles"] == CYCLES
    assert got["growth_bytes"] < MAX_GROWTH_BYTES, f"{got['growth_bytes']} bytes more after {CYCLES} cycles"
    unreachable = got["unreachable"]
    assert unreachable < MAX_UNREACHABLE, f"{unreachable} unreachable objects after {CYCLES} cycles"


def test_the_graph_check_reads_each_discovered_endpoint_once(dds_domain, monkeypatch):
    from cyclonedds.builtin import BuiltinDataReader

    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport

    use_loopback()
    returned = [0]
    real_read, real_take = BuiltinDataReader.read, BuiltinDataReader.take

    def counting(real):
        def wrapper(self, *args, **kwargs):
            out = real(self, *args, **kwargs)
            returned[0] += len(out)
            return out

        return wrapper

    monkeypatch.setattr(BuiltinDataReader, "read", counting(real_read))
    monkeypatch.setattr(BuiltinDataReader, "take", counting(real_take))
    node = DdsTransport("tether_node", dds_domain)
    peer = DdsTransport("peer_node", dds_domain)
    try:
        node.subscribe("/odom", "nav_msgs/msg/Odometry", "sensor_data", lambda m: None)
        node.publisher("/cmd", "sensor_msgs/msg/JointState", "sensor_data")
        peer.publisher("/odom", "nav_msgs/msg/Odometry", "sensor_data")
        peer.subscribe("/cmd", "sensor_msgs/msg/JointState", "sensor_data", lambda m: None)

        def peer_topics() -> set[tuple[str, bool]]:
            return {(e.topic, e.publisher) for e in node._peers()}

        for _ in range(200):  # discovery on loopback: normally well under a second
            if peer_topics() == {("/odom", True), ("/cmd", False)}:
                break
            time.sleep(0.02)
        assert peer_topics() == {("/odom", True), ("/cmd", False)}
        assert node.graph_problems() == []
        seen = returned[0]
        for _ in range(500):  # 500 s of a running node's once-a-second check
            assert peer_topics() == {("/odom", True), ("/cmd", False)}
        assert returned[0] == seen  # nothing read again: no per-check cost in the C heap
        peer.close()
        for _ in range(200):
            if not peer_topics():
                break
            time.sleep(0.02)
        assert peer_topics() == set()  # endpoints that left are dropped
    finally:
        peer.close()
        node.close()
