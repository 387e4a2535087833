"""The policy node holds its memory while it runs (the bound of `tether bench soak`: < 1 MB over
10 minutes at 500 Hz). Counts, not timings: the cycle is run a given number of times in this
process with the collector off, as the real-time loop runs it, and the Python memory it still holds
afterwards is bounded; the DDS graph check reads each discovered endpoint once, not every second
(cyclonedds-python's builtin-topic read keeps ~70-80 bytes of C heap per sample it returns, which
was the soak's steady ~66 KiB/min growth)."""

from __future__ import annotations

import gc
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from deploy.nodes.policy_node import PolicyNode
from deploy.runtime.config import DEFAULT_CONFIG
from deploy.runtime.rt_loop import CycleInfo
from deploy.runtime.safety import State
from deploy.transport import convert
from tests.runtime_helpers import hover_policy

WARMUP_CYCLES = 2_000
CYCLES = 10_000
#: Python memory the node may still hold after CYCLES more cycles than after the warm-up. A
#: per-cycle leak of 7 bytes or more exceeds it; what varies legitimately is bounded (the newest
#: odometry arrival times, the interpreter's free lists).
MAX_GROWTH_BYTES = 64 * 1024


@pytest.fixture
def dds_node(tmp_path: Path, dds_domain: int):
    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport

    use_loopback()
    config = tmp_path / "runtime.yaml"  # stamps judged by order only (the messages carry a counter)
    config.write_text(DEFAULT_CONFIG.read_text().replace("clock: system", "clock: none"))
    transport = DdsTransport("policy_node", dds_domain)
    try:
        node = PolicyNode(
            transport,
            {
                "policy_file": str(hover_policy(tmp_path / "hover.onnx")),
                "airborne_start": True,
                "runtime_config": str(config),
            },
        )
        yield node, transport
    finally:
        transport.close()


def test_the_cycle_through_dds_holds_its_python_memory(dds_node):
    node, t = dds_node
    assert node.odometry_as_cdr
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((512, 12)) * 0.01
    # the messages are built before the measurement: only the node's own work is traced
    odometry = []
    for k in range(512):
        q = np.array([1.0, *noise[k, :3]])
        odometry.append((q / np.linalg.norm(q), noise[k]))
    node._on_reference(convert.reference_msg(t.make, 1.0, np.array([0.0, 0.0, 2.0]), np.zeros(3)))

    def cycles(first: int, n: int) -> None:
        for k in range(first, first + n):
            q, e = odometry[k % len(odometry)]
            msg = convert.odometry_msg(t.make, 1.0 + k * 0.002, [0.0, 0.0, 2.0] + e[3:6], q, e[6:9], e[9:12])
            node._on_odometry_cdr(msg.serialize())  # as the DDS transport hands odometry over
            node._before(CycleInfo(k, time.monotonic_ns(), 0, 0))
            node._sink(node.runtime.step(time.monotonic(), 0))

    cycles(0, 1)
    node._on_arm(t.make("std_msgs/msg/Bool", data=True))
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # as the real-time loop runs (loop.disable_gc)
    try:
        cycles(1, WARMUP_CYCLES)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            cycles(1 + WARMUP_CYCLES, CYCLES)
            growth = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        unreachable = gc.collect()
    finally:
        if was_enabled:
            gc.enable()
    assert node.runtime.state is State.RUNNING
    assert node.sources.get("policy", 0) >= CYCLES
    assert growth < MAX_GROWTH_BYTES, f"{growth} bytes more after {CYCLES} cycles"
    if unreachable >= 100:  # the cycle should make (almost) no reference cycles for a collection to find
        pytest.xfail(f"known, not yet fixed: {unreachable} unreachable objects after {CYCLES} cycles")


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
