"""The PX4 interface on a transport without a network: frames and stamps of VehicleOdometry, the
offboard heartbeat, the arm / mode sequence, no motor command outside armed + OFFBOARD, and each
bad input refused or a fault with its named reason. Needs the px4_msgs definitions (skipped, with
the reason, where they are absent: deploy/px4/messages.py says where they are looked for)."""

import dataclasses
import math
import time

import numpy as np
import pytest

from deploy.px4 import frames
from deploy.px4.motors import MotorMappingError, Px4Rotor
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import RobotProfile
from deploy.runtime.runtime import Runtime
from deploy.runtime.safety import State
from tests.px4_helpers import deliver_odometry, deliver_status, run_cycle
from tests.runtime_helpers import NullTransport, hover_policy


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("px4") / "linear_hover.onnx")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _setup(policy, config=None):
    from deploy.px4.interface import Px4Config, Px4Interface

    clock = Clock()
    runtime = Runtime(
        PolicyRunner(policy, RobotProfile.from_yaml("deploy/runtime/profile_crazyflie_2_1.yaml")),
        RuntimeConfig.from_yaml("deploy/runtime/runtime.yaml"),
        clock=clock,
    )
    t = NullTransport()
    hw = Px4Interface(t, runtime, config or Px4Config.from_yaml(), clock=clock)
    return t, runtime, hw, clock


def test_odometry_converts_to_enu_flu(px4_types, policy):
    t, runtime, hw, _ = _setup(policy)
    assert hw.topics["odometry"] == "/fmu/out/vehicle_odometry"
    s = math.sqrt(0.5)
    deliver_odometry(t, hw, pos_ned=(1.0, 2.0, -3.0), q=(s, 0.0, 0.0, s))  # nose east
    o = runtime.inputs.get("odometry").value
    assert np.allclose(o.pos_m, [2.0, 1.0, 3.0])
    assert np.allclose(o.quat_wxyz, [1.0, 0.0, 0.0, 0.0], atol=1e-6)
    assert np.allclose(o.lin_vel_m_s, [0.0, 0.5, 0.25])
    assert np.allclose(o.ang_vel_rad_s, [0.1, -0.2, -0.3])


def test_body_frame_velocity_is_rotated_to_world(px4_types, policy):
    t, runtime, hw, _ = _setup(policy)
    s = math.sqrt(0.5)
    # nose east, 1 m/s forward
    deliver_odometry(t, hw, q=(s, 0.0, 0.0, s), velocity_frame=3, velocity=[1.0, 0.0, 0.0])
    assert np.allclose(runtime.inputs.get("odometry").value.lin_vel_m_s, [1.0, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("over", [{"pose_frame": 2}, {"pose_frame": 0}, {"velocity_frame": 2}])
def test_odometry_in_an_unexpected_frame_is_refused(px4_types, policy, over):
    t, runtime, hw, _ = _setup(policy)
    deliver_odometry(t, hw, **over)
    assert hw.refused == {"px4_odometry_frame": 1}
    assert runtime.inputs.get("odometry") is None
    assert "expected" in hw.refusal_log[0]


def test_stamps_going_backwards_or_from_the_future_are_refused(px4_types, policy):
    t, runtime, hw, _ = _setup(policy)
    first = deliver_odometry(t, hw)
    deliver_odometry(t, hw, stamp_us=first - 10_000)
    assert hw.refused == {"px4_stamp_backwards": 1}
    deliver_odometry(t, hw, stamp_us=int(time.time() * 1e6) + 500_000)
    assert hw.refused["px4_stamp_future"] == 1
    deliver_odometry(t, hw)  # a good one is accepted again
    assert sum(hw.refused.values()) == 2


def test_no_motor_command_leaves_before_px4_reports_armed_offboard(px4_types, policy):
    t, runtime, hw, clock = _setup(policy)
    deliver_status(t, hw, armed=False, offboard=False)
    for _ in range(200):  # 2 s: heartbeat only
        deliver_odometry(t, hw)
        run_cycle(runtime, hw, clock)
    assert len(t.published[hw.topics["heartbeat"]]) >= 2 * 20 - 1
    assert all(m.direct_actuator for m in t.published[hw.topics["heartbeat"]])
    assert t.published.get(hw.topics["motors"], []) == []
    hw.request_arm(True)
    for _ in range(5):
        deliver_odometry(t, hw)
        run_cycle(runtime, hw, clock)
    cmds = [(m.command, m.param1, m.param2) for m in t.published[hw.topics["command"]]]
    assert (176, 1.0, 6.0) in cmds and (400, 1.0, 0.0) in cmds  # DO_SET_MODE offboard, ARM
    assert runtime.state is State.DISARMED and t.published.get(hw.topics["motors"], []) == []
    deliver_status(t, hw, armed=True, offboard=True)
    for _ in range(3):
        deliver_odometry(t, hw)
        run_cycle(runtime, hw, clock)
    assert runtime.state in (State.STARTING, State.RUNNING)
    motors = t.published[hw.topics["motors"]]
    assert motors, "armed + offboard: motor commands flow"
    c = list(motors[-1].control)
    assert all(math.isnan(x) for x in c[4:]) and all(0.0 <= x <= 1.0 for x in c[:4])


def test_offboard_lost_stops_commanding_with_the_reason(px4_types, policy):
    t, runtime, hw, clock = _setup(policy)
    for _ in range(130):
        deliver_status(t, hw, armed=True, offboard=True)
        deliver_odometry(t, hw)
        run_cycle(runtime, hw, clock)
    hw.request_arm(True)
    for _ in range(5):
        deliver_status(t, hw, armed=True, offboard=True)
        deliver_odometry(t, hw)
        run_cycle(runtime, hw, clock)
    assert runtime.state in (State.STARTING, State.RUNNING)
    deliver_status(t, hw, armed=True, offboard=False)  # PX4 switched to position mode (pilot, failsafe)
    n = len(t.published[hw.topics["motors"]])
    for _ in range(5):
        deliver_odometry(t, hw)
        run_cycle(runtime, hw, clock)
    assert runtime.state is State.ESTOP
    assert "px4_offboard_lost" in runtime.supervisor.history[-1].reason
    assert len(t.published[hw.topics["motors"]]) == n  # nothing more left the node
    assert hw.faults and hw.faults[0].startswith("px4_offboard_lost")


def test_arm_request_times_out_without_px4(px4_types, policy):
    t, runtime, hw, clock = _setup(policy)
    deliver_odometry(t, hw)
    run_cycle(runtime, hw, clock)
    hw.request_arm(True)
    for _ in range(600):
        deliver_odometry(t, hw)
        run_cycle(runtime, hw, clock)
    assert runtime.state is State.DISARMED
    assert hw.faults[-1].startswith("px4_offboard_not_engaged")
    assert t.published.get(hw.topics["motors"], []) == []


def test_motors_that_do_not_fit_px4_geometry_are_refused(px4_types, policy):
    from deploy.px4.interface import Px4Config

    cfg = Px4Config.from_yaml()
    plus = dataclasses.replace(
        cfg, rotors=(Px4Rotor(1, 0, 1), Px4Rotor(-1, 0, 1), Px4Rotor(0, 1, -1), Px4Rotor(0, -1, -1))
    )  # a quad "+" frame: no rotor at the policy's X positions
    with pytest.raises(MotorMappingError, match="px4_motor_mapping: motor 'motor_0'"):
        _setup(policy, plus)


def test_versioned_topic_names(px4_types, policy):
    from deploy.px4 import messages

    _, _, hw, _ = _setup(policy)
    v = messages.message_version("VehicleStatus")
    assert hw.topics["status"] == "/fmu/out/vehicle_status" + (f"_v{v}" if v else "")
    assert hw.topics["motors"] == "/fmu/in/actuator_motors"


def test_frames_module_is_the_one_used():
    # the interface converts through deploy.px4.frames only (one place)
    import inspect

    from deploy.px4 import interface

    src = inspect.getsource(interface)
    assert "frames.ned_to_enu" in src and "frames.quat_ned_frd_to_enu_flu" in src
    assert frames.ned_to_enu is frames.enu_to_ned
