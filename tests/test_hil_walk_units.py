"""The quadruped HIL pieces without DDS: message conversions, the forward_command_controller
joint order, the legged bridge's hardware (gains, zero torque, watchdog), the runtime's joint order,
and the walk scenario's scoring."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.nodes.joint_command import JointCommandPublisher, controller_order
from deploy.runtime.robot_profile import RobotProfile
from deploy.transport import convert, messages
from tether.hil.faults import Fault
from tether.hil.walk import COL, WalkScenario
from tether.hil.walk_faults import DISRUPTIVE, bridge_overrides

GO2 = "deploy/runtime/profile_go2.yaml"
ENGINE_ORDER = tuple(f"{leg}_{j}" for leg in ("FL", "FR", "RL", "RR") for j in ("hip", "thigh", "calf"))


class FakeTransport:
    """Records what is published; lets a test call the subscriptions."""

    make = staticmethod(messages.make)

    def __init__(self) -> None:
        self.sent: dict[str, list] = {}
        self.subs: dict[str, object] = {}

    def publisher(self, name, ros_type, qos):
        sent = self.sent.setdefault(name, [])

        class Pub:
            def publish(self, msg):
                sent.append(msg)

        return Pub()

    def subscribe(self, name, ros_type, qos, callback):
        self.subs[name] = callback


def test_joint_states_twist_and_float64_arrays_convert_both_ways():
    q, qd = np.linspace(-1, 1, 12), np.linspace(2, 3, 12)
    msg = convert.joint_states_msg(messages.make, 1.25, ENGINE_ORDER, q, qd, np.ones(12))
    js = convert.joint_states_from_msg(msg)
    assert js.names == ENGINE_ORDER and np.allclose(js.pos_rad, q) and np.allclose(js.vel_rad_s, qd)
    assert convert.header_stamp_s(msg.header.stamp) == pytest.approx(1.25)
    cmd = convert.velocity_command_from_twist(convert.twist_msg(messages.make, 0.5, -0.2, 0.7))
    assert np.allclose(cmd.value, [0.5, -0.2, 0.7])
    arr = convert.float64_array_msg(messages.make, [1.0, 2.0, 3.0])
    assert np.allclose(convert.float64_array_from_msg(arr, 3), [1, 2, 3])
    assert convert.float64_array_from_msg(arr, 4) is None  # wrong size: refused, as the controller does


def test_controller_joint_order_must_be_the_actuators_each_once():
    acts = ("a", "b", "c")
    assert list(controller_order(acts, ["c", "a", "b"], "x")) == [2, 0, 1]
    assert list(controller_order(acts, [], "x")) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"controller's joints .* must be the robot's actuators"):
        controller_order(acts, ["a", "b", "b"], "joint_command.joints")


def _runtime_output(profile, command, kp=None, kd=None):
    from deploy.runtime.runtime import RuntimeOutput
    from deploy.runtime.safety import State

    return RuntimeOutput(State.RUNNING, "policy", np.zeros(12), profile.actuators, command, kp, kd, ())


class CdrTransport(FakeTransport):
    """As FakeTransport, with publishers that take a message's CDR bytes (as DDS's do); what is
    sent is recorded as the message those bytes decode to."""

    def publisher(self, name, ros_type, qos):
        sent = self.sent.setdefault(name, [])

        class Pub:
            def publish(self, msg):
                sent.append(msg)

            def publish_cdr(self, data):
                sent.append(messages.deserialize(data, ros_type))

        return Pub()


@pytest.mark.parametrize("transport", [FakeTransport, CdrTransport], ids=["messages", "cdr"])
@pytest.mark.parametrize("wire_order", ["reversed", "profile"])
def test_joint_commands_go_out_in_the_controllers_order_with_the_contracts_gains_for_the_policy(
    transport, wire_order
):
    from sim.tasks.quadruped_walk import WalkConfig

    contract = WalkConfig.from_yaml().contract()
    profile = RobotProfile.from_yaml(GO2)
    t = transport()
    # yet another order (names decide, never positions), or the profile's own
    wire = list(reversed(ENGINE_ORDER)) if wire_order == "reversed" else list(profile.actuators)
    topics = {"joint_position_commands": "/p", "joint_kp_commands": "/kp", "joint_kd_commands": "/kd"}
    pub = JointCommandPublisher(t, contract, profile, wire, topics)
    command = np.array([float(profile.actuators.index(n)) for n in profile.actuators])  # value = index
    pub.publish(_runtime_output(profile, command))
    wire_index = [float(profile.actuators.index(n)) for n in wire]
    assert list(t.sent["/p"][0].data) == wire_index
    assert np.allclose(t.sent["/kp"][0].data, 20.0) and np.allclose(t.sent["/kd"][0].data, 0.5)  # contract
    # start-up / damping: the runtime's gains, per joint, in the same wire order
    pub.publish(_runtime_output(profile, command, kp=command * 10.0, kd=np.full(12, 2.0)))
    assert list(t.sent["/kp"][1].data) == [10.0 * i for i in wire_index]
    assert np.allclose(t.sent["/kd"][1].data, 2.0) and len(t.sent["/kd"][1].data) == 12
    pub.publish(_runtime_output(profile, command + 1.0))  # the policy again: the contract's gains
    assert list(t.sent["/p"][2].data) == [i + 1.0 for i in wire_index]
    assert np.allclose(t.sent["/kp"][2].data, 20.0) and np.allclose(t.sent["/kd"][2].data, 0.5)


def test_the_runtime_observes_joints_in_the_contracts_order_whatever_the_hardwares():
    """Go2's hardware order (FR, FL, RR, RL) differs from the contract's (FL, FR, RL, RR): the state
    the observation is built from must carry the joints in the contract's order."""
    from deploy.runtime.input_store import Imu, JointStates, Sample
    from deploy.runtime.state_assembly import StateAssembler
    from sim.tasks.quadruped_walk import WalkConfig

    contract = WalkConfig.from_yaml().contract()
    profile = RobotProfile.from_yaml(GO2)
    assert profile.joints != ENGINE_ORDER
    asm = StateAssembler(contract, profile)
    q = np.arange(12, dtype=float)
    js = JointStates(profile.joints, np.array([q[ENGINE_ORDER.index(n)] for n in profile.joints]), q * 0)
    imu = Imu(np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3))
    a = asm.assemble({"joint_states": Sample(js, 0.0), "imu": Sample(imu, 0.0)}, 0.0, np.zeros(12))
    assert a.state.joint_names == ENGINE_ORDER
    assert np.allclose(a.state.joint_pos_rad[0], q)
    defaults = {j.name: j.default_pos_rad for j in contract.joints}
    assert np.allclose(a.state.joint_default_pos_rad[0], [defaults[n] for n in ENGINE_ORDER])


@pytest.fixture(scope="module")
def bridge():
    from deploy.nodes.legged_sim_bridge_node import LeggedSimBridgeNode

    t = FakeTransport()
    node = LeggedSimBridgeNode(t, {"controller_joints": list(reversed(ENGINE_ORDER))})
    return node, t


def test_the_legged_bridge_has_no_torque_until_gains_arrive_then_applies_them_and_refuses_bad_sizes(bridge):
    node, t = bridge
    for _ in range(100):  # 0.5 s with the motors off: the robot sits down
        node.step()
    assert node.modes[0]["mode"] == "zero_torque"
    assert node.engine.state().base_pos_m[0, 2] < 0.2
    assert "/joint_states" in t.sent and "/imu/data" in t.sent
    js = t.sent["/joint_states"][-1]
    assert tuple(js.name) == ENGINE_ORDER and len(js.position) == 12 and len(js.effort) == 12
    make = messages.make
    t.subs["/joint_kp_controller/commands"](convert.float64_array_msg(make, [60.0] * 24))  # 24 ≠ 12
    t.subs["/joint_kd_controller/commands"](convert.float64_array_msg(make, [-1.0] * 12))  # negative
    assert node.commands_rejected == {"positions": 0, "kp": 1, "kd": 1}
    assert np.all(node.kp == 0.0) and np.all(node.kd == 0.0)
    wire = list(reversed(ENGINE_ORDER))
    kp_wire = [60.0 + i for i in range(12)]  # distinct per joint: the wire order is mapped by name
    t.subs["/joint_kp_controller/commands"](convert.float64_array_msg(make, kp_wire))
    t.subs["/joint_kd_controller/commands"](convert.float64_array_msg(make, [2.0] * 12))
    assert node.commands_rx["kp"] == 1 and node.commands_rx["kd"] == 1
    assert node.kp[ENGINE_ORDER.index(wire[0])] == 60.0 and np.all(node.kd == 2.0)
    kp_wire = [60.0] * 12
    t.subs["/joint_kp_controller/commands"](convert.float64_array_msg(make, kp_wire))
    default = node.env.default_joint_pos_rad  # engine order
    targets = [default[ENGINE_ORDER.index(n)] for n in wire]
    t.subs["/joint_position_controller/commands"](convert.float64_array_msg(make, targets))
    assert np.allclose(node.target, default)  # wire order mapped back by name
    nan = list(targets)
    nan[0] = float("nan")
    t.subs["/joint_position_controller/commands"](convert.float64_array_msg(make, nan))
    assert node.nonfinite_commands == 1 and np.allclose(node.target, default)  # held, not applied
    for _ in range(10):
        node.step()
        t.subs["/joint_position_controller/commands"](convert.float64_array_msg(make, targets))
    assert node.modes[-1]["mode"] == "stiff" and node.modes[-1]["kp_mean"] == 60.0
    assert node._model.actuator_gainprm[node._actuator_ids[0], 0] == pytest.approx(60.0)
    # silence: the hardware watchdog damps after its timeout (in physics steps), latched
    steps = 0
    while node.watchdog is None and steps < 100:
        node.step()
        steps += 1
    assert node.watchdog is not None
    assert node.watchdog["steps_since_last_command"] * node.sim_dt_s <= 0.1 + node.sim_dt_s + 1e-9
    node.step()
    assert node.modes[-1]["mode"] == "damping" and np.all(node.kp == 0.0)


def _traj(t, z, tilt_cos=1.0, vz=0.0, vx=0.0, contact=0.0):
    rows = np.zeros((len(t), len(COL)))
    rows[:, COL["t_s"]] = t
    rows[:, COL["z_m"]] = z
    rows[:, COL["tilt_cos"]] = tilt_cos
    rows[:, COL["vz_world_m_s"]] = vz
    rows[:, COL["vx_body_m_s"]] = vx
    rows[:, COL["trunk_contact"]] = contact
    return rows


def test_walk_scoring_counts_errors_after_settling_and_calls_a_trunk_contact_a_fall():
    sc = WalkScenario.load()
    t = np.arange(0.0, 10.0, 0.02)
    commands = np.array([[0.5, 0.0, 0.0], [0.0, 0.0, 0.0]])
    vx = np.where(t < 5.0, 0.5, 0.0) + np.where((t % 5.0) < 1.0, 0.3, 0.0)  # off only while settling
    w = sc.score_walk(_traj(t, 0.3, vx=vx), 0.0, 10.0, commands)
    assert not w["fell"] and w["lin_vel_err_m_s"] == pytest.approx(0.0) and w["success"]
    contact = np.where(t > 7.0, 1.0, 0.0)
    w = sc.score_walk(_traj(t, 0.3, vx=vx, contact=contact), 0.0, 10.0, commands)
    assert w["fell"] and w["fall_sim_time_s"] == pytest.approx(7.02) and not w["success"]


def test_a_damped_sit_down_is_safe_a_collapse_or_a_tip_over_is_not():
    sc = WalkScenario.load()
    t = np.arange(0.0, 3.0, 0.02)
    assert sc.sit_down(_traj(t, 0.2, vz=-0.6), 0.0)["safe"]
    assert not sc.sit_down(_traj(t, 0.2, vz=-2.0), 0.0)["safe"]  # a zero-torque collapse
    assert not sc.sit_down(_traj(t, 0.2, tilt_cos=0.3), 0.0)["safe"]  # tipped over (> 60°)


def test_startup_sequence_is_read_from_the_hardwares_gain_modes():
    sc = WalkScenario.load()
    modes = [
        {"mode": "zero_torque", "kp_mean": 0.0},
        {"mode": "damping", "kp_mean": 0.0},
        {"mode": "stiff", "kp_mean": 60.0},
        {"mode": "stiff", "kp_mean": 20.0},
        {"mode": "damping", "kp_mean": 0.0},
    ]
    traj = _traj(np.array([0.0, 5.0]), np.array([0.06, 0.29]))
    s = sc.startup(traj, modes, 5.0, 0.333, stand_kp=60.0, policy_kp=20.0)
    assert s["in_order"] and s["ok"] and s["height_at_policy_m"] == pytest.approx(0.29)
    s = sc.startup(traj, modes[1:], 5.0, 0.333, stand_kp=60.0, policy_kp=20.0)
    assert not s["ok"]  # no zero-torque phase seen


def test_legged_faults_inject_into_joint_states_and_imu():
    assert bridge_overrides(Fault.parse("drop")) == [
        "joint_states.drop_probability=0.2", "imu.drop_probability=0.2",
    ]  # fmt: skip
    assert "faults.freeze_sensor=joint_states" in bridge_overrides(Fault.parse("freeze@2"))
    assert "faults.nan_sensor=imu" in bridge_overrides(Fault.parse("nan@2"))
    assert bridge_overrides(Fault.parse("kill@2")) == []
    assert {"freeze", "nan", "kill", "estop"} == DISRUPTIVE
