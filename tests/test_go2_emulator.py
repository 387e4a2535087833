"""The Go2 emulator in the legged simulator bridge, without DDS (deploy/go2/emulator.py,
hardware: unitree_go2): LowCmd_ applied by joint name through the PD law, a corrupted CRC dropped
and counted with no effect, the watchdog going passive when valid commands stop, LowState_ with
the robot's CRC, and sport mode ignoring low-level commands."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.go2 import crc, messages
from deploy.nodes.legged_sim_bridge_node import LeggedSimBridgeNode
from deploy.nodes.params import load_node_params
from deploy.transport import messages as tm

PARAMS = "launch/config/quadruped_go2_sim.yaml"
SDK = messages.SDK_MOTOR_ORDER


class FakeTransport:
    make = staticmethod(tm.make)

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


def bridge(**overrides):
    params = load_node_params(PARAMS, "legged_sim_bridge_node")
    params.update(overrides)
    t = FakeTransport()
    return LeggedSimBridgeNode(t, params, clock=lambda: 0.0), t


def lowcmd(q, kp, kd, corrupt=False):
    messages.register()
    cmd = tm.make(messages.LOW_CMD)
    cmd.head, cmd.level_flag = list(messages.HEAD), messages.LOW_LEVEL
    for k in range(12):
        m = cmd.motor_cmd[k]
        m.mode, m.q, m.kp, m.kd = messages.MOTOR_MODE_SERVO, float(q[k]), float(kp), float(kd)
    cmd.crc = crc.low_cmd_crc(cmd) ^ (0x10 if corrupt else 0)
    return cmd


def test_lowcmd_applies_by_joint_name_and_lowstate_carries_the_state_with_its_crc():
    b, t = bridge()
    assert np.all(b.kp == 0) and np.all(b.kd == 0)  # powered, no torque
    q = np.linspace(-0.5, 0.5, 12)
    t.subs["/lowcmd"](lowcmd(q, 30.0, 1.0))
    b.step()
    for k, name in enumerate(SDK):
        j = b.joints.index(name)
        assert b.target[j] == pytest.approx(q[k], abs=1e-6) and b.kp[j] == 30.0 and b.kd[j] == 1.0
    b.step()
    state = t.sent["/lowstate"][-1]
    assert state.crc == crc.low_state_crc(state)
    s = b.engine.state()
    for k, name in enumerate(SDK):  # joint_states noise is 1 mrad in this file
        assert state.motor_state[k].q == pytest.approx(s.joint_pos_rad[0][b.joints.index(name)], abs=0.01)
    assert state.tick == round(b.sim_time_s * 1e3)
    assert b.report()["go2"]["applied"] == 1


def test_a_corrupted_crc_has_no_effect_and_is_counted():
    b, t = bridge()
    t.subs["/lowcmd"](lowcmd(np.zeros(12), 20.0, 0.5))
    b.step()
    before = (b.target.copy(), b.kp.copy(), b.kd.copy())
    for _ in range(5):
        t.subs["/lowcmd"](lowcmd(np.full(12, 1.0), 80.0, 3.0, corrupt=True))
        b.step()
    assert np.array_equal(b.target, before[0]) and np.array_equal(b.kp, before[1])
    assert np.array_equal(b.kd, before[2])
    rep = b.report()["go2"]
    assert rep["crc_dropped"] == 5 and rep["applied"] == 1
    # corrupted commands are not commands: the watchdog trips as if nothing arrived
    for _ in range(int(0.1 * 200) + 2):
        t.subs["/lowcmd"](lowcmd(np.full(12, 1.0), 80.0, 3.0, corrupt=True))
        b.step()
    assert b.watchdog is not None and np.all(b.kp == 0) and np.all(b.kd == 2.0)


def test_commands_stopping_beyond_the_timeout_make_the_robot_passive():
    b, t = bridge()
    t.subs["/lowcmd"](lowcmd(np.zeros(12), 20.0, 0.5))
    b.step()
    steps = 0
    while b.watchdog is None and steps < 100:
        b.step()
        steps += 1
    assert b.watchdog is not None
    assert b.watchdog["steps_since_last_command"] * b.sim_dt_s <= 0.1 + b.sim_dt_s + 1e-9
    assert np.all(b.kp == 0) and np.all(b.kd == 2.0)  # damping, latched
    t.subs["/lowcmd"](lowcmd(np.zeros(12), 20.0, 0.5))
    b.step()
    assert np.all(b.kp == 0)


def test_sport_mode_ignores_low_level_commands_and_announces_itself():
    b, t = bridge(go2={"sport_mode_s": 0.05})
    t.subs["/lowcmd"](lowcmd(np.zeros(12), 20.0, 0.5))
    b.step()
    b.step()
    assert np.all(b.kp == 0) and b.report()["go2"]["sport_mode_ignored"] == 1
    assert t.sent["/sportmodestate"]
    for _ in range(12):
        b.step()
    n = len(t.sent["/sportmodestate"])
    t.subs["/lowcmd"](lowcmd(np.zeros(12), 20.0, 0.5))
    for _ in range(4):
        b.step()
    assert np.all(b.kp == 20.0) and len(t.sent["/sportmodestate"]) == n  # released
