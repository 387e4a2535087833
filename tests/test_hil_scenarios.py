"""Hardware-in-the-loop over real DDS between real processes (loopback, private domain ids).

Two policies fly here: the shipped policies/quadrotor_hover.onnx (skipped, visibly, while it is
absent) and a linear fixture policy fitted to the PID near hover (tests/runtime_helpers.py), which
flies episode 0 of seed 0 well enough to exercise the plumbing, the metrics and every fault.
Each run starts two node processes and always stops them (tether.hil.processes).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from deploy.nodes.sim_bridge_node import DEFAULTS as BRIDGE_DEFAULTS
from tests.ros_helpers import needs_rclpy
from tests.runtime_helpers import SHIPPED_POLICY, hover_policy
from tether.hil.run import HilError, run_hil

SECONDS = 10.0  # hover episode (6 s) + two waypoints
needs_shipped = pytest.mark.skipif(
    not SHIPPED_POLICY.exists(),
    reason=f"{SHIPPED_POLICY} is absent: no trained hover policy has passed the gate yet (the linear "
    "fixture policy flies every fault in the default suite)",
)


@pytest.fixture(scope="module")
def fixture_policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("hil") / "linear_hover.onnx")


def _run(policy, tmp_path, faults=(), seconds=SECONDS, **kw):
    return run_hil(
        seconds=seconds,
        domain_id=None,  # leased per run: concurrent test sessions never share a domain
        faults=list(faults),
        policy=policy,
        work_dir=tmp_path / "work",
        progress=False,
        **kw,
    )


def _outcome(report, kind):
    (o,) = [o for o in report["fault_outcomes"] if o["fault"].startswith(kind)]
    return o


def test_fault_free_flight_records_mcap_and_agrees_with_eval(fixture_policy, tmp_path):
    bag = tmp_path / "run.mcap"
    r = _run(fixture_policy, tmp_path, record=bag)
    assert r["success"], json.dumps(r["flight"], default=str)
    fl = r["flight"]
    assert fl["hover_success"] and fl["waypoints_reached"] and fl["landed"] and fl["crash"] is None
    a = r["eval_agreement"]
    assert a["agree"] and a["eval_success"] == a["hil_hover_success"], a
    for key in ("latency_us_p50", "latency_us_p99", "jitter_us_p99"):
        assert r[key] is not None and r[key] > 0, key
    assert r["latency_us_p99"] >= r["latency_us_p50"] and r["latency_samples"] > 500
    # each odometry's cycle ran in the DDS receive thread right after its callback (runtime.yaml)
    assert r["cycle_trigger"] == {"mode": "sensor", "input": "odometry", "thread": "receive"}
    assert r["cycles_by_trigger"]["sensor_cycles"] > 10 * r["cycles_by_trigger"]["watchdog_cycles"]
    # nothing injected: every dropped message was lost in transport (deadline misses depend on the
    # host's load: bench/hil_timing.py reports them)
    dropped = r["messages_dropped_detail"]
    assert dropped["injected"] == 0 and r["messages_dropped"] == dropped["lost_in_transport_odometry"]
    assert [t["to"] for t in r["transitions"]] == ["STARTING", "RUNNING", "FAILSAFE", "DISARMED"]
    assert r["final_state"] == "DISARMED" and r["exit_codes"] == {"sim_bridge_node": 0, "policy_node": 0}

    # The bag is a rosbag2 MCAP file that rosbags (a reader we did not write) opens and decodes.
    from rosbags.rosbag2 import Reader

    from deploy.transport.messages import typestore

    with Reader(bag) as reader:
        topics = {c.topic: c for c in reader.connections}
        for t in (
            "/odom",
            "/imu/data",
            "/tether/actuator_command",
            "/diagnostics",
            "/clock",
            "/tether/reference",
        ):
            assert t in topics, sorted(topics)
        assert topics["/odom"].msgtype == "nav_msgs/msg/Odometry"
        conn = topics["/tether/actuator_command"]
        efforts = []
        for c, _, raw in reader.messages(connections=[conn]):
            msg = typestore().deserialize_cdr(raw, c.msgtype)
            assert list(msg.name) == ["motor_0", "motor_1", "motor_2", "motor_3"]
            efforts.append(np.asarray(msg.effort))
        assert len(efforts) > 500 and np.all(np.isfinite(efforts)) and np.max(efforts) > 0.2


def test_nan_burst_in_imu_and_external_estop(fixture_policy, tmp_path):
    r = _run(fixture_policy, tmp_path, faults=["nan@3", "estop@8"])
    nan, estop = _outcome(r, "nan"), _outcome(r, "estop")
    assert nan["met"], nan
    assert nan["observed"]["nonfinite_commands_received"] == 0
    assert nan["observed"]["imu_messages_rejected"] == nan["observed"]["nan_messages_sent"] == 10
    assert estop["met"], estop
    assert estop["observed"]["cycles_to_stop"] <= 1 and not estop["observed"]["thrust_after_stop"]
    assert r["success"]


def test_sensor_freeze_sends_the_policy_node_to_failsafe(fixture_policy, tmp_path):
    r = _run(fixture_policy, tmp_path, faults=["freeze@7"])
    o = _outcome(r, "freeze")
    assert o["met"], o
    obs = o["observed"]
    assert "stale_input: odometry" in obs["failsafe_transition"]["reason"]
    # no cycle ran the policy on odometry past its limit (how soon after the limit the node failed
    # safe is wall-clock timing: bench/hil_timing.py)
    assert 0.0 < obs["oldest_odometry_the_policy_ran_on_s"] <= obs["staleness_limit_s"]
    assert obs["odometry_age_at_failsafe_s"] >= obs["staleness_limit_s"]
    assert r["flight"]["crash"] is None and r["success"]


@pytest.mark.parametrize("fault", ["drop", "latency"])
def test_flight_still_succeeds_with_sensor_drops_or_added_latency(fixture_policy, tmp_path, fault):
    r = _run(fixture_policy, tmp_path, faults=[fault])
    o = _outcome(r, fault)
    assert o["met"], o
    assert r["success"] and r["flight"]["crash"] is None, json.dumps(r["flight"], default=str)
    if fault == "drop":
        assert r["messages_dropped_detail"]["injected"] > 0 and o["observed"]["injected_delays"] == 0
    else:  # every sensor message held back (the wall-clock latency is measured in bench/hil_timing.py)
        assert o["observed"]["injected_delays"] > 500 and o["observed"]["injected_drops"] == 0


def test_killing_the_policy_process_hands_over_to_the_bridge_watchdog(fixture_policy, tmp_path):
    r = _run(fixture_policy, tmp_path, faults=["kill@7"])
    o = _outcome(r, "kill")
    assert o["met"], o
    wd = o["observed"]["watchdog"]
    assert wd["landed"] and o["observed"]["crash"] is None
    # the watchdog counts simulated time: it trips on the first physics step past its timeout
    timeout_s, dt_s = BRIDGE_DEFAULTS["watchdog"]["timeout_s"], 1.0 / BRIDGE_DEFAULTS["sim_rate_hz"]
    assert timeout_s - 1e-9 <= o["observed"]["silent_sim_s_at_trip"] <= timeout_s + dt_s + 1e-9
    assert r["exit_codes"]["policy_node"] == -9 and r["exit_codes"]["sim_bridge_node"] == 0


def test_a_node_that_fails_to_start_is_reported_and_nothing_is_left_running(tmp_path):
    bad = tmp_path / "not_a_policy.onnx"
    bad.write_bytes(b"this is not an ONNX model")
    with pytest.raises(HilError, match="policy_node exited"):
        _run(bad, tmp_path)
    work = str(tmp_path / "work")
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if work in cmd:
                left.append(cmd)
    assert left == []


@needs_shipped
def test_shipped_policy_fault_free_agrees_with_eval(tmp_path):
    r = _run(SHIPPED_POLICY, tmp_path, seconds=20.0)
    assert r["success"], json.dumps(r["flight"], default=str)
    assert r["eval_agreement"]["agree"], r["eval_agreement"]


@needs_shipped
@pytest.mark.slow
@pytest.mark.parametrize("fault", ["drop", "latency"])
def test_shipped_policy_still_succeeds_with_sensor_drops_or_latency(tmp_path, fault):
    r = _run(SHIPPED_POLICY, tmp_path, faults=[fault], seconds=20.0)
    assert _outcome(r, fault)["met"], r["flight"]
    assert r["success"]


@needs_shipped
@pytest.mark.slow
@pytest.mark.parametrize("fault", ["freeze@8", "nan@4", "kill@8", "estop@8"])
def test_shipped_policy_meets_every_fault_outcome(tmp_path, fault):
    r = _run(SHIPPED_POLICY, tmp_path, faults=[fault], seconds=20.0)
    assert r["fault_outcomes"][0]["met"], r["fault_outcomes"]


@needs_rclpy
@pytest.mark.parametrize(
    ("policy_transport", "bridge_transport"),
    [
        ("rclpy", "dds"),
        ("dds", "rclpy"),
        # Both nodes on Fast DDS once failed to come up within 90 s inside the full suite (alone it
        # passes in ~20 s): kept out of the default run until that is understood.
        pytest.param("rclpy", "rclpy", marks=pytest.mark.slow),
    ],
)
def test_flights_across_transports_rclpy_on_fast_dds_and_cyclone_dds(
    fixture_policy, tmp_path, policy_transport, bridge_transport
):
    # the nodes read the same parameter file on either transport; the operator stays on Cyclone DDS
    r = _run(fixture_policy, tmp_path, policy_transport=policy_transport, bridge_transport=bridge_transport)
    assert r["transports"] == {"policy_node": policy_transport, "sim_bridge_node": bridge_transport}
    assert r["success"], json.dumps({"flight": r["flight"], "transitions": r["transitions"]}, default=str)
    assert r["eval_agreement"]["agree"], r["eval_agreement"]
    assert r["latency_samples"] > 500  # commands computed from the bridge's odometry came back through DDS
    # the command plane was signed across transports: the bridge flew the policy node's signed commands
    auth = r["command_auth"]
    assert auth["sim_bridge_node"]["mode"] == "signed" and auth["sim_bridge_node"]["accepted"] > 500, auth
    assert auth["policy_node"]["accepted"] > 0 and auth["policy_node"]["bad_signature"] == 0, auth
