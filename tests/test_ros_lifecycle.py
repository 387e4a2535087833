"""The policy node as a ROS 2 managed (lifecycle) node on rclpy, driven through its
`/policy_node/change_state` service by another rclpy node, with the parameter file a launch file
uses. Skipped, visibly, where rclpy is not importable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.ros_helpers import needs_rclpy

ROOT = Path(__file__).resolve().parents[1]
ROBOT_PARAMS = ROOT / "launch" / "config" / "quadrotor_robot.yaml"  # what `ros2 launch` gives the node


pytestmark = needs_rclpy

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from std_msgs.msg import Bool
    from deploy.nodes.lifecycle_policy_node import LifecyclePolicyNode

    domain, params, policy = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    managed = LifecyclePolicyNode(
        args=["--ros-args", "--params-file", params, "-p", f"policy_file:={policy}"], domain_id=domain
    )
    managed.transport.start()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    cli = rclpy.create_node("operator", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(cli)
    change = cli.create_client(ChangeState, "/policy_node/change_state")
    get = cli.create_client(GetState, "/policy_node/get_state")
    arm = cli.create_publisher(Bool, "/tether/arm", 10)
    assert change.wait_for_service(timeout_sec=20) and get.wait_for_service(timeout_sec=20)

    def call(client, req):
        fut = client.call_async(req)
        ex.spin_until_future_complete(fut, timeout_sec=20)
        return fut.result()

    def transition(tid):
        req = ChangeState.Request()
        req.transition.id = tid
        return bool(call(change, req).success)

    def state():
        return call(get, GetState.Request()).current_state.label

    def arm_and_wait():
        before = len(managed.policy.arm_refusals)
        for _ in range(50):  # bounded: up to 5 s for discovery and delivery
            arm.publish(Bool(data=True))
            ex.spin_once(timeout_sec=0.1)
            if len(managed.policy.arm_refusals) > before:
                return managed.policy.arm_refusals[-1]
        return None

    T = Transition
    out = {"start": state(), "activate_first": transition(T.TRANSITION_ACTIVATE), "after_refusal": state()}
    out["refusal"] = managed.last_failure
    out["deactivate_first"] = transition(T.TRANSITION_DEACTIVATE)
    out["second_refusal"] = managed.last_failure
    out["configure"] = transition(T.TRANSITION_CONFIGURE)
    out["configured"] = state()
    out["arm_while_inactive"] = arm_and_wait()
    out["activate"] = transition(T.TRANSITION_ACTIVATE)
    out["active"] = state()
    out["arm_while_active"] = arm_and_wait()  # refused for want of odometry, not for the lifecycle
    out["deactivate"] = transition(T.TRANSITION_DEACTIVATE)
    out["runtime_after_deactivate"] = managed.policy.runtime.state.value
    out["cleanup"] = transition(T.TRANSITION_CLEANUP)
    out["cleaned"] = state()
    managed.node.set_parameters([Parameter("policy_file", value="/nonexistent/policy.onnx")])
    out["configure_bad_file"] = transition(T.TRANSITION_CONFIGURE)
    out["after_bad_configure"] = state()
    out["failure"] = managed.last_failure
    print(json.dumps(out), flush=True)
    managed.transport.close()
    """
)


def test_policy_node_lifecycle_driven_from_another_ros_node(tmp_path):
    from tests.runtime_helpers import hover_policy
    from tether.hil.domains import DomainLease

    policy = hover_policy(tmp_path / "hover.onnx")
    with DomainLease() as lease:
        r = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(lease.domain_id), str(ROBOT_PARAMS),
             str(policy)],
            capture_output=True, text=True, timeout=180, cwd=ROOT,
            env={**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"},
        )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["start"] == "unconfigured"
    assert out["activate_first"] is False and out["after_refusal"] == "unconfigured"  # out of order
    # reported by name, with the state and what it allows; the node answers on
    assert out["refusal"] == (
        "transition 'activate' refused: policy_node is 'unconfigured', which allows 'configure', 'shutdown'"
    )
    assert out["deactivate_first"] is False and "'deactivate' refused" in out["second_refusal"]
    assert out["configure"] is True and out["configured"] == "inactive"
    assert "not active (lifecycle)" in out["arm_while_inactive"]
    assert out["activate"] is True and out["active"] == "active"
    assert "not active" not in out["arm_while_active"] and "odometry" in out["arm_while_active"]
    assert out["deactivate"] is True and out["runtime_after_deactivate"] == "DISARMED"
    assert out["cleanup"] is True and out["cleaned"] == "unconfigured"
    assert out["configure_bad_file"] is False and out["after_bad_configure"] == "unconfigured"
    assert "nonexistent" in out["failure"]
