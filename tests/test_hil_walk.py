"""The quadruped through ROS 2: the legged bridge and the policy node as processes over real DDS
(loopback, a private domain leased per run, as tests/test_hil_scenarios.py), walking the shipped
policies/quadruped_walk.onnx (skipped, visibly, while it is absent).

Checked from the node reports, in states, orders, counts and simulated time (which hold under any
host load): the start-up sequence the hardware saw, the walk's fall and tracking errors against the
task's gate, agreement with `tether eval` of the same episode, and each fault's outcome. Each run
starts two node processes and always stops them (tether.hil.processes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ros_helpers import needs_rclpy
from tether.hil.run import run_hil

ROOT = Path(__file__).resolve().parents[1]
WALK_POLICY = ROOT / "policies" / "quadruped_walk.onnx"
pytestmark = pytest.mark.skipif(
    not WALK_POLICY.exists(),
    reason=f"{WALK_POLICY} is absent: produce it with `tether train quadruped-walk` + `tether export`",
)


def _run(tmp_path, seconds, faults=(), **kw):
    return run_hil(
        "quadruped-walk",
        seconds=seconds,
        domain_id=None,  # leased per run: concurrent test sessions never share a domain
        faults=list(faults),
        work_dir=tmp_path / "work",
        progress=False,
        **kw,
    )


def _outcome(report, kind):
    (o,) = [o for o in report["fault_outcomes"] if o["fault"].startswith(kind)]
    return o


def _clean_exit(r):
    assert r["exit_codes"] == {"sim_bridge_node": 0, "policy_node": 0}, r["exit_codes"]


def test_walk_stands_up_walks_sits_down_and_agrees_with_eval(tmp_path):
    bag = tmp_path / "walk.mcap"
    r = _run(tmp_path, 10.0, record=bag)
    detail = {k: r[k] for k in ("walk", "startup", "sit_down_after_disarm")}
    assert r["success"], json.dumps(detail, default=str)
    st = r["startup"]
    assert st["hardware_modes"][:4] == ["zero_torque", "damping", "stand_gains", "policy_gains"], st
    assert [t["to"] for t in r["transitions"]] == ["STARTING", "RUNNING", "FAILSAFE", "DISARMED"]
    assert r["policy_sources"]["starting"] >= 90  # 2 s of stand-up at 50 Hz (± a cycle at the edges)
    # cycles start on the IMU's arrival (the node's default), the timer only as the watchdog
    assert r["cycle_trigger"] == {"mode": "sensor", "input": "imu", "thread": "receive"}
    auth = r["command_auth"]["policy_node"]  # the operator's /cmd_vel and arm were signed and obeyed
    assert auth["mode"] == "signed" and auth["accepted"] > 100 and auth["bad_signature"] == 0, auth
    assert r["cycles_by_trigger"]["sensor_cycles"] > r["cycles_by_trigger"]["watchdog_cycles"]
    w = r["walk"]
    assert not w["fell"] and w["lin_vel_err_m_s"] <= 0.15 and w["yaw_rate_err_rad_s"] <= 0.2
    a = r["eval_agreement"]
    assert a["agree"], a
    assert r["sit_down_after_disarm"]["safe"]
    assert r["bridge"]["commands_rejected"] == {"positions": 0, "kp": 0, "kd": 0}
    assert min(r["bridge"]["commands_rx"].values()) > 0
    assert r["bridge"]["nonfinite_commands"] == 0
    _clean_exit(r)

    from rosbags.rosbag2 import Reader

    with Reader(bag) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
    assert topics["/joint_states"] == "sensor_msgs/msg/JointState"
    assert topics["/imu/data"] == "sensor_msgs/msg/Imu"
    assert topics["/cmd_vel"] == "geometry_msgs/msg/Twist"
    assert topics["/joint_position_controller/commands"] == "std_msgs/msg/Float64MultiArray"
    assert topics["/joint_kp_controller/commands"] == "std_msgs/msg/Float64MultiArray"
    assert topics["/joint_kd_controller/commands"] == "std_msgs/msg/Float64MultiArray"


@pytest.mark.slow
def test_walk_survives_dropped_and_late_sensor_messages(tmp_path):
    r = _run(tmp_path, 10.0, faults=["drop", "latency"])
    assert r["success"], json.dumps(r["fault_outcomes"], default=str)
    assert _outcome(r, "drop")["observed"]["injected_drops"] > 100
    assert _outcome(r, "latency")["observed"]["injected_delays"] > 100
    _clean_exit(r)


def test_frozen_joint_states_fail_safe_to_damping_and_the_robot_sits_down(tmp_path):
    r = _run(tmp_path, 5.0, faults=["freeze@2"])
    o = _outcome(r, "freeze")
    assert o["met"], json.dumps(o, default=str)
    obs = o["observed"]
    assert obs["oldest_joint_states_the_policy_ran_on_s"] <= obs["staleness_limit_s"]
    assert obs["sit_down"]["end_height_m"] < 0.15  # sat down, no fall
    assert r["success"]
    _clean_exit(r)


def test_nan_imu_is_rejected_never_reaches_the_joints_and_fails_safe(tmp_path):
    r = _run(tmp_path, 5.0, faults=["nan@2"])
    o = _outcome(r, "nan")
    assert o["met"], json.dumps(o, default=str)
    assert o["observed"]["nonfinite_commands_received"] == 0
    assert r["success"]
    _clean_exit(r)


def test_killed_policy_node_the_hardware_watchdog_damps_and_the_robot_sits_down(tmp_path):
    r = _run(tmp_path, 5.0, faults=["kill@2"])
    o = _outcome(r, "kill")
    assert o["met"], json.dumps(o, default=str)
    assert o["observed"]["sit_down"]["safe"]
    assert r["success"]


def test_estop_damps_from_the_next_cycle_and_no_stiffness_follows(tmp_path):
    r = _run(tmp_path, 5.0, faults=["estop@2"])
    o = _outcome(r, "estop")
    assert o["met"], json.dumps(o, default=str)
    assert o["observed"]["cycles_to_stop"] <= 1 and not o["observed"]["stiff_gains_after_stop"]
    assert r["final_state"] == "ESTOP"
    _clean_exit(r)


@pytest.mark.slow
@needs_rclpy
def test_walk_with_the_policy_node_on_rclpy(tmp_path):
    """The same walk with the policy node on ROS 2's rclpy (Fast DDS), the bridge on Cyclone DDS."""
    r = _run(tmp_path, 10.0, policy_transport="rclpy", compare_eval=False)
    assert r["success"], json.dumps({k: r[k] for k in ("walk", "startup")}, default=str)
    _clean_exit(r)
