"""The Go2 low-level interface without DDS (deploy/go2/interface.py): LowState_ → the runtime's
inputs by name, the runtime's output → LowCmd_ in the SDK's motor order with the contract's gains
and a valid CRC, sport mode refusal, and each bad input ending in a named fault with only damping
sent."""

from __future__ import annotations

import copy
import dataclasses
import re

import numpy as np
import pytest

from deploy.go2 import crc, messages
from deploy.go2.interface import Go2LowLevel, motor_map
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.input_store import Command
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import RobotProfile
from deploy.runtime.runtime import ArmingRefusedError, Runtime
from deploy.transport import messages as tm

PROFILE = "deploy/runtime/profile_go2_lowlevel.yaml"
POLICY = "policies/quadruped_walk.onnx"
SDK = messages.SDK_MOTOR_ORDER

pytestmark = pytest.mark.skipif(
    not __import__("pathlib").Path(POLICY).exists(), reason=f"{POLICY} absent (the contract comes from it)"
)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeTransport:
    make = staticmethod(tm.make)

    def __init__(self) -> None:
        self.sent: dict[str, list] = {}
        self.subs: dict[str, object] = {}

    def publisher(self, name, ros_type, qos):
        sent = self.sent.setdefault(name, [])

        class Pub:
            def publish(self, msg):
                sent.append(tm.deserialize(msg.serialize(), ros_type))  # a copy, as the wire makes

        return Pub()

    def subscribe(self, name, ros_type, qos, callback):
        self.subs[name] = callback


def make_rig():
    clock = Clock()
    profile = RobotProfile.from_yaml(PROFILE)
    runtime = Runtime(
        PolicyRunner(POLICY, profile), RuntimeConfig.from_yaml("launch/config/runtime_sim_legged.yaml"), clock
    )
    t = FakeTransport()
    return Go2LowLevel(t, runtime, clock=clock), runtime, t, clock


def lowstate(q=None, error_slot=None, corrupt=False):
    messages.register()
    msg = tm.make(messages.LOW_STATE)
    default = {
        j.name: j.default_pos_rad
        for j in PolicyRunner(POLICY, RobotProfile.from_yaml(PROFILE)).contract.joints
    }
    qs = np.array([default[n] for n in SDK]) if q is None else np.asarray(q)
    for k in range(12):
        msg.motor_state[k].q = float(qs[k])
        msg.motor_state[k].dq = 0.01 * k
    msg.imu_state.quaternion = [1.0, 0.0, 0.0, 0.0]
    msg.imu_state.accelerometer = [0.0, 0.0, 9.81]
    if error_slot is not None:
        msg.motor_state[error_slot].reserve = [0x4, 0]
    msg.tick = 1234
    msg.crc = crc.low_state_crc(msg) ^ (1 if corrupt else 0)
    return msg


def feed(go2, t, clock, msg, seconds=0.0):
    t.subs["/lowstate"](msg)
    clock.t += seconds


def test_lowstate_reaches_the_runtime_by_joint_name():
    go2, runtime, t, clock = make_rig()
    q = np.arange(12) * 0.01 + 0.5 * np.array([0, 1, -3] * 4)  # distinct, inside the limits
    feed(go2, t, clock, lowstate(q=q))
    js = runtime.inputs.get("joint_states").value
    assert js.names == SDK and np.allclose(js.pos_rad, q, atol=1e-6)
    assert np.allclose(js.vel_rad_s, 0.01 * np.arange(12), atol=1e-6)
    imu = runtime.inputs.get("imu").value
    assert np.allclose(imu.quat_wxyz, [1, 0, 0, 0]) and np.allclose(imu.lin_acc_m_s2, [0, 0, 9.81], atol=1e-5)


def test_lowcmd_in_sdk_motor_order_with_contract_gains_and_a_valid_crc():
    go2, runtime, t, clock = make_rig()
    feed(go2, t, clock, lowstate())
    out = runtime.step(clock.t)  # DISARMED: damping
    assert go2.publish(out)
    from deploy.runtime.runtime import RuntimeOutput
    from deploy.runtime.safety import State

    profile = runtime.profile
    command = np.array([0.01 * profile.actuators.index(n) for n in profile.actuators]) - 0.5
    go2.publish(
        RuntimeOutput(State.RUNNING, "policy", np.zeros(12), profile.actuators, command, None, None, ())
    )
    damping, policy = t.sent["/lowcmd"][-2:]
    drives = {j.name: j for j in runtime.contract.joints}
    for msg in (damping, policy):
        assert list(msg.head) == [0xFE, 0xEF] and msg.level_flag == 0xFF
        assert msg.crc == crc.low_cmd_crc(msg)
        assert all(m.mode == 0 and m.q == pytest.approx(messages.POS_STOP_F) for m in msg.motor_cmd[12:])
    for k, name in enumerate(SDK):
        m = policy.motor_cmd[k]
        assert m.mode == messages.MOTOR_MODE_SERVO and m.dq == 0.0 and m.tau == 0.0
        assert m.q == pytest.approx(0.01 * profile.actuators.index(name) - 0.5, abs=1e-6)
        assert m.kp == pytest.approx(drives[name].kp_nm_per_rad) and m.kd == pytest.approx(
            drives[name].kd_nm_s_per_rad
        )
        assert damping.motor_cmd[k].kp == 0.0 and damping.motor_cmd[k].kd == pytest.approx(
            profile.legged.damping_kd
        )


def test_sport_mode_active_refuses_arming_and_sends_nothing_until_released():
    go2, runtime, t, clock = make_rig()
    feed(go2, t, clock, lowstate())
    t.subs["/sportmodestate"](tm.make(messages.SPORT_MODE_STATE))
    problems = go2.arming_problems()
    assert problems and "sport mode active" in problems[0] and "ReleaseMode" in problems[0]
    assert not go2.publish(runtime.step(clock.t)) and t.sent["/lowcmd"] == []
    clock.t += go2.config.sport_mode_timeout_s + 0.01  # released: no SportModeState_ any more
    feed(go2, t, clock, lowstate())
    assert go2.arming_problems() == [] and go2.publish(runtime.step(clock.t))


def _arm_and_stand(go2, runtime, t, clock):
    feed(go2, t, clock, lowstate())
    runtime.put("command", Command(np.zeros(3)), clock.t)
    runtime.arm(clock.t)
    out = runtime.step(clock.t)
    assert out.state.value == "STARTING" and np.all(out.kp > 0)
    go2.publish(out)
    assert t.sent["/lowcmd"][-1].motor_cmd[0].kp > 0


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("nan", "not finite"),
        ("range", "FR_calf"),
        ("motor_error", "FR_calf (motor 2) error code 0x4"),
        ("crc", "CRC"),
        ("stops", "joint_states"),
    ],
)
def test_bad_lowstate_is_a_named_fault_and_only_damping_leaves(bad, reason):
    go2, runtime, t, clock = make_rig()
    _arm_and_stand(go2, runtime, t, clock)
    q = lowstate()
    if bad == "nan":
        q.motor_state[4].q = float("nan")
        q.crc = crc.low_state_crc(q)
    elif bad == "range":
        q.motor_state[2].q = 0.5  # a calf far beyond its stop
        q.crc = crc.low_state_crc(q)
    elif bad == "motor_error":
        q = lowstate(error_slot=2)
    elif bad == "crc":
        q = lowstate(corrupt=True)
    clock.t += 0.02
    if bad == "stops":
        clock.t += 0.2  # no LowState_ for 200 ms: stale
    else:
        feed(go2, t, clock, q)
    out = runtime.step(clock.t)
    assert out.state.value in ("FAILSAFE", "DISARMED"), out  # start-up aborted: damping
    assert any(reason in str(f) for f in out.faults), [str(f) for f in out.faults]
    go2.publish(out)
    sent = t.sent["/lowcmd"][-1]
    assert all(m.kp == 0.0 and m.kd > 0.0 for m in sent.motor_cmd[:12])
    assert sent.crc == crc.low_cmd_crc(sent)
    with pytest.raises(ArmingRefusedError, match=re.escape(reason)):  # not sane: no re-arming either
        runtime.arm(clock.t)


def test_a_contract_or_profile_not_covering_the_go2s_12_joints_is_refused_by_name():
    profile = RobotProfile.from_yaml(PROFILE)
    contract = PolicyRunner(POLICY, profile).contract
    assert sorted(motor_map(contract, profile)) == list(range(12))
    short = copy.copy(contract)  # as a contract for another robot would be: no drive for RL_calf
    object.__setattr__(short, "joints", tuple(j for j in contract.joints if j.name != "RL_calf"))
    with pytest.raises(ValueError, match=r"no joint drive .* for \['RL_calf'\]"):
        motor_map(short, profile)
    eleven = dataclasses.replace(profile, actuators=profile.actuators[:11])
    with pytest.raises(ValueError, match="must be the Go2's 12 motors"):
        motor_map(contract, eleven)
