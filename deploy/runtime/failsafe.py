"""FAILSAFE controllers and the stop command: what the robot does when the policy may not.

Quadrotor: the cascaded PID baseline (deploy.pid, the same controller
`tether eval --controller pid` flies) holds the position where the fault
happened, moved inside the geofence, for hold_s; then the target descends at
land_speed_m_s to the ground. Landed (base within landed_height_m of
ground_z_m, slower than landed_speed_m_s, for landed_s): done, motors stop.
Without a usable state (odometry too old or invalid) the PID cannot work, so
the motors get equal open-loop thrust (blind_descent_thrust_ratio of the
weight) and, after blind_descent_max_s in total, the failsafe times out. It
also times out when not landed by hold_s + height / land_speed + margin.

Legged: damping. Joint targets follow the measured pose with stiffness 0 and
damping damping_kd for damping_s; then done (DISARMED keeps damping).

A collective thrust + body rate (ctbr) policy: the same PID's position and
attitude loops give thrust and body-rate setpoints (QuadrotorPid.act_ctbr) for
the robot's flight controller; the blind descent is that thrust with zero rates.

Every action here goes through the CommandLimiter like the policy's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from deploy.actions import actuator_to_action
from deploy.contract import Contract
from deploy.pid_one import OnePid
from deploy.quadrotor_params import GRAVITY_M_S2
from deploy.robot_state import RobotState
from deploy.runtime.robot_profile import RobotProfile
from deploy.runtime.startup import measured_joints


@dataclass(frozen=True)
class FailsafeStep:
    action: np.ndarray  # (A,) action units, before the limiter
    phase: str
    done: bool = False  # → FAILSAFE_DONE
    timed_out: bool = False  # → FAILSAFE_TIMEOUT
    reason: str = ""
    stop: bool = False  # the action removes power: bypass the rate limit


@dataclass(frozen=True)
class StopCommand:
    """What DISARMED and ESTOP send: quadrotor motors off; legged damping (kp 0)."""

    action: np.ndarray
    kp: np.ndarray | None
    kd: np.ndarray | None


def stop_command(contract: Contract, profile: RobotProfile) -> StopCommand:
    a = contract.action_size
    if profile.kind == "legged":
        assert profile.legged is not None
        return StopCommand(np.zeros(a), np.zeros(a), np.full(a, profile.legged.damping_kd))
    return StopCommand(actuator_to_action(contract, np.zeros(a)), None, None)


class QuadrotorFailsafe:
    def __init__(self, contract: Contract, profile: RobotProfile) -> None:
        assert profile.quadrotor is not None
        q = profile.quadrotor
        self.cfg = q.failsafe
        self.params = q.params
        self.limits = profile.limits
        self.dt = contract.control_dt_s
        # QuadrotorPid's control law on floats for the one vehicle (deploy/pid_one.py)
        self.pid = OnePid(q.params, contract.control_dt_s, q.gains)
        self.contract = contract
        self.ctbr = contract.action_mode == "ctbr"
        a = contract.action_size
        if self.ctbr:  # the PID's setpoints are in CTBR_TARGETS order, the contract's
            self._perm = np.arange(a)
            thrust = self.cfg.blind_descent_thrust_ratio * q.params.mass_kg * GRAVITY_M_S2
            self.blind_action = actuator_to_action(
                contract, np.array([thrust / q.params.max_total_thrust_n, 0.0, 0.0, 0.0])
            )
        else:
            # PID columns follow the vehicle's motor order; the contract's may differ: match by name.
            self._perm = np.array([q.params.motor_names.index(n) for n in contract.action_target_names])
            weight_share = self.cfg.blind_descent_thrust_ratio * q.params.mass_kg * GRAVITY_M_S2 / a
            self.blind_action = actuator_to_action(
                contract, np.full(a, q.params.command_from_thrust(weight_share))
            )
        self.stop_action = actuator_to_action(contract, np.zeros(a))
        self.kp = self.kd = None
        self._hold: np.ndarray | None = None
        self._t_hold = 0.0
        self._deadline_s = np.inf
        self._blind_s = 0.0
        self._landed_s = 0.0
        self._done = False

    def start(self, now_s: float, state: RobotState | None, state_ok: bool) -> None:
        self.pid.reset()
        self._hold = None
        self._deadline_s = np.inf
        self._blind_s = 0.0
        self._landed_s = 0.0
        self._done = False
        if state is not None and state_ok:
            self._capture_hold(now_s, state)

    def _capture_hold(self, now_s: float, state: RobotState) -> None:
        pos = state.base_pos_m[0].astype(np.float64)
        lim = self.limits
        if lim.geofence_min_m is not None and lim.geofence_max_m is not None:
            lo = np.asarray(lim.geofence_min_m) + self.cfg.geofence_margin_m
            hi = np.asarray(lim.geofence_max_m) - self.cfg.geofence_margin_m
            pos = np.clip(pos, np.minimum(lo, hi), np.maximum(lo, hi))
        self._hold = pos
        self._t_hold = now_s
        height = max(0.0, pos[2] - self.cfg.ground_z_m)
        self._deadline_s = (
            now_s + self.cfg.hold_s + height / self.cfg.land_speed_m_s + self.cfg.land_timeout_margin_s
        )

    def act(self, now_s: float, state: RobotState | None, state_ok: bool) -> FailsafeStep:
        cfg = self.cfg
        if self._done:
            return FailsafeStep(self.stop_action.copy(), "landed", done=True, stop=True)
        if state is None or not state_ok:
            self._blind_s += self.dt
            self._landed_s = 0.0
            if self._blind_s > cfg.blind_descent_max_s:
                return FailsafeStep(
                    self.stop_action.copy(),
                    "blind_descent",
                    timed_out=True,
                    stop=True,
                    reason=f"no usable state for {self._blind_s:.2f} s (limit {cfg.blind_descent_max_s} s)",
                )
            return FailsafeStep(self.blind_action.copy(), "blind_descent")
        if self._hold is None:
            self._capture_hold(now_s, state)
        assert self._hold is not None
        if now_s > self._deadline_s:
            return FailsafeStep(
                self.stop_action.copy(),
                "land",
                timed_out=True,
                stop=True,
                reason=f"not landed {now_s - self._t_hold:.1f} s after the failsafe began",
            )
        z = float(state.base_pos_m[0, 2])
        speed = float(np.linalg.norm(state.base_lin_vel_m_s[0]))
        if z - cfg.ground_z_m <= cfg.landed_height_m and speed <= cfg.landed_speed_m_s:
            self._landed_s += self.dt
            if self._landed_s >= cfg.landed_s - 1e-9:
                self._done = True
                return FailsafeStep(self.stop_action.copy(), "landed", done=True, stop=True, reason="landed")
        else:
            self._landed_s = 0.0
        t = now_s - self._t_hold
        target = self._hold.copy()
        target_vel = np.zeros(3)
        phase = "hold"
        if t >= cfg.hold_s:
            phase = "land"
            floor = cfg.ground_z_m - cfg.landed_height_m
            target[2] = max(self._hold[2] - cfg.land_speed_m_s * (t - cfg.hold_s), floor)
            if target[2] > floor:
                target_vel[2] = -cfg.land_speed_m_s
        command = np.concatenate([target, target_vel])[None, :]
        pid_state = replace(state, command=command)
        if self.ctbr:
            action = actuator_to_action(self.contract, self.pid.act_ctbr(pid_state))[0]
        else:
            action = self.pid.act(pid_state)[0][self._perm]
        if not np.all(np.isfinite(action)):  # an absurd (huge) state: fly as if there were none
            return FailsafeStep(self.blind_action.copy(), "blind_descent", reason="PID output not finite")
        return FailsafeStep(action, phase)


class LeggedFailsafe:
    def __init__(self, contract: Contract, profile: RobotProfile) -> None:
        assert profile.legged is not None
        g = profile.legged
        self.contract = contract
        self.names = contract.action_target_names
        self.damping_s = g.damping_s
        self.default_pose = np.array([g.default_pose_rad[n] for n in self.names])
        self.kp = np.zeros(len(self.names))
        self.kd = np.full(len(self.names), g.damping_kd)
        self._t0 = 0.0
        self._last = self.default_pose.copy()

    def start(self, now_s: float, state: RobotState | None, state_ok: bool) -> None:
        self._t0 = now_s
        self._last = measured_joints(state, self.names, fallback=self._last)

    def act(self, now_s: float, state: RobotState | None, state_ok: bool) -> FailsafeStep:
        if state is not None and state_ok:
            self._last = measured_joints(state, self.names, fallback=self._last)
        action = actuator_to_action(self.contract, self._last)
        done = now_s - self._t0 >= self.damping_s - 1e-9
        return FailsafeStep(action, "damping", done=done, reason="damping time elapsed" if done else "")
