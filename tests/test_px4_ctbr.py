"""PX4 with collective thrust + body-rate (CTBR) policies: the VehicleRatesSetpoint definition, the
CTBR ↔ PX4 frame conversion, the interface picking its output message from the contract and
refusing a mismatch, the runtime's CTBR start-up and failsafe, and the emulator accepting rate
setpoints only while offboard is engaged and flying them through the modelled rate loop."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from deploy.actions import action_to_actuator, actuator_to_action
from deploy.contract import CTBR_TARGETS, ContractError
from deploy.px4 import frames
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import RobotProfile
from deploy.runtime.runtime import Runtime
from deploy.runtime.safety import State
from sim.tasks.quadrotor_hover import DEFAULT_CONFIG, HoverConfig
from tests.px4_helpers import deliver_odometry, deliver_status, request_offboard_and_arm, run_cycle
from tests.runtime_helpers import SHIPPED_CTBR_POLICY, NullTransport, hover_policy, write_linear_policy

CTBR_TASK = DEFAULT_CONFIG.with_name("quadrotor_hover_ctbr.yaml")
PROFILE_MOTORS = "deploy/runtime/profile_crazyflie_2_1_px4.yaml"
PROFILE_CTBR = "deploy/runtime/profile_crazyflie_2_1_px4_ctbr.yaml"
MSG = Path("deploy/px4/msg/VehicleRatesSetpoint.msg")
TARGET_M = (0.0, 0.0, 2.0)  # ENU
# VehicleOdometry of a vehicle at rest at the target (NED: 2 m up is z = −2).
AT_REST_2M = dict(pos_ned=(0.0, 0.0, -2.0), velocity=[0.0, 0.0, 0.0], angular_velocity=[0.0, 0.0, 0.0])


@pytest.fixture(scope="module")
def ctbr_config() -> HoverConfig:
    return HoverConfig.from_yaml(CTBR_TASK)


@pytest.fixture(scope="module")
def ctbr_policy(tmp_path_factory, ctbr_config):
    """A constant CTBR policy: the collective thrust that hovers the nominal vehicle, and a small
    roll rate (0.5 rad/s FLU) so the frame conversion shows in what leaves the node."""
    contract = ctbr_config.contract()
    setpoint = ctbr_config.hover_actuator_command() + np.array([0.0, 0.5, 0.0, 0.0])
    bias = actuator_to_action(contract, setpoint)
    path = tmp_path_factory.mktemp("px4_ctbr") / "ctbr_hover.onnx"
    return write_linear_policy(path, contract, np.zeros((contract.observation_size, 4)), bias)


@pytest.fixture(scope="module")
def motor_policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("px4_motor") / "linear_hover.onnx")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _runtime(policy, profile: str, clock: Clock) -> Runtime:
    return Runtime(
        PolicyRunner(policy, RobotProfile.from_yaml(profile)),
        RuntimeConfig.from_yaml("deploy/runtime/runtime.yaml"),
        clock=clock,
    )


# -- the definition and the conversion --------------------------------------------------------------


def test_rates_setpoint_definition_is_px4_msgs_release_1_16(px4_types):
    from deploy.px4 import messages
    from deploy.transport.messages import typestore

    text = MSG.read_text()
    assert "release/1.16" in text and "392e831c1f659429ca83902e66820d7094591410" in text
    fields = [f[0] for f in typestore().fielddefs[messages.ros_type("VehicleRatesSetpoint")][1]]
    assert fields == ["timestamp", "roll", "pitch", "yaw", "thrust_body", "reset_integral"]
    assert messages.message_version("VehicleRatesSetpoint") == 0


def test_rates_setpoint_cdr_bytes_equal_rosbags_and_decode_back(px4_types):
    """Tether's DDS type of VehicleRatesSetpoint writes the bytes rosbags' serializer writes (plain
    CDR, as the uXRCE-DDS agent puts them on the wire) and reads them back."""
    from deploy.px4.messages import ros_type
    from deploy.transport.messages import deserialize, make, to_rosbags, typestore

    t = ros_type("VehicleRatesSetpoint")
    values = {"timestamp": 13, "roll": 0.5, "pitch": -0.25, "yaw": 1.0, "thrust_body": [0.0, 0.0, -0.45]}
    msg = make(t, reset_integral=True, **values)
    data = msg.serialize()
    assert data[:4] == b"\x00\x01\x00\x00"
    assert bytes(typestore().serialize_cdr(to_rosbags(msg, t), t)) == data
    back = deserialize(data, t)
    assert back.timestamp == 13 and back.reset_integral is True
    np.testing.assert_allclose([back.roll, back.pitch, back.yaw], [0.5, -0.25, 1.0])
    np.testing.assert_allclose(np.asarray(back.thrust_body, float), [0.0, 0.0, -0.45], rtol=1e-6)


def test_ctbr_converts_to_frd_rates_and_z_down_thrust_and_back():
    ctbr = np.array([[0.6, 1.0, 2.0, 3.0], [0.0, -0.5, 0.0, 0.25]])
    rates, thrust = frames.ctbr_to_rates_setpoint(ctbr)
    np.testing.assert_allclose(rates, [[1.0, -2.0, -3.0], [-0.5, 0.0, -0.25]])  # FLU → FRD
    np.testing.assert_allclose(thrust, [[0.0, 0.0, -0.6], [0.0, 0.0, 0.0]])  # thrust up = −z
    np.testing.assert_allclose(frames.rates_setpoint_to_ctbr(rates, thrust), ctbr)
    # thrust outside [0, 1] (or pointing down) is clipped: PX4 multicopters never push down
    _, over = frames.ctbr_to_rates_setpoint(np.array([1.5, 0, 0, 0]))
    assert over[2] == -1.0
    assert frames.rates_setpoint_to_ctbr(np.zeros(3), np.array([0.0, 0.0, 0.3]))[0] == 0.0


# -- the interface picks its output from the contract ---------------------------------------------


def test_ctbr_policy_publishes_vehicle_rates_setpoint_only_when_engaged(px4_types, ctbr_policy, ctbr_config):
    from deploy.px4.interface import Px4Config, Px4Interface

    clock = Clock()
    runtime = _runtime(ctbr_policy, PROFILE_CTBR, clock)
    t = NullTransport()
    hw = Px4Interface(t, runtime, Px4Config.from_yaml(), clock=clock)
    assert hw.output == "VehicleRatesSetpoint" and hw.action_mode == "ctbr"
    assert hw.topics["rates"] == "/fmu/in/vehicle_rates_setpoint" and "motors" not in hw.topics
    deliver_status(t, hw, armed=False, offboard=False)
    for _ in range(150):  # 1.5 s of heartbeat, nothing else
        deliver_odometry(t, hw, **AT_REST_2M)
        run_cycle(runtime, hw, clock, target_pos_m=TARGET_M)
    beats = t.published[hw.topics["heartbeat"]]
    assert beats and all(m.body_rate and not m.direct_actuator for m in beats)
    assert t.published.get(hw.topics["rates"], []) == []
    hw.request_arm(True)
    for _ in range(3):
        deliver_odometry(t, hw, **AT_REST_2M)
        run_cycle(runtime, hw, clock, target_pos_m=TARGET_M)
    assert runtime.state is State.DISARMED and t.published.get(hw.topics["rates"], []) == []
    deliver_status(t, hw, armed=True, offboard=True)
    for _ in range(250):  # start-up (idle 1 s, spin-up 1 s), then the policy
        deliver_status(t, hw, armed=True, offboard=True)
        deliver_odometry(t, hw, **AT_REST_2M)
        run_cycle(runtime, hw, clock, target_pos_m=TARGET_M)
    assert runtime.state is State.RUNNING
    sent = t.published[hw.topics["rates"]]
    assert sent and hw.sent["vehicle_rates_setpoint"] == len(sent)
    last = sent[-1]
    hover = ctbr_config.hover_actuator_command()[0]
    assert last.thrust_body[0] == 0.0 and last.thrust_body[1] == 0.0
    assert math.isclose(last.thrust_body[2], -hover, rel_tol=1e-5)  # NED z: thrust up is negative
    assert math.isclose(last.roll, 0.5, rel_tol=1e-5) and last.pitch == 0.0 and last.yaw == 0.0
    assert not last.reset_integral
    # before the runtime armed: zero thrust (integrals reset); then the start-up from idle, zero rates
    assert sent[0].thrust_body[2] == 0.0 and sent[0].reset_integral
    first = next(m for m in sent if not m.reset_integral)
    assert math.isclose(first.thrust_body[2], -0.1, rel_tol=1e-5) and first.roll == 0.0
    # e-stopped while PX4 still says armed: zero thrust and rates, integrals reset (a disarm would
    # land first, with the failsafe's thrust and rates)
    runtime.estop("test")
    deliver_status(t, hw, armed=True, offboard=True)
    deliver_odometry(t, hw, **AT_REST_2M)
    run_cycle(runtime, hw, clock, target_pos_m=TARGET_M)
    assert sent[-1].thrust_body[2] == 0.0 and sent[-1].reset_integral


def test_motor_policy_still_publishes_actuator_motors(px4_types, motor_policy):
    from deploy.px4.interface import Px4Config, Px4Interface

    clock = Clock()
    runtime = _runtime(motor_policy, PROFILE_MOTORS, clock)
    t = NullTransport()
    hw = Px4Interface(t, runtime, Px4Config.from_yaml(), clock=clock)
    assert hw.output == "ActuatorMotors" and "rates" not in hw.topics
    deliver_odometry(t, hw, **AT_REST_2M)
    run_cycle(runtime, hw, clock, target_pos_m=TARGET_M)
    beat = t.published[hw.topics["heartbeat"]][-1]
    assert beat.direct_actuator and not beat.body_rate


@pytest.mark.parametrize(("which", "profile"), [("ctbr", PROFILE_MOTORS), ("motor", PROFILE_CTBR)])
def test_a_policy_on_a_profile_of_the_other_mode_is_refused(
    px4_types, ctbr_policy, motor_policy, which, profile
):
    policy = ctbr_policy if which == "ctbr" else motor_policy
    with pytest.raises(ContractError, match="action mode: the policy commands"):
        _runtime(policy, profile, Clock())


def test_the_interface_names_the_mismatch_itself():
    from deploy.px4.interface import Px4ActionModeError, check_action_mode, output_message

    motors = ("motor_0", "motor_1", "motor_2", "motor_3")
    with pytest.raises(Px4ActionModeError, match="px4_action_mode: the policy commands collective thrust"):
        check_action_mode("ctbr", motors, "profile X")
    with pytest.raises(Px4ActionModeError, match="px4_action_mode: the policy commands motors"):
        check_action_mode("actuators", CTBR_TARGETS, "profile X")
    with pytest.raises(Px4ActionModeError, match="no PX4 offboard output"):
        output_message("joint_torque")
    check_action_mode("ctbr", CTBR_TARGETS, "profile X")
    check_action_mode("actuators", motors, "profile X")


# -- the runtime's own CTBR commands -------------------------------------------------------------


def test_ctbr_failsafe_flies_thrust_and_rates_from_the_pid(px4_types, ctbr_policy):
    from deploy.robot_state import RobotState

    runtime = _runtime(ctbr_policy, PROFILE_CTBR, Clock())
    fs = runtime.failsafe
    tilted = RobotState(
        base_pos_m=np.array([[0.0, 0.0, 2.0]]),
        base_quat_wxyz=np.array([[np.cos(0.1), np.sin(0.1), 0.0, 0.0]]),  # rolled 0.2 rad left
        base_lin_vel_m_s=np.zeros((1, 3)),
        base_ang_vel_rad_s=np.zeros((1, 3)),
        last_action=np.zeros((1, 4)),
        command=np.zeros((1, 6)),
    )
    fs.start(0.0, tilted, True)
    step = fs.act(0.01, tilted, True)
    ctbr = action_to_actuator(runtime.contract, step.action[None])[0]
    assert step.phase == "hold" and 0.3 < ctbr[0] < 0.7  # about the hover thrust (1 / 2.25)
    assert ctbr[1] < 0  # rolled left (+x rotation): the rate setpoint rolls it back
    blind = action_to_actuator(runtime.contract, fs.act(0.02, None, False).action[None])[0]
    assert blind[1:].tolist() == [0.0, 0.0, 0.0] and 0.0 < blind[0] < ctbr[0]


# -- the emulator -------------------------------------------------------------------------------


class Vehicle:
    """A PX4 emulator with a rate controller (the Crazyflie preset's gains) on a NullTransport."""

    def __init__(self) -> None:
        from deploy.px4 import messages
        from deploy.px4.emulator import Px4Emulator, Px4EmulatorConfig
        from sim.robots.quadrotor import load_preset

        self.t = NullTransport("sim_bridge_node")
        p = load_preset("crazyflie_2_1")
        self.params = p
        self.emu = Px4Emulator(
            self.t, p.motor_names, p.rotor_angles_deg, p.rotor_spin_directions, Px4EmulatorConfig(),
            vehicle=p, rate_loop_dt_s=0.005,
        )  # fmt: skip
        self.k = messages.constants("VehicleStatus")
        self.cmd = messages.constants("VehicleCommand")
        self.now = 0.0

    def tick(self, seconds: float, body_rate: bool = True) -> None:
        for _ in range(int(round(seconds / 0.01))):
            self.now = round(self.now + 0.01, 6)
            if round(self.now * 100) % 5 == 0:
                self.t.deliver(
                    self.emu.topics["heartbeat"],
                    self.t.make("px4_msgs/msg/OffboardControlMode", timestamp=1, body_rate=body_rate),
                )
            self.emu.update(self.now, self.now, False)

    def command(self, command: int, p1: float = 0.0, p2: float = 0.0) -> None:
        self.t.deliver(
            self.emu.topics["command"],
            self.t.make(
                "px4_msgs/msg/VehicleCommand", command=command, param1=p1, param2=p2, target_system=1,
                target_component=1,
            ),
        )  # fmt: skip

    def rates(self, c: float, roll_frd: float = 0.0, pitch: float = 0.0, yaw: float = 0.0, **over) -> None:
        fields = dict(timestamp=5_000_000, roll=roll_frd, pitch=pitch, yaw=yaw, thrust_body=[0.0, 0.0, -c])
        fields.update(over)
        self.t.deliver(self.emu.topics["rates"], self.t.make("px4_msgs/msg/VehicleRatesSetpoint", **fields))


def test_emulator_accepts_rate_setpoints_only_while_offboard_is_engaged(px4_types):
    v = Vehicle()
    v.rates(0.5)
    assert v.emu.rates_ignored == {"not_armed": 1} and v.emu.take() is None
    v.tick(1.2)
    v.command(v.cmd["VEHICLE_CMD_DO_SET_MODE"], 1.0, 6.0)
    v.command(v.cmd["VEHICLE_CMD_COMPONENT_ARM_DISARM"], 1.0)
    assert v.emu.offboard()
    v.rates(0.5, roll_frd=float("nan"))
    assert v.emu.rates_ignored["not_finite"] == 1
    v.tick(0.1, body_rate=False)  # the heartbeat now asks for direct actuators
    v.rates(0.5)
    assert v.emu.rates_ignored["not_body_rate"] == 1 and v.emu.take() is None
    v.tick(0.1)
    v.rates(0.5, roll_frd=1.0)
    got = v.emu.take()
    assert got is not None and v.emu.setpoint_kind == "rates"
    np.testing.assert_allclose(got[0], [0.5, 1.0, 0.0, 0.0])
    assert got[1] == (5, 0)


def test_emulator_rate_loop_is_the_modelled_one_and_rolls_right_for_positive_frd_roll(px4_types):
    from deploy.rate_controller import RateController

    v = Vehicle()
    v.tick(1.2)
    v.command(v.cmd["VEHICLE_CMD_DO_SET_MODE"], 1.0, 6.0)
    v.command(v.cmd["VEHICLE_CMD_COMPONENT_ARM_DISARM"], 1.0)
    v.rates(0.45, roll_frd=2.0)  # FRD roll +: right wing down, as FLU roll +
    motors = v.emu.rate_loop(np.zeros(3))
    ref = RateController([v.params], 0.005).step(np.array([[0.45, 2.0, 0.0, 0.0]]), np.zeros((1, 3)))[0]
    np.testing.assert_allclose(motors, ref)
    # rolling right (+x FLU) needs more thrust on the left motors (motor_0 front-left, motor_1 back-left)
    assert motors[0] > motors[3] and motors[1] > motors[2]


def test_a_vehicle_without_rate_gains_refuses_rate_setpoints(px4_types):
    from deploy.px4.emulator import Px4Emulator, Px4EmulatorConfig
    from sim.robots.quadrotor import load_preset

    v = Vehicle()
    p = load_preset("crazyflie_2_1").with_changes(rate_controller=None)
    v.emu = Px4Emulator(
        v.t, p.motor_names, p.rotor_angles_deg, p.rotor_spin_directions, Px4EmulatorConfig(), vehicle=p,
        rate_loop_dt_s=0.005,
    )  # fmt: skip
    v.tick(1.2)
    v.command(v.cmd["VEHICLE_CMD_DO_SET_MODE"], 1.0, 6.0)
    v.command(v.cmd["VEHICLE_CMD_COMPONENT_ARM_DISARM"], 1.0)
    v.rates(0.5)
    assert v.emu.rates_ignored == {"no_rate_controller": 1}


def test_bridge_flies_rate_setpoints_through_the_modelled_rate_loop(px4_types):
    """The simulator bridge as PX4 (`hardware: px4`): a companion sends the PID's outer loops as
    VehicleRatesSetpoint; PX4's (modelled) rate loop flies the simulated vehicle to the target."""
    from deploy.pid import QuadrotorPid
    from tests.test_px4_emulator import QosTransport, _bridge

    t = QosTransport()
    bridge, clock = _bridge(t)
    emu = bridge.px4
    companion = QuadrotorPid(bridge.params_nominal, 1, 0.01)
    target = np.array([[0.0, 0.0, 2.0, 0.0, 0.0, 0.0]])

    def cycle(fly: bool) -> None:
        clock.t += 0.005
        if bridge.loop_cycles % 10 == 0:
            t.deliver(emu.topics["heartbeat"], t.make("px4_msgs/msg/OffboardControlMode", body_rate=True))
        if fly and bridge.loop_cycles % 2 == 0:  # the companion at 100 Hz
            s = bridge.engine.state()
            s.command = target
            rates, thrust = frames.ctbr_to_rates_setpoint(companion.act_ctbr(s)[0])
            msg = t.make(
                "px4_msgs/msg/VehicleRatesSetpoint", roll=rates[0], pitch=rates[1], yaw=rates[2],
                thrust_body=thrust.tolist(),
            )  # fmt: skip
            t.deliver(emu.topics["rates"], msg)
        bridge.step()

    for _ in range(240):
        cycle(False)
    request_offboard_and_arm(t, emu)
    for _ in range(1200):  # 6 s of offboard flight on rate setpoints
        cycle(True)
    assert not bridge.frozen and bridge.crash is None and emu.setpoint_kind == "rates"
    assert emu.counts["vehicle_rates_setpoint_applied"] > 500 and emu.rates_ignored == {}
    pos = bridge.engine.state().base_pos_m[0]
    assert np.linalg.norm(pos - target[0, :3]) < 0.05, pos


def test_hil_over_dds_flies_a_ctbr_policy_with_rate_setpoints(px4_types, ctbr_config, tmp_path):
    """`tether hil --vehicle px4` with a ctbr policy: the policy node takes the ctbr profile from the
    contract and sends VehicleRatesSetpoint, the emulated PX4 flies them through the modelled rate
    loop, and the flight is the one `tether eval` flies on the ctbr task (a constant-thrust policy:
    it does not hover; it shows that HIL and evaluation run the same rate loop)."""
    from tether.hil.run import run_hil

    contract = ctbr_config.contract()
    bias = actuator_to_action(contract, ctbr_config.hover_actuator_command())
    policy = write_linear_policy(
        tmp_path / "const.onnx", contract, np.zeros((contract.observation_size, 4)), bias
    )
    r = run_hil(
        seconds=6.0, domain_id=None, faults=[], policy=policy, work_dir=tmp_path / "work", progress=False,
        vehicle="px4", compare_eval=True,
    )  # fmt: skip
    p = r["px4"]
    assert p["met"] and p["offboard_before_arm"], p
    assert p["rates_applied"] > 100 and not p["motors_applied"], p
    assert set(p["rates_ignored"]) <= {"not_armed"}, p
    assert p["interface"]["sent"]["vehicle_rates_setpoint"] >= p["rates_applied"]
    a = r["eval_agreement"]
    assert a["rmse_ratio"] is not None and abs(a["rmse_ratio"] - 1.0) < 0.2, a


@pytest.mark.skipif(not SHIPPED_CTBR_POLICY.exists(), reason=f"{SHIPPED_CTBR_POLICY} is absent")
def test_hil_over_dds_hovers_with_the_shipped_ctbr_policy(px4_types, tmp_path):
    """The shipped collective thrust + body-rate policy through `tether hil --vehicle px4`: it
    hovers, lands, and flies the trajectory `tether eval` flies on the same episode."""
    from tether.hil.run import run_hil

    r = run_hil(
        seconds=8.0, domain_id=None, faults=[], policy=str(SHIPPED_CTBR_POLICY), work_dir=tmp_path / "work",
        progress=False, vehicle="px4", compare_eval=True,
    )  # fmt: skip
    assert r["success"], r.get("flight")
    p = r["px4"]
    assert p["met"] and p["rates_applied"] > 500 and not p["motors_applied"], p
    a = r["eval_agreement"]
    assert a["agree"], a
