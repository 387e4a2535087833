"""The robot's side of the Go2 low-level protocol, for the simulator bridge (HIL). No simulator here:
the legged bridge (deploy/nodes/legged_sim_bridge_node.py) supplies the measured state and applies
the motor commands this module decodes; the rules are the robot's:

- rt/lowcmd (LowCmd_): a command whose CRC does not match is dropped and counted, as the robot
  drops it, and so is one whose level_flag is not low level (0xFF); it does not count as a command
  for the hardware watchdog either. Motor k (the SDK's slot, FR, FL, RR, RL × hip, thigh, calf)
  in mode 0x01 runs τ = kp (q* − q) + kd (dq* − q̇) + τff (a q* of PosStopF drops the position
  term, a dq* of VelStopF the velocity term, as the SDK's markers mean); mode 0 is no torque. With
  dq* = 0 and τff = 0 this is the training PD law.
- rt/lowstate (LowState_): the IMU (quaternion w, x, y, z; gyroscope and accelerometer in the
  body frame), motor_state q, dq, tau_est per slot, foot force, a millisecond tick, and its CRC.
- rt/sportmodestate (SportModeState_) is published while the emulated sport mode runs
  (`sport_mode_s` of simulated time from the start); low-level commands are ignored meanwhile.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from deploy.go2 import crc, messages


class Go2Emulator:
    """Decodes LowCmd_ into per-joint PD terms (in `joints` order) and encodes LowState_."""

    def __init__(self, transport: Any, joints: Sequence[str], sport_mode_s: float = 0.0) -> None:
        messages.register()
        missing = sorted(set(messages.SDK_MOTOR_ORDER) - set(joints))
        if missing:
            raise ValueError(
                f"the Go2 emulator needs the Go2's 12 joints; the simulated robot lacks {missing}"
            )
        self.t = transport
        self.joints = tuple(joints)
        self.from_sdk = np.array([self.joints.index(n) for n in messages.SDK_MOTOR_ORDER])
        self.sport_mode_s = float(sport_mode_s)
        self._lock = threading.Lock()
        n = len(self.joints)
        self.target = np.zeros(n)
        self.kp, self.kd, self.bias_nm = np.zeros(n), np.zeros(n), np.zeros(n)
        self.fresh = False  # a new command arrived since take()
        self.sim_time_s = 0.0
        self.counts = {"lowcmd_rx": 0, "crc_dropped": 0, "not_low_level": 0, "sport_mode_ignored": 0}
        self.counts |= {"applied": 0, "lowstate_sent": 0}
        transport.subscribe("/lowcmd", messages.LOW_CMD, "default", self._on_lowcmd)
        self.state_publisher = transport.publisher("/lowstate", messages.LOW_STATE, "sensor_data")
        self._sport_pub = transport.publisher("/sportmodestate", messages.SPORT_MODE_STATE, "sensor_data")
        self._state = transport.make(messages.LOW_STATE)
        self._state.head = list(messages.HEAD)
        self._state.level_flag = messages.LOW_LEVEL
        self._sport = transport.make(messages.SPORT_MODE_STATE)

    def sport_mode_active(self) -> bool:
        return self.sim_time_s < self.sport_mode_s

    def _on_lowcmd(self, msg: Any) -> None:
        with self._lock:
            self.counts["lowcmd_rx"] += 1
            if crc.low_cmd_crc(msg) != msg.crc:
                self.counts["crc_dropped"] += 1
                return
            if msg.level_flag != messages.LOW_LEVEL:
                self.counts["not_low_level"] += 1
                return
            if self.sport_mode_active():
                self.counts["sport_mode_ignored"] += 1
                return
            for k, j in enumerate(self.from_sdk):
                m = msg.motor_cmd[k]
                on = m.mode == messages.MOTOR_MODE_SERVO
                pos = on and abs(m.q) < messages.POS_STOP_F / 2
                vel_term = m.kd * m.dq if abs(m.dq) < messages.VEL_STOP_F / 2 else 0.0
                self.target[j] = m.q if pos else 0.0
                self.kp[j] = m.kp if pos else 0.0
                self.kd[j] = m.kd if on else 0.0
                self.bias_nm[j] = (vel_term + m.tau) if on else 0.0
            self.fresh = True
            self.counts["applied"] += 1

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """The newest accepted command (target rad, kp, kd, bias N·m; `joints` order), once; else None."""
        with self._lock:
            if not self.fresh:
                return None
            self.fresh = False
            return self.target.copy(), self.kp.copy(), self.kd.copy(), self.bias_nm.copy()

    def state_msg(
        self,
        sim_time_s: float,
        q_rad: np.ndarray,
        dq_rad_s: np.ndarray,
        tau_nm: np.ndarray,
        quat_wxyz: np.ndarray,
        gyro_rad_s: np.ndarray,
        accel_m_s2: np.ndarray,
        foot_force: Sequence[int],
    ) -> Any:
        """A new LowState_ (values given in `joints` order) with its CRC; the caller publishes it on
        `state_publisher` (now or after an injected latency). Publishes SportModeState_ while the
        emulated sport mode runs."""
        self.sim_time_s = sim_time_s
        s = copy.deepcopy(self._state)
        for k, j in enumerate(self.from_sdk):
            m = s.motor_state[k]
            m.mode = messages.MOTOR_MODE_SERVO
            m.q, m.dq, m.tau_est = float(q_rad[j]), float(dq_rad_s[j]), float(tau_nm[j])
            m.temperature = 40
        imu = s.imu_state
        imu.quaternion = [float(x) for x in quat_wxyz]
        imu.gyroscope = [float(x) for x in gyro_rad_s]
        imu.accelerometer = [float(x) for x in accel_m_s2]
        s.foot_force = [int(f) for f in foot_force]
        s.tick = int(round(sim_time_s * 1e3)) & 0xFFFFFFFF
        s.crc = crc.low_state_crc(s)
        self.counts["lowstate_sent"] += 1
        if self.sport_mode_active():
            self._sport.stamp.sec = int(sim_time_s)
            self._sport.stamp.nanosec = int((sim_time_s % 1.0) * 1e9)
            self._sport_pub.publish(self._sport)
        return s

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {"hardware": "unitree_go2", "sport_mode_s": self.sport_mode_s, **self.counts}
