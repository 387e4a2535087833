"""The hover scenario through PX4's uXRCE-DDS offboard protocol over real DDS (loopback, a leased
private domain): `tether hil --vehicle px4`. The policy node drives /fmu/in from /fmu/out
(deploy/px4/interface.py); the bridge emulates PX4 (deploy/px4/emulator.py). The policy is the
linear fixture the other hover HIL tests fly (tests/runtime_helpers.py) until a hover policy is
shipped. Checked from the node reports, on order, counts and states (the flight's quality depends on
how loaded the host is; tests/test_px4_emulator.py checks the same rules on a controlled clock):
OFFBOARD before arming before the first applied motor command, no motor command applied outside
armed + OFFBOARD, the PX4 side of each fault. Each run starts two node processes and always stops
them (tether.hil.processes)."""

from __future__ import annotations

import json

import pytest

from tests.runtime_helpers import hover_policy
from tether.hil.run import run_hil

SECONDS = 6.0  # the hover episode


@pytest.fixture(scope="module")
def fixture_policy(tmp_path_factory):
    from deploy.px4 import messages

    try:
        messages.register()
    except messages.Px4DefinitionsMissingError as exc:
        pytest.skip(str(exc))
    return hover_policy(tmp_path_factory.mktemp("hil_px4") / "linear_hover.onnx")


def _run(policy, tmp_path, faults=(), seconds=SECONDS):
    return run_hil(
        seconds=seconds,
        domain_id=None,
        faults=list(faults),
        policy=policy,
        work_dir=tmp_path / "work",
        progress=False,
        vehicle="px4",
        compare_eval=False,
    )


def _outcome(report, kind):
    (o,) = [o for o in report["fault_outcomes"] if o["fault"].startswith(kind)]
    return o


def _protocol_ok(r):
    """What holds on every PX4 run: engaged in order, motors only while armed + OFFBOARD."""
    p = r["px4"]
    dump = json.dumps({k: r.get(k) for k in ("px4", "transitions", "flight")}, default=str)
    assert p["met"] and p["offboard_before_arm"], dump
    assert p["motors_applied"] > 50, dump
    # the only motor commands PX4 ignored are NaN ones that crossed a disarm on the wire
    assert set(p["motors_ignored"]) <= {"not_armed"}, dump
    # refused: an early mode / arm request (heartbeat not yet 1 s at the vehicle), repeated until
    # accepted; a disarm while still in the air (after an e-stop), repeated until on the ground
    assert set(p["commands_refused"]) <= {"offboard_no_heartbeat", "arm_not_offboard", "disarm_not_landed"}, (
        dump
    )
    if r["transitions"] is not None:  # the policy node wrote its report (it was not killed)
        assert [t["to"] for t in r["transitions"][:2]] == ["STARTING", "RUNNING"], dump
        assert p["interface"]["refused"] == {}, dump  # every VehicleOdometry fit (frames, stamps)


def test_px4_hover_engages_offboard_in_order_and_ends_landed_and_disarmed(fixture_policy, tmp_path):
    r = _run(fixture_policy, tmp_path)
    _protocol_ok(r)
    assert r["vehicle"] == "px4" and r["px4"]["failsafe"] is None
    assert r["flight"]["crash"] is None and r["flight"]["landed"], json.dumps(r["flight"], default=str)
    assert r["transitions"][-1]["to"] == "DISARMED" and r["final_state"] == "DISARMED"
    itf = r["px4"]["interface"]
    assert itf["sent"]["heartbeat"] > 0 and itf["sent"]["vehicle_command"] >= 2
    assert r["latency_samples"] > 100  # VehicleOdometry → ActuatorMotors matched by timestamp_sample
    assert r["exit_codes"] == {"sim_bridge_node": 0, "policy_node": 0}


def test_px4_killed_companion_offboard_loss_hold_then_land(fixture_policy, tmp_path):
    r = _run(fixture_policy, tmp_path, faults=["kill@3"])
    _protocol_ok(r)
    o = _outcome(r, "kill")
    assert o["met"], json.dumps(o, default=str)
    wd = o["observed"]["watchdog"]
    assert wd["reason"].startswith("px4 offboard lost") and wd["timeout_s"] == 0.5
    assert wd["landed"] and o["observed"]["crash"] is None
    fs = r["px4"]["failsafe"]
    assert fs["reason"] == "offboard_lost" and fs["silent_s"] > fs["timeout_s"]
    navs = [e["detail"].split(" ")[0] for e in r["px4"]["events"] if e["event"] == "nav_state"]
    assert navs[-2:] == ["NAVIGATION_STATE_AUTO_LOITER", "NAVIGATION_STATE_AUTO_LAND"], navs
    assert r["exit_codes"]["policy_node"] == -9 and r["exit_codes"]["sim_bridge_node"] == 0


def test_px4_nan_odometry_is_rejected_and_no_nonfinite_command_leaves(fixture_policy, tmp_path):
    r = _run(fixture_policy, tmp_path, faults=["nan@2"])
    _protocol_ok(r)
    o = _outcome(r, "nan")
    assert o["met"], o
    assert o["observed"]["odometry_messages_rejected"] == o["observed"]["nan_messages_sent"] == 10
    assert o["observed"]["nonfinite_commands_received"] == 0
    # a non-finite odometry is a fault of the runtime: it lands under its failsafe, then PX4 disarms
    reasons = [t["reason"] for t in r["transitions"] if t["to"] == "FAILSAFE"]
    assert reasons and "nonfinite_input: odometry" in reasons[0], r["transitions"]
    assert r["flight"]["crash"] is None


def test_px4_estop_stops_every_motor_and_disarms_on_the_ground(fixture_policy, tmp_path):
    r = _run(fixture_policy, tmp_path, faults=["estop@3"])
    _protocol_ok(r)
    o = _outcome(r, "estop")
    assert o["met"], o
    assert o["observed"]["cycles_to_stop"] <= 1 and not o["observed"]["thrust_after_stop"]
    assert r["transitions"][-1]["to"] == "ESTOP"
    # the node sent NaN (stopped) to every motor and asked PX4 to disarm; PX4 disarmed only once the
    # vehicle was on the ground (a disarm in the air is refused unless forced)
    events = [e["event"] for e in r["px4"]["events"]]
    assert events[-1] == "disarmed", r["px4"]["events"]


def test_px4_odometry_freeze_sends_the_policy_node_to_failsafe(fixture_policy, tmp_path):
    r = _run(fixture_policy, tmp_path, faults=["freeze@3"])
    _protocol_ok(r)
    o = _outcome(r, "freeze")
    obs = o["observed"]
    assert o["met"], json.dumps(o, default=str)
    assert "stale_input: odometry" in obs["failsafe_transition"]["reason"]
    assert r["px4"]["failsafe"] is None  # the heartbeat went on: Tether's failsafe landed, not PX4's


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["drop", "latency"])
def test_px4_flight_with_odometry_drops_or_latency(fixture_policy, tmp_path, fault):
    r = _run(fixture_policy, tmp_path, faults=[fault], seconds=10.0)
    _protocol_ok(r)
    assert _outcome(r, fault)["met"], json.dumps(r["flight"], default=str)
