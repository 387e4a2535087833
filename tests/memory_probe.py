"""The policy node's Python memory over many cycles, measured in a process of its own.

Run by tests/test_memory_growth.py as `python -m tests.memory_probe DOMAIN DIRECTORY`; prints one
JSON object. A process of its own because the collector is off for the measurement, as the
real-time loop runs it: in the test process of a full run that window caught thousands of
unreachable objects (8458 and 16654 in two runs) against none when the test ran alone, so what
earlier tests left behind (their threads or state) made them, not the node. Here the node is the
only thing running, as on a robot.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

WARMUP_CYCLES = 2_000
CYCLES = 10_000


def measure(domain_id: int, directory: Path) -> dict[str, object]:
    from deploy.nodes.policy_node import PolicyNode
    from deploy.runtime.config import DEFAULT_CONFIG
    from deploy.runtime.rt_loop import CycleInfo
    from deploy.transport import convert
    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport
    from tests.runtime_helpers import hover_policy

    use_loopback()
    config = directory / "runtime.yaml"  # stamps judged by order only (the messages carry a counter)
    config.write_text(DEFAULT_CONFIG.read_text().replace("clock: system", "clock: none"))
    transport = DdsTransport("policy_node", domain_id)
    try:
        node = PolicyNode(
            transport,
            {
                "policy_file": str(hover_policy(directory / "hover.onnx")),
                "airborne_start": True,
                "runtime_config": str(config),
            },
        )
        rng = np.random.default_rng(0)
        noise = rng.standard_normal((512, 12)) * 0.01
        # the messages' values are made before the measurement: only the node's own work is traced
        odometry = []
        for k in range(512):
            q = np.array([1.0, *noise[k, :3]])
            odometry.append((q / np.linalg.norm(q), noise[k]))
        t = transport
        node._on_reference(convert.reference_msg(t.make, 1.0, np.array([0.0, 0.0, 2.0]), np.zeros(3)))

        def cycles(first: int, n: int) -> None:
            for k in range(first, first + n):
                q, e = odometry[k % len(odometry)]
                pos = [0.0, 0.0, 2.0] + e[3:6]
                msg = convert.odometry_msg(t.make, 1.0 + k * 0.002, pos, q, e[6:9], e[9:12])
                node._on_odometry_cdr(msg.serialize())  # as the DDS transport hands odometry over
                node._before(CycleInfo(k, time.monotonic_ns(), 0, 0))
                node._sink(node.runtime.step(time.monotonic(), 0))

        cycles(0, 1)
        node._on_arm(t.make("std_msgs/msg/Bool", data=True))
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
            gc.enable()
        return {
            "cycles": CYCLES,
            "growth_bytes": growth,
            "unreachable": unreachable,
            "state": node.runtime.state.value,
            "policy_cycles": node.sources.get("policy", 0),
        }
    finally:
        transport.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m tests.memory_probe DOMAIN_ID DIRECTORY")
    print(json.dumps(measure(int(sys.argv[1]), Path(sys.argv[2]))))
