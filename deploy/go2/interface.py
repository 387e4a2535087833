"""The Unitree Go2 low-level interface, loaded in the policy node when the robot profile says
`hardware_interface: unitree_go2`: one DDS hop from the robot's state to the policy.

In:  rt/lowstate (unitree_go LowState_): IMU quaternion (w, x, y, z, as Tether), gyroscope (body,
     rad/s), accelerometer (body specific force, m/s²); motor_state[0..11] q (rad), dq (rad/s),
     tau_est (N·m) in the SDK's motor order FR, FL, RR, RL × hip, thigh, calf; foot force; tick.
     Each LowState_ becomes the runtime's `imu` and `joint_states` inputs (by joint name; the
     runtime puts them in the contract's order). LowState_ has no header stamp: judged by arrival.
     Refused with a named reason (the input is in fault until the next good LowState_): a CRC that
     does not match, a motor reporting an error code (`motor_error_field`), and, by the runtime,
     non-finite values or joints beyond the profile's limits. A stream that stops goes stale.
     rt/sportmodestate (SportModeState_): its arrival means the robot's sport mode is active.
Out: rt/lowcmd (LowCmd_) every cycle at the contract's rate: head FE EF, level_flag 0xFF (low
     level), motor_cmd[k] for the 12 motors (mode 0x01 servo, q, dq 0, kp, kd, tau 0) mapped by
     joint name from the runtime's output; slots 12..19 off (mode 0, PosStopF / VelStopF); the CRC
     as the robot checks it (deploy/go2/crc.py). Gains: the runtime's (start-up: the profile's
     stand gains; DISARMED / FAILSAFE / ESTOP: kp 0 and damping kd); when the policy runs, the
     contract's joint drives (the Kp / Kd the policy was trained with).

The sequence is Unitree's (unitree_rl_gym deploy, rl_sar): passive (kp 0, damping) while
DISARMED → on arming the runtime interpolates from the measured pose to the contract's default
pose over the profile's stand_up_s → the policy → damping on disarm or any fault. While sport mode
is active nothing is sent and arming is refused with how to release it; if it becomes active while
armed, the node disarms. Only damping (kp 0) leaves the interface while the newest LowState_ was
refused, whatever the runtime asks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deploy.contract import Contract
from deploy.go2 import crc, messages
from deploy.runtime.input_store import Imu, InputRejectedError, JointStates
from deploy.runtime.robot_profile import RobotProfile
from deploy.runtime.runtime import Runtime, RuntimeOutput

log = logging.getLogger("tether.go2")

CONFIG_FILE = Path(__file__).with_name("go2_lowlevel.yaml")
NAME = "unitree_go2"
RELEASE_HINT = (
    "release it first: in the Unitree app turn the robot's motion service off, or from a computer on "
    "the robot's network run the SDK's MotionSwitcherClient().ReleaseMode() after "
    "SportClient().StandDown() (unitree_sdk2_python example/go2/low_level/go2_stand_example.py), "
    "with the robot lying down"
)


@dataclass(frozen=True)
class Go2Config:
    topics: dict[str, str]
    sport_mode_timeout_s: float
    check_lowstate_crc: bool
    motor_error_field: str

    @classmethod
    def from_yaml(cls, path: str | Path = CONFIG_FILE) -> Go2Config:
        with open(path) as f:
            d = yaml.safe_load(f) or {}
        known = set(cls.__dataclass_fields__)
        if set(d) != known:
            raise ValueError(
                f"{path}: missing keys {sorted(known - set(d))}, unknown {sorted(set(d) - known)}"
            )
        if d["motor_error_field"] not in ("", "reserve0", "reserve1"):
            raise ValueError(
                f"{path}: motor_error_field '{d['motor_error_field']}': expected reserve0, reserve1 or \"\""
            )
        return cls(
            topics={k: str(v) for k, v in d["topics"].items()},
            sport_mode_timeout_s=float(d["sport_mode_timeout_s"]),
            check_lowstate_crc=bool(d["check_lowstate_crc"]),
            motor_error_field=str(d["motor_error_field"]),
        )


class _Refused:
    """A LowState_ the interface refuses: the runtime marks the input invalid with this reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def checked(self) -> Any:
        raise InputRejectedError(self.reason)


def motor_map(contract: Contract, profile: RobotProfile) -> np.ndarray:
    """Indices into the profile's actuators for the SDK's 12 motor slots; ValueError naming what is
    missing when the contract's joint drives or the profile's actuators do not cover the Go2's 12."""
    sdk = list(messages.SDK_MOTOR_ORDER)
    drives = {j.name for j in contract.joints}
    problems = []
    if sorted(profile.actuators) != sorted(sdk):
        problems.append(
            f"the robot profile's actuators {list(profile.actuators)} must be the Go2's 12 motors {sdk}"
        )
    missing = [n for n in sdk if n not in drives]
    if missing:
        problems.append(
            f"the policy's contract has no joint drive (default angle, Kp, Kd) for {missing}: it does not "
            "drive the Go2's 12 joints; export a 12-joint legged policy (tether export)"
        )
    if problems:
        raise ValueError("unitree_go2 interface refused: " + "; ".join(problems))
    return np.array([profile.actuators.index(n) for n in sdk])


class Go2LowLevel:
    """The Go2's low-level protocol on a Tether transport, feeding and driven by a Runtime."""

    #: the runtime inputs this interface feeds (the policy node subscribes no ROS topic for them)
    provides = ("imu", "joint_states")

    def __init__(
        self,
        transport: Any,
        runtime: Runtime,
        config: Go2Config | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        messages.register()
        self.t = transport
        self.runtime = runtime
        self.config = cfg = config or Go2Config.from_yaml()
        self.clock = clock
        contract, profile = runtime.contract, runtime.profile
        self.slots = motor_map(contract, profile)  # SDK slot k ← profile actuator slots[k]
        drives = {j.name: j for j in contract.joints}
        self.joint_names = messages.SDK_MOTOR_ORDER
        self.drive_kp = np.array([drives[n].kp_nm_per_rad for n in self.joint_names])
        self.drive_kd = np.array([drives[n].kd_nm_s_per_rad for n in self.joint_names])
        self.damping_kd = float(profile.legged.damping_kd) if profile.legged else 2.0
        transport.subscribe(cfg.topics["lowstate"], messages.LOW_STATE, "sensor_data", self._on_lowstate)
        transport.subscribe(
            cfg.topics["sportmodestate"], messages.SPORT_MODE_STATE, "sensor_data", self._on_sport_mode
        )
        # reliable writer: matches the robot's reader whether it asks for reliable or best effort
        self._pub = transport.publisher(cfg.topics["lowcmd"], messages.LOW_CMD, "default")
        self._cmd = self._initial_cmd()
        self._q_measured = np.zeros(12)
        self._sane = False  # the newest LowState_ was accepted
        self._sport_rx_s: float | None = None
        self._sport_logged = False
        # counters (diagnostics, HIL report)
        self.lowstate_rx = 0
        self.lowstate_refused: dict[str, int] = {"crc": 0, "motor_error": 0}
        self.last_refusal = ""
        self.lowcmd_sent = 0
        self.lowcmd_withheld_sport_mode = 0
        self.forced_damping = 0
        self.last_tick: int | None = None

    def _initial_cmd(self) -> Any:
        cmd = self.t.make(messages.LOW_CMD)
        cmd.head = list(messages.HEAD)
        cmd.level_flag = messages.LOW_LEVEL
        cmd.gpio = 0
        for k, m in enumerate(cmd.motor_cmd):
            m.mode = messages.MOTOR_MODE_SERVO if k < 12 else 0
            m.q, m.dq, m.kp, m.kd, m.tau = messages.POS_STOP_F, messages.VEL_STOP_F, 0.0, 0.0, 0.0
        return cmd

    # -- in (transport thread) ----------------------------------------------------------------

    def _on_lowstate(self, msg: Any) -> None:
        now = self.clock()
        self.lowstate_rx += 1
        self.last_tick = int(msg.tick)
        reason = None
        if self.config.check_lowstate_crc:
            expected = crc.low_state_crc(msg)
            if expected != msg.crc:
                self.lowstate_refused["crc"] += 1
                reason = f"go2 lowstate CRC 0x{int(msg.crc):08x} does not match 0x{expected:08x} (corrupted)"
        motors = msg.motor_state[:12]
        if reason is None and self.config.motor_error_field:
            codes = [_error_code(m, self.config.motor_error_field) for m in motors]
            named = enumerate(zip(self.joint_names, codes, strict=True))
            bad = [f"{n} (motor {k}) error code 0x{c:x}" for k, (n, c) in named if c]
            if bad:
                self.lowstate_refused["motor_error"] += 1
                reason = "go2 motor error: " + ", ".join(bad) + "; power-cycle the robot after checking it"
        if reason is not None:
            self._sane = False
            if reason != self.last_refusal:
                log.error("%s", reason)
            self.last_refusal = reason
            self.runtime.put("joint_states", _Refused(reason), now, None)  # type: ignore[arg-type]
            if "CRC" in reason:  # nothing in a corrupted message can be trusted
                self.runtime.put("imu", _Refused(reason), now, None)  # type: ignore[arg-type]
            return
        q = np.array([m.q for m in motors], dtype=np.float64)
        dq = np.array([m.dq for m in motors], dtype=np.float64)
        imu = msg.imu_state
        ok_joints = self.runtime.put("joint_states", JointStates(self.joint_names, q, dq), now, None)
        ok_imu = self.runtime.put(
            "imu",
            Imu(
                np.asarray(imu.quaternion, dtype=np.float64),
                np.asarray(imu.gyroscope, dtype=np.float64),
                np.asarray(imu.accelerometer, dtype=np.float64),
            ),
            now,
            None,
        )
        self._sane = bool(ok_joints and ok_imu)
        if ok_joints:
            self._q_measured = q

    def _on_sport_mode(self, msg: Any) -> None:
        self._sport_rx_s = self.clock()

    def sport_mode_active(self, now_s: float | None = None) -> bool:
        now = self.clock() if now_s is None else now_s
        return self._sport_rx_s is not None and now - self._sport_rx_s <= self.config.sport_mode_timeout_s

    def arming_problems(self) -> list[str]:
        if self.sport_mode_active():
            return [
                "the Go2 reports its sport mode active (rt/sportmodestate): low-level control is refused; "
                + RELEASE_HINT
            ]
        return []

    # -- out (control loop) -----------------------------------------------------------------------

    def publish(self, out: RuntimeOutput) -> bool:
        """Send the cycle's LowCmd_; False when withheld (sport mode active)."""
        if self.sport_mode_active():
            self.lowcmd_withheld_sport_mode += 1
            if not self._sport_logged:
                self._sport_logged = True
                log.error("sport mode is active: no LowCmd_ sent, disarming; %s", RELEASE_HINT)
            if self.runtime.state.value in ("STARTING", "RUNNING"):
                self.runtime.disarm()
            return False
        self._sport_logged = False
        k = self.slots
        q = np.asarray(out.actuator_command, dtype=np.float64)[k]
        kp = self.drive_kp if out.kp is None else np.asarray(out.kp, dtype=np.float64)[k]
        kd = self.drive_kd if out.kd is None else np.asarray(out.kd, dtype=np.float64)[k]
        if not self._sane and np.any(kp != 0.0):  # the state is not sane: damping only
            self.forced_damping += 1
            kp = np.zeros(12)
            kd = np.full(12, self.damping_kd)
        if np.any(kp == 0.0):  # no stiffness: the target is where the joint is (q unused by the motor)
            q = np.where(kp == 0.0, self._q_measured, q)
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(kp)) and np.all(np.isfinite(kd))):
            q, kp, kd = self._q_measured, np.zeros(12), np.full(12, self.damping_kd)
        cmd = self._cmd
        for i, m in enumerate(cmd.motor_cmd[:12]):
            m.q, m.dq, m.kp, m.kd, m.tau = float(q[i]), 0.0, float(kp[i]), float(kd[i]), 0.0
        cmd.crc = crc.low_cmd_crc(cmd)
        self._pub.publish(cmd)
        self.lowcmd_sent += 1
        return True

    def report(self) -> dict[str, Any]:
        return {
            "interface": NAME,
            "lowstate_rx": self.lowstate_rx,
            "lowstate_refused": dict(self.lowstate_refused),
            "last_refusal": self.last_refusal,
            "lowcmd_sent": self.lowcmd_sent,
            "lowcmd_withheld_sport_mode": self.lowcmd_withheld_sport_mode,
            "forced_damping": self.forced_damping,
            "last_tick": self.last_tick,
        }


def _error_code(motor: Any, field: str) -> int:
    return int(motor.reserve[0 if field == "reserve0" else 1])
