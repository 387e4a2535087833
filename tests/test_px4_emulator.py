"""The PX4 emulator (deploy/px4/emulator.py) on a transport without a network, on a controlled loop
time: no actuator command is accepted without the offboard heartbeat; OFFBOARD only after > 1 s of
heartbeat and an explicit DO_SET_MODE, arming only in OFFBOARD; heartbeat loss → Hold, Land,
disarm; VehicleStatus says each state. Then the simulator bridge in `hardware: px4` flying PX4's
fallback with the onboard PID, and the PX4 interface (the policy node's side) against the
emulator in one process: the engagement order, motor commands only while engaged, and an offboard
loss that the interface turns into a fault with its named reason."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.px4_helpers import request_offboard_and_arm
from tests.runtime_helpers import NullTransport, hover_policy

CONFIG = "launch/config/quadrotor_px4_sim.yaml"


class QosTransport(NullTransport):
    """NullTransport that also records the QoS of each publisher and subscription."""

    def __init__(self, node_name: str = "sim_bridge_node") -> None:
        super().__init__(node_name)
        self.qos: dict[tuple[str, str], str] = {}

    def publisher(self, topic: str, ros_type: str, qos: str):
        self.qos[("pub", topic)] = qos
        return super().publisher(topic, ros_type, qos)

    def subscribe(self, topic: str, ros_type: str, qos: str, callback) -> None:
        self.qos[("sub", topic)] = qos
        super().subscribe(topic, ros_type, qos, callback)


class Vehicle:
    """An emulator on a NullTransport, with its loop time and the messages a companion sends."""

    def __init__(self, **params: Any) -> None:
        from deploy.px4 import messages
        from deploy.px4.emulator import Px4Emulator, Px4EmulatorConfig

        self.t = QosTransport()
        self.cfg = Px4EmulatorConfig.from_params(params)
        angles, spins = (45.0, 135.0, 225.0, 315.0), (-1, 1, -1, 1)  # the Crazyflie of the presets
        self.emu = Px4Emulator(self.t, ("m0", "m1", "m2", "m3"), angles, spins, self.cfg)
        self.k = messages.constants("VehicleStatus")
        self.cmd = messages.constants("VehicleCommand")
        self.now = 0.0
        self.landed = False

    def tick(self, seconds: float = 0.01, heartbeat: bool = False, direct_actuator: bool = True) -> None:
        """Advance loop time in 10 ms cycles, optionally with the heartbeat at 20 Hz."""
        for _ in range(int(round(seconds / 0.01))):
            self.now = round(self.now + 0.01, 6)
            if heartbeat and round(self.now * 100) % 5 == 0:
                self.heartbeat(direct_actuator)
            self.emu.update(self.now, self.now, self.landed)

    def heartbeat(self, direct_actuator: bool = True) -> None:
        t = self.t
        t.deliver(
            self.emu.topics["heartbeat"],
            t.make("px4_msgs/msg/OffboardControlMode", timestamp=1, direct_actuator=direct_actuator),
        )

    def command(self, name: str, p1: float = 0.0, p2: float = 0.0, target: int = 1) -> None:
        t = self.t
        msg = t.make(
            "px4_msgs/msg/VehicleCommand", command=self.cmd[name], param1=p1, param2=p2,
            target_system=target, target_component=1, from_external=True,
        )  # fmt: skip
        t.deliver(self.emu.topics["command"], msg)

    def offboard_request(self) -> None:
        self.command("VEHICLE_CMD_DO_SET_MODE", 1.0, 6.0)

    def arm(self, on: bool = True, forced: bool = False) -> None:
        self.command("VEHICLE_CMD_COMPONENT_ARM_DISARM", 1.0 if on else 0.0, 21196.0 if forced else 0.0)

    def motors(self, control: list[float] | None = None) -> None:
        control = control if control is not None else [0.6, 0.6, 0.6, 0.6] + [math.nan] * 8
        t = self.t
        t.deliver(
            self.emu.topics["motors"],
            t.make("px4_msgs/msg/ActuatorMotors", timestamp=1, timestamp_sample=2_500_000, control=control),
        )

    def status(self) -> Any:
        return self.t.published[self.emu.topics["status"]][-1]

    def engage(self) -> None:
        self.tick(1.2, heartbeat=True)
        self.offboard_request()
        self.arm()
        self.tick(0.01, heartbeat=True)


def test_without_heartbeat_no_actuator_command_is_accepted(px4_types):
    v = Vehicle()
    v.tick(2.0)
    v.offboard_request()
    v.arm()
    for _ in range(50):
        v.motors()
        v.tick()
    assert v.emu.take() is None and not v.emu.offboard()
    assert v.emu.counts["actuator_motors_applied"] == 0
    assert v.emu.motors_ignored == {"not_armed": 50}
    assert v.emu.commands_refused == {"offboard_no_heartbeat": 1, "arm_not_offboard": 1}
    st = v.status()
    assert st.arming_state == v.k["ARMING_STATE_DISARMED"] and st.nav_state == v.k["NAVIGATION_STATE_POSCTL"]


def test_offboard_engages_only_after_a_second_of_heartbeat_and_a_mode_command(px4_types):
    v = Vehicle()
    v.tick(0.5, heartbeat=True)
    v.offboard_request()  # heartbeat for 0.5 s: too early
    assert v.emu.commands_refused == {"offboard_no_heartbeat": 1}
    v.tick(0.7, heartbeat=True)
    assert v.status().nav_state == v.k["NAVIGATION_STATE_POSCTL"]  # a heartbeat alone switches nothing
    v.arm()  # arming before the mode switch: refused
    assert v.emu.commands_refused["arm_not_offboard"] == 1 and not v.emu.armed
    v.offboard_request()
    v.tick(0.01, heartbeat=True)
    assert v.status().nav_state == v.k["NAVIGATION_STATE_OFFBOARD"]
    assert v.status().arming_state == v.k["ARMING_STATE_DISARMED"]
    v.motors()  # in OFFBOARD but disarmed: ignored
    assert v.emu.take() is None and v.emu.motors_ignored == {"not_armed": 1}
    v.arm()
    v.tick(0.01, heartbeat=True)
    st = v.status()
    assert st.arming_state == v.k["ARMING_STATE_ARMED"] and st.nav_state == v.k["NAVIGATION_STATE_OFFBOARD"]
    assert st.latest_arming_reason == v.k["ARM_DISARM_REASON_COMMAND_EXTERNAL"] and not st.failsafe
    v.motors([0.7, 0.2, math.nan, 0.4] + [math.nan] * 8)
    cmd, key = v.emu.take()
    # m0..m3 at 45°, 135°, 225°, 315° (FLU) are PX4 motors 3, 2, 4, 1 of the quad X
    assert list(v.emu.index) == [2, 1, 3, 0]
    assert np.allclose(cmd, [0.0, 0.2, 0.4, 0.7])  # PX4 motor 3 NaN: m0 stopped
    assert key == (2, 500_000_000) and v.emu.take() is None  # taken once
    assert [e["event"] for e in v.emu.events if e["event"] != "refused"] == ["nav_state", "armed"]


def test_heartbeat_without_direct_actuator_does_not_pass_motor_commands(px4_types):
    v = Vehicle()
    v.engage()
    v.heartbeat(direct_actuator=False)  # the companion asks for another setpoint type
    v.motors()
    assert v.emu.take() is None and v.emu.motors_ignored == {"not_direct_actuator": 1}
    v.heartbeat()
    v.motors([math.inf] * 4 + [math.nan] * 8)
    assert v.emu.take() is None and v.emu.motors_ignored["not_finite"] == 1


def test_a_heartbeat_gap_restarts_the_stream(px4_types):
    v = Vehicle()
    v.tick(0.9, heartbeat=True)
    v.tick(0.6)  # gap longer than 0.5 s
    v.tick(0.5, heartbeat=True)
    v.offboard_request()  # 2 s since the first heartbeat, 0.5 s since the stream restarted
    assert v.emu.commands_refused == {"offboard_no_heartbeat": 1}
    v.tick(0.6, heartbeat=True)
    v.offboard_request()
    assert v.emu.nav_state == v.k["NAVIGATION_STATE_OFFBOARD"]


def test_commands_for_another_vehicle_are_ignored(px4_types):
    v = Vehicle()
    v.tick(1.2, heartbeat=True)
    v.command("VEHICLE_CMD_DO_SET_MODE", 1.0, 6.0, target=7)
    assert v.emu.counts["wrong_target"] == 1 and v.emu.nav_state == v.k["NAVIGATION_STATE_POSCTL"]
    v.command("VEHICLE_CMD_DO_SET_MODE", 1.0, 4.0)  # AUTO: not emulated
    assert v.emu.commands_refused == {"unsupported_mode": 1}


def test_heartbeat_loss_holds_then_lands_then_disarms(px4_types):
    v = Vehicle(com_of_loss_t_s=0.5, com_fail_act_t_s=0.3, com_disarm_land_s=0.2)
    v.engage()
    v.tick(0.2, heartbeat=True)
    k = v.k
    # heartbeat stops: OFFBOARD until COM_OF_LOSS_T has passed, then Hold with `failsafe` set
    loss_at = None
    for _ in range(100):
        v.tick()
        if v.emu.nav_state != k["NAVIGATION_STATE_OFFBOARD"]:
            loss_at = v.now
            break
    assert loss_at is not None
    silent = v.emu.failsafe["silent_s"]
    assert 0.5 < silent <= 0.5 + 0.01 + 1e-9  # the first cycle past COM_OF_LOSS_T
    st = v.status()
    assert st.nav_state == k["NAVIGATION_STATE_AUTO_LOITER"] and st.failsafe and st.arming_state == 2
    v.motors()  # the companion's commands no longer fly the vehicle
    assert v.emu.take() is None and v.emu.motors_ignored == {"not_offboard": 1}
    v.arm(False)  # disarm in the air: refused unless forced
    assert v.emu.commands_refused == {"disarm_not_landed": 1} and v.emu.armed
    v.tick(0.3)
    assert v.status().nav_state == k["NAVIGATION_STATE_AUTO_LAND"]
    v.landed = True
    v.tick(0.1)
    assert v.emu.armed  # COM_DISARM_LAND not yet
    v.tick(0.2)
    st = v.status()
    assert st.arming_state == k["ARMING_STATE_DISARMED"]
    assert st.latest_disarming_reason == k["ARM_DISARM_REASON_AUTO_DISARM_LAND"]
    order = [e["detail"].split(" ")[0] if e["event"] == "nav_state" else e["event"] for e in v.emu.events]
    assert [e for e in order if e != "refused"] == [
        "NAVIGATION_STATE_OFFBOARD", "armed", "NAVIGATION_STATE_AUTO_LOITER", "NAVIGATION_STATE_AUTO_LAND",
        "disarmed",
    ]  # fmt: skip


def test_a_new_mode_command_with_heartbeat_takes_the_vehicle_back_from_hold(px4_types):
    v = Vehicle(com_of_loss_t_s=0.5)
    v.engage()
    v.tick(0.7)
    assert v.emu.nav_state == v.k["NAVIGATION_STATE_AUTO_LOITER"]
    v.tick(1.2, heartbeat=True)
    v.offboard_request()
    v.tick()
    assert v.emu.offboard() and not v.status().failsafe


def test_forced_disarm_in_the_air(px4_types):
    v = Vehicle()
    v.engage()
    v.arm(False, forced=True)
    v.tick()
    assert v.status().arming_state == v.k["ARMING_STATE_DISARMED"]
    assert v.status().latest_disarming_reason == v.k["ARM_DISARM_REASON_COMMAND_EXTERNAL"]


def test_vehicle_status_on_every_change_and_at_its_rate(px4_types):
    v = Vehicle(status_rate_hz=5.0)
    v.tick(1.0)
    n = len(v.t.published[v.emu.topics["status"]])
    assert n == 5  # 5 Hz
    v.tick(1.2, heartbeat=True)
    n = len(v.t.published[v.emu.topics["status"]])
    v.offboard_request()
    v.tick()  # a change is published at once, not at the next 200 ms
    assert len(v.t.published[v.emu.topics["status"]]) == n + 1
    assert v.status().nav_state == v.k["NAVIGATION_STATE_OFFBOARD"] and v.status().timestamp == 2_210_000


def test_qos_and_topics_as_px4(px4_types):
    from deploy.px4 import messages

    v = Vehicle()
    q = v.t.qos
    for role in ("odometry", "status"):
        assert q[("pub", v.emu.topics[role])] == "px4_out"  # best effort, transient local
    for role in ("heartbeat", "command", "motors"):
        assert q[("sub", v.emu.topics[role])] == "px4_read"  # best effort
    from deploy.transport.qos import profile

    assert not profile("px4_out").reliable and profile("px4_out").transient_local
    assert not profile("px4_read").reliable
    ver = messages.message_version("VehicleStatus")
    assert v.emu.topics["status"] == "/fmu/out/vehicle_status" + (f"_v{ver}" if ver else "")


def test_topic_suffixes_follow_the_settings(px4_types, tmp_path):
    import yaml

    from deploy.px4.interface import DEFAULT_CONFIG

    d = yaml.safe_load(DEFAULT_CONFIG.read_text())
    d["versioned_topics"] = False
    path = tmp_path / "px4.yaml"
    path.write_text(yaml.safe_dump(d))
    v = Vehicle(hardware_config=str(path))
    assert v.emu.topics["status"] == "/fmu/out/vehicle_status"


def test_odometry_is_ned_frd_with_microsecond_stamps(px4_types):
    from deploy.px4 import frames

    v = Vehicle()
    s = math.sqrt(0.5)
    msg, key = v.emu.odometry_msg(
        1.25, np.array([1.0, 2.0, 3.0]), np.array([s, 0.0, 0.0, s]),  # 3 m up, nose north (yaw +90° ENU)
        np.array([0.5, 0.0, -0.25]), np.array([0.1, 0.2, 0.3]),
    )  # fmt: skip
    k = v.emu.k_odom
    assert msg.timestamp == msg.timestamp_sample == 1_250_000 and key == (1, 250_000_000)
    assert msg.pose_frame == k["POSE_FRAME_NED"] and msg.velocity_frame == k["VELOCITY_FRAME_NED"]
    assert np.allclose(msg.position, [2.0, 1.0, -3.0]) and np.allclose(msg.velocity, [0.0, 0.5, 0.25])
    assert np.allclose(msg.angular_velocity, [0.1, -0.2, -0.3])
    assert np.allclose(msg.q, [1.0, 0.0, 0.0, 0.0], atol=1e-6)  # nose north: NED yaw 0
    assert np.allclose(frames.quat_ned_frd_to_enu_flu(np.asarray(msg.q)), [s, 0.0, 0.0, s], atol=1e-6)


# -- the simulator bridge flying PX4 -------------------------------------------------------------


def _bridge(transport, **over):
    from deploy.nodes.params import load_node_params
    from deploy.nodes.sim_bridge_node import SimBridgeNode

    params = load_node_params(Path(CONFIG), "sim_bridge_node")
    params.update(over)
    clock = _Clock()
    return SimBridgeNode(transport, params, clock=clock), clock


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bridge_flies_px4_fallback_with_the_onboard_pid_after_heartbeat_loss(px4_types):
    from deploy.pid import QuadrotorPid
    from deploy.px4.motors import to_px4_controls

    t = QosTransport()
    bridge, clock = _bridge(t)
    emu = bridge.px4
    assert "/odom" not in t.published and "/imu/data" not in t.published  # PX4's topics only
    companion = QuadrotorPid(bridge.params_nominal, 1, bridge.sim_dt_s)  # flies the vehicle in offboard

    def cycle(heartbeat: bool, fly: bool) -> None:
        clock.t += 0.005
        if heartbeat and bridge.loop_cycles % 10 == 0:
            t.deliver(
                emu.topics["heartbeat"], t.make("px4_msgs/msg/OffboardControlMode", direct_actuator=True)
            )
        if fly and bridge.loop_cycles % 2 == 0:
            s = bridge.engine.state()
            s.command = np.array([[0.0, 0.0, 2.0, 0.0, 0.0, 0.0]])
            cmd = np.clip(0.5 * companion.act(s)[0] + 0.5, 0.0, 1.0)
            msg = t.make("px4_msgs/msg/ActuatorMotors", control=to_px4_controls(cmd, emu.index))
            t.deliver(emu.topics["motors"], msg)
        bridge.step()

    for _ in range(100):  # 0.5 s: motors without heartbeat or mode: the vehicle stays frozen
        cycle(False, True)
    assert bridge.frozen and bridge.sim_time_s == 0.0 and emu.counts["actuator_motors_applied"] == 0
    assert len(t.published[emu.topics["odometry"]]) == 100  # sensors flow while frozen
    for _ in range(240):
        cycle(True, False)
    request_offboard_and_arm(t, emu)
    for _ in range(600):  # 3 s of offboard flight
        cycle(True, True)
    assert not bridge.frozen and bridge.watchdog is None and bridge.commands_rx > 0
    z0 = bridge.engine.state().base_pos_m[0, 2]
    for _ in range(2000):  # the companion dies: heartbeat and motors stop
        cycle(False, False)
        if bridge.watchdog is not None and bridge.watchdog["landed"]:
            break
    wd = bridge.watchdog
    assert wd is not None and wd["landed"], wd
    assert emu.armed  # touched down; PX4 disarms COM_DISARM_LAND (0.5 s) later
    for _ in range(110):
        cycle(False, False)
    assert wd["timeout_s"] == 0.5 and 0.5 < wd["silent_s"] <= 0.5 + 0.005 + 1e-9
    assert bridge.crash is None
    s = bridge.engine.state()
    assert float(s.base_pos_m[0, 2]) < 0.1 < z0
    assert not emu.armed and emu.nav_state == emu.k_status["NAVIGATION_STATE_AUTO_LAND"]
    r = bridge.report()
    assert r["hardware"] == "px4" and r["px4"]["failsafe"]["reason"] == "offboard_lost"


# -- the PX4 interface (policy node side) against the emulator, in one process --------------------


class Bus:
    """Transports of several nodes joined in one process: a publish reaches every subscriber."""

    def __init__(self) -> None:
        self.callbacks: dict[str, list] = {}
        self.published: dict[str, list] = {}

    def transport(self) -> Any:
        bus = self

        class _T(NullTransport):
            def publisher(self, topic: str, ros_type: str, qos: str):
                sent = bus.published.setdefault(topic, [])

                class _P:
                    def publish(self, msg) -> None:
                        sent.append(msg)
                        for cb in list(bus.callbacks.get(topic, [])):
                            cb(msg)

                return _P()

            def subscribe(self, topic: str, ros_type: str, qos: str, callback) -> None:
                bus.callbacks.setdefault(topic, []).append(callback)

        return _T()


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("px4emu") / "linear_hover.onnx")


def _closed_loop(policy):
    from deploy.actions import actuator_to_action
    from deploy.px4.interface import Px4Config, Px4Interface
    from deploy.runtime.config import RuntimeConfig
    from deploy.runtime.policy_runner import PolicyRunner
    from deploy.runtime.robot_profile import RobotProfile
    from deploy.runtime.runtime import Runtime
    from deploy.runtime.stamps import StampClock
    from deploy.sim_bridge import airborne_profile

    bus = Bus()
    bridge, clock = _bridge(bus.transport())
    profile = airborne_profile(RobotProfile.from_yaml("deploy/runtime/profile_crazyflie_2_1_px4.yaml"))
    runtime = Runtime(
        PolicyRunner(policy, profile),
        RuntimeConfig.from_yaml("launch/config/runtime_sim.yaml"),
        clock=clock,
        stamp_clock=StampClock("none"),  # stamps judged by the interface against the test's clock
    )
    hover = profile.quadrotor.params.hover_command
    arm_action = actuator_to_action(runtime.contract, np.full(runtime.contract.action_size, hover))
    hw = Px4Interface(bus.transport(), runtime, Px4Config.from_yaml(), clock=clock, arm_action=arm_action)
    return bus, bridge, clock, runtime, hw


def _fly(bridge, clock, runtime, hw, cycles: int, alive: bool = True) -> list[str]:
    """`cycles` control periods (10 ms): two bridge steps, then (alive) one runtime cycle."""
    from deploy.runtime.input_store import Command

    states = []
    for _ in range(cycles):
        for _ in range(2):
            clock.t += 0.005
            bridge.step()
        if alive:
            runtime.put("command", Command(np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0])), clock.t, None)
            hw.publish(runtime.step())
        states.append(runtime.state.value)
    return states


def test_interface_and_emulator_engage_in_order_and_fly(px4_types, policy):
    bus, bridge, clock, runtime, hw = _closed_loop(policy)
    emu = bridge.px4
    _fly(bridge, clock, runtime, hw, 50)  # heartbeat only
    assert bus.published.get(hw.topics["motors"], []) == [] and emu.counts["heartbeat_rx"] > 0
    hw.request_arm(True)
    states = _fly(bridge, clock, runtime, hw, 300)  # 3 s
    assert "RUNNING" in states and states[-1] == "RUNNING", (emu.events, hw.faults)
    # the request waited for 1.2 s of heartbeat; PX4 switched to OFFBOARD, then armed, then the
    # runtime armed; the first motor command the emulator applied came after both
    order = [e["detail"].split(" ")[0] if e["event"] == "nav_state" else e["event"] for e in emu.events]
    assert order[:2] == ["NAVIGATION_STATE_OFFBOARD", "armed"], emu.events
    assert emu.commands_refused == {} and emu.motors_ignored.get("not_offboard", 0) == 0
    assert emu.counts["actuator_motors_applied"] > 200 and not bridge.frozen
    pos = bridge.engine.state().base_pos_m[0]
    assert bridge.crash is None and abs(pos[2] - 2.0) < 0.5, pos
    assert hw.refused == {}  # every VehicleOdometry the emulator wrote was accepted (frames, stamps)


def test_offboard_lost_at_the_vehicle_becomes_a_named_fault_and_commands_stop(px4_types, policy):
    bus, bridge, clock, runtime, hw = _closed_loop(policy)
    emu = bridge.px4
    _fly(bridge, clock, runtime, hw, 50)
    hw.request_arm(True)
    _fly(bridge, clock, runtime, hw, 250)
    assert runtime.state.value == "RUNNING"
    # the heartbeat stops for longer than COM_OF_LOSS_T (the node stalls; its cycles are skipped)
    _fly(bridge, clock, runtime, hw, 60, alive=False)
    assert emu.nav_state == emu.k_status["NAVIGATION_STATE_AUTO_LOITER"]
    sent = len(bus.published[hw.topics["motors"]])
    _fly(bridge, clock, runtime, hw, 5)  # the node wakes up and reads VehicleStatus
    assert runtime.state.value == "ESTOP"
    assert "px4_offboard_lost" in runtime.supervisor.history[-1].reason
    assert hw.faults and hw.faults[0].startswith("px4_offboard_lost")
    # no ActuatorMotors left the node while the vehicle was not in OFFBOARD (the cycle that found
    # the loss published nothing; only PX4's Hold flies the vehicle)
    assert len(bus.published[hw.topics["motors"]]) == sent
    applied = emu.counts["actuator_motors_applied"]
    _fly(bridge, clock, runtime, hw, 300)  # Hold 0.5 s, then Land: PX4's fallback flies
    assert emu.counts["actuator_motors_applied"] == applied
    assert bridge.watchdog is not None and bridge.crash is None
    assert emu.nav_state == emu.k_status["NAVIGATION_STATE_AUTO_LAND"]


def test_bridge_rejects_an_unknown_hardware(px4_types):
    with pytest.raises(ValueError, match="expected tether or px4"):
        _bridge(NullTransport(), hardware="mavlink")


def test_emulator_parameters_are_checked():
    from deploy.px4.emulator import Px4EmulatorConfig

    with pytest.raises(ValueError, match="unknown"):
        Px4EmulatorConfig.from_params({"com_of_loss_t": 1.0})
    with pytest.raises(ValueError, match="expected > 0"):
        Px4EmulatorConfig.from_params({"com_of_loss_t_s": 0.0})
    assert dataclasses.asdict(Px4EmulatorConfig())["com_of_loss_t_s"] == 1.0


def test_interface_odometry_across_the_start_of_a_simulation_clock(px4_types, policy):
    """Odometry before /clock runs is judged by arrival only; once it runs, stamps are mapped onto
    it afresh: nothing is refused as from the future or going backwards."""
    from deploy.px4.interface import Px4Config, Px4Interface
    from deploy.runtime.config import RuntimeConfig
    from deploy.runtime.policy_runner import PolicyRunner
    from deploy.runtime.robot_profile import RobotProfile
    from deploy.runtime.runtime import Runtime

    clock = _Clock()
    runtime = Runtime(
        PolicyRunner(policy, RobotProfile.from_yaml("deploy/runtime/profile_crazyflie_2_1_px4.yaml")),
        RuntimeConfig.from_yaml("launch/config/runtime_sim.yaml"),  # stamps.clock: sim
        clock=clock,
    )
    t = NullTransport()
    hw = Px4Interface(t, runtime, Px4Config.from_yaml(), clock=clock)
    v = Vehicle()  # the emulator writes the messages
    state = (np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3), np.zeros(3))
    for _ in range(5):  # a simulation held frozen at time 0, no /clock yet
        clock.t += 0.01
        t.deliver(hw.topics["odometry"], v.emu.odometry_msg(0.0, *state)[0])
    for k in range(1, 20):
        clock.t += 0.01
        runtime.stamp_clock.set_sim_time(k * 0.01)
        t.deliver(hw.topics["odometry"], v.emu.odometry_msg(k * 0.01, *state)[0])
    st = runtime.inputs.status("odometry")
    assert hw.refused == {} and st.received == 24 and st.unstamped == 5
    assert all(n == 0 for n in st.stamp_refused.values()), st.stamp_refused
