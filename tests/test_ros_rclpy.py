"""The same node logic on rclpy. Runs where ROS 2 is installed; skipped, visibly, where it is not.

rclpy and Cyclone DDS Python never share a process: the test process has Cyclone loaded, so
everything rclpy runs in a child process.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.ros_helpers import needs_rclpy

ROOT = Path(__file__).resolve().parents[1]


pytestmark = needs_rclpy

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from deploy.transport.rclpy.transport import RclpyTransport
    from deploy.transport import convert
    from deploy.nodes.policy_node import PolicyNode
    import threading

    policy = sys.argv[1]
    node_t = RclpyTransport("policy_node", domain_id=int(sys.argv[2]))
    node = PolicyNode(node_t, {"policy_file": policy, "airborne_start": True,
                               "runtime_config": "launch/config/runtime_sim.yaml"})
    op = RclpyTransport("operator", domain_id=int(sys.argv[2]))
    got = []
    op.subscribe("/tether/actuator_command", "sensor_msgs/msg/JointState", "default", got.append)
    odom = op.publisher("/odom", "nav_msgs/msg/Odometry", "sensor_data")
    ref = op.publisher("/tether/reference", "nav_msgs/msg/Odometry", "default")
    arm = op.publisher("/tether/arm", "std_msgs/msg/Bool", "default")
    op.start()
    runner = threading.Thread(target=node.run, daemon=True)
    runner.start()
    for k in range(400):  # bounded: about 4 s
        t = k * 0.01
        odom.publish(convert.odometry_msg(op.make, t, [0, 0, 2], [1, 0, 0, 0], [0, 0, 0], [0, 0, 0]))
        ref.publish(convert.reference_msg(op.make, t, np.array([0, 0, 2.0]), np.zeros(3)))
        if k % 20 == 10:
            arm.publish(op.make("std_msgs/msg/Bool", data=True))
        time.sleep(0.01)
    node.stop()
    runner.join(timeout=5)
    efforts = [list(m.effort) for m in got]
    assert got and list(got[-1].name) == ["motor_0", "motor_1", "motor_2", "motor_3"], got[-1:]
    assert node.runtime.state.value == "RUNNING", node.runtime.state
    assert all(np.all(np.isfinite(e)) for e in efforts) and max(max(e) for e in efforts) > 0.2
    print("ok", len(got))
    """
)


def test_policy_node_runs_on_rclpy(tmp_path):
    from tests.runtime_helpers import hover_policy
    from tether.hil.domains import DomainLease

    policy = hover_policy(tmp_path / "hover.onnx")
    with DomainLease() as lease:  # a domain of its own: a fixed one met other runs' odometry
        r = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(policy), str(lease.domain_id)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env={**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"},
        )
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
