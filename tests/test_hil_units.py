"""The HIL scenario's reference and scoring, fault parsing, and node parameter files (no processes)."""

import numpy as np
import pytest

from deploy.nodes.params import load_node_params, parse_override, with_defaults
from deploy.nodes.policy_node import DEFAULTS as POLICY_DEFAULTS
from deploy.nodes.sim_bridge_node import DEFAULTS as BRIDGE_DEFAULTS
from tether.hil.faults import KINDS, Fault
from tether.hil.scenario import Scenario


def test_faults_parse_with_times_and_map_to_bridge_parameters():
    assert Fault.parse("freeze@5.5") == Fault("freeze", 5.5)
    assert Fault.parse("kill").at_s == 8.0
    assert "odometry.drop_probability=0.2" in Fault.parse("drop").bridge_overrides()
    assert "odometry.latency_s=0.02" in Fault.parse("latency").bridge_overrides()
    assert Fault.parse("kill@3").bridge_overrides() == []  # injected by the HIL process itself
    with pytest.raises(ValueError, match="unknown fault 'smoke'"):
        Fault.parse("smoke")
    with pytest.raises(ValueError, match="takes no @T"):
        Fault.parse("drop@3")
    with pytest.raises(ValueError, match="@T must be a time"):
        Fault.parse("nan@soon")
    for kind in KINDS:
        for o in Fault.parse(kind).bridge_overrides():
            with_defaults(BRIDGE_DEFAULTS, parse_override(o), "bridge")  # every override is a real parameter


def test_scenario_reference_starts_with_the_eval_target_then_visits_waypoints():
    s = Scenario.load("quadrotor-hover")
    assert s.reference(0.0)[0].tolist() == list(s.target_pos_m)
    assert s.reference(s.hover_s - 1e-6)[0].tolist() == list(s.target_pos_m)
    assert s.reference(s.hover_s)[0].tolist() == list(s.waypoints_m[0])
    t_last = s.hover_s + s.waypoint_hold_s * len(s.waypoints_m)
    assert s.reference(t_last)[0].tolist() == list(s.waypoints_m[0])  # the sequence repeats
    assert [w[0] for w in s.waypoint_windows(10.0)] == [0, 1]


def test_scoring_follows_the_tasks_success_rule():
    s = Scenario.load("quadrotor-hover")
    t = np.arange(0.0, 10.0, 0.005)
    ref = np.array([s.reference(x)[0] for x in t])
    perfect = np.column_stack([t, ref, np.zeros_like(t)])
    good = s.score(perfect, 10.0, None)
    assert good["hover_success"] and good["waypoints_reached"] and good["hover_rmse_m"] == 0.0
    off = perfect.copy()
    off[:, 1] += 0.06  # 6 cm off: above the task's 5 cm success threshold
    bad = s.score(off, 10.0, None)
    assert not bad["hover_success"] and bad["hover_rmse_m"] == pytest.approx(0.06)
    assert not s.score(perfect, 10.0, crash_time_s=3.0)["hover_success"]


@pytest.mark.parametrize(
    "node, defaults", [("policy_node", POLICY_DEFAULTS), ("sim_bridge_node", BRIDGE_DEFAULTS)]
)
def test_the_launch_parameter_files_hold_only_documented_parameters(node, defaults):
    s = Scenario.load("quadrotor-hover")
    params = load_node_params(s.params_file, node)
    merged = with_defaults(defaults, params, node)
    assert set(merged) == set(defaults)
    with pytest.raises(ValueError, match="unknown parameters"):
        with_defaults(defaults, {"no_such_parameter": 1}, node)


def test_parameter_files_are_ros2_format_with_dotted_names():
    from deploy.nodes.params import flatten, unflatten

    nested = {"odometry": {"rate_hz": 100.0}, "seed": 3}
    assert flatten(nested) == {"odometry.rate_hz": 100.0, "seed": 3}
    assert unflatten({"odometry.rate_hz": 100.0, "seed": 3}) == nested
    assert parse_override("faults.nan_at_s=4") == {"faults": {"nan_at_s": 4}}
    with pytest.raises(ValueError, match="name=value"):
        parse_override("seed")


# -- the bridge's watchdog and the kill outcome, in simulated steps (no processes, no wall clock) --


def _bridge():
    from deploy.nodes.sim_bridge_node import SimBridgeNode
    from tests.runtime_helpers import NullTransport

    t = NullTransport("sim_bridge_node")
    return SimBridgeNode(t, {}, clock=lambda: 0.0), t  # the wall clock never moves: steps count


def _send_command(node, t, thrust: float | None = None) -> None:
    from deploy.transport import convert

    stamp = t.make("builtin_interfaces/msg/Time")
    cmd = np.full(len(node.motors), node.params_nominal.hover_command if thrust is None else thrust)
    t.deliver(
        BRIDGE_DEFAULTS["topics"]["actuator_command"],
        convert.actuator_command_msg(t.make, stamp, node.motors, cmd),
    )


WATCHDOG_STEPS = round(BRIDGE_DEFAULTS["watchdog"]["timeout_s"] * BRIDGE_DEFAULTS["sim_rate_hz"])  # 20


def test_the_bridge_watchdog_trips_on_the_first_physics_step_past_its_timeout():
    node, t = _bridge()
    try:
        _send_command(node, t)
        assert node.flying and not node.frozen
        for _ in range(WATCHDOG_STEPS):
            node.step()
        _send_command(node, t)  # a command within the timeout starts the count again
        for _ in range(WATCHDOG_STEPS + 1):
            node.step()
        assert node.watchdog is None  # 21 silent steps ran, the last check saw 20: the timeout, not past
        node.step()
        assert node.watchdog is not None and node.watchdog["steps_since_last_command"] == WATCHDOG_STEPS + 1
        assert node.watchdog["silent_s"] == 0.0  # tripped on simulated time alone
        _send_command(node, t, thrust=0.9)
        assert node.commands_rx == 3 and not np.any(node.command == 0.9)  # latched: offboard ignored
    finally:
        node.env.close()


@pytest.mark.parametrize("silent_steps, met", [(WATCHDOG_STEPS + 1, True), (WATCHDOG_STEPS + 2, False)])
def test_the_kill_outcome_allows_the_timeout_plus_one_physics_step(silent_steps, met):
    from tether.hil.faults import outcome

    bridge = {
        "watchdog": {"steps_since_last_command": silent_steps, "landed": True, "mono_s": 1.0},
        "crash": None,
    }
    o = outcome(Fault.parse("kill@7"), {}, bridge, None, {"kill_mono_s": 0.9}, BRIDGE_DEFAULTS)
    assert o["met"] is met
    assert o["observed"]["silent_sim_s_at_trip"] == pytest.approx(
        silent_steps / BRIDGE_DEFAULTS["sim_rate_hz"]
    )
    crashed = {**bridge, "crash": {"reason": "ground contact"}}
    assert not outcome(Fault.parse("kill@7"), {}, crashed, None, {}, BRIDGE_DEFAULTS)["met"]
