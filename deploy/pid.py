"""Cascaded PID baseline for quadrotors; also the robot-side failsafe controller.

Position error → desired acceleration (with integral action) → desired thrust
direction and collective thrust → attitude error on SO(3) → desired body
rates → rate PID → body torques → per-motor thrust through the allocation
matrix → normalized motor commands → actions in [-1, 1], exactly what a
policy outputs. It reads the same RobotState a policy's observation is built
from. Batched; numpy only. Vehicle constants come from the nominal
QuadrotorParams: a real controller does not know the sampled parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deploy.actions import actuator_to_action
from deploy.contract import Contract
from deploy.quadrotor_params import GRAVITY_M_S2, QuadrotorParams
from deploy.robot_state import RobotState
from deploy.rotations import quat_to_rotmat

DEFAULT_GAINS = Path(__file__).with_name("pid_quadrotor.yaml")


@dataclass(frozen=True)
class PidGains:
    pos_kp: np.ndarray
    pos_kd: np.ndarray
    pos_ki: np.ndarray
    pos_integral_limit_m_s: float
    max_tilt_rad: float
    att_kp: np.ndarray
    yaw_setpoint_rad: float | None
    max_rate_rad_s: np.ndarray
    rate_kp: np.ndarray
    rate_ki: np.ndarray
    rate_integral_limit_rad: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PidGains:
        try:
            p, a, r = d["position"], d["attitude"], d["rate"]
            yaw = a.get("yaw", "hold")
            return cls(
                pos_kp=_vec3(p["kp_1_s2"]),
                pos_kd=_vec3(p["kd_1_s"]),
                pos_ki=_vec3(p["ki_1_s3"]),
                pos_integral_limit_m_s=float(p["integral_limit_m_s"]),
                max_tilt_rad=float(np.deg2rad(p["max_tilt_deg"])),
                att_kp=_vec3(a["kp_1_s"]),
                yaw_setpoint_rad=None if yaw == "hold" else float(yaw),
                max_rate_rad_s=_vec3(a["max_rate_rad_s"]),
                rate_kp=_vec3(r["kp_1_s"]),
                rate_ki=_vec3(r["ki_1_s2"]),
                rate_integral_limit_rad=float(r["integral_limit_rad"]),
            )
        except KeyError as exc:
            raise ValueError(f"PID gains: missing key {exc}; see {DEFAULT_GAINS} for the layout") from None

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_GAINS) -> PidGains:
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f))


def _vec3(x: Any) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.shape != (3,):
        raise ValueError(f"expected three values (x, y, z), found {x!r}")
    return v


def _vee(m: np.ndarray) -> np.ndarray:
    return np.stack([m[:, 2, 1], m[:, 0, 2], m[:, 1, 0]], axis=-1)


# NumPy's own general-purpose helpers cost tens of µs a call on the robot's batch of one (the
# failsafe flies this PID every cycle); these do the same arithmetic in the same order, so the
# results are the same bit for bit (tests/test_pid.py compares them).


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross of (N, 3) rows: a1 b2 − a2 b1, a2 b0 − a0 b2, a0 b1 − a1 b0, as NumPy computes it."""
    a0, a1, a2 = a[:, 0], a[:, 1], a[:, 2]
    b0, b1, b2 = b[:, 0], b[:, 1], b[:, 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _row_norm(a: np.ndarray) -> np.ndarray:
    """np.linalg.norm(a, axis=1, keepdims=True) of real rows: the square root of the sum of squares."""
    return np.sqrt(np.add.reduce(a * a, axis=1, keepdims=True))


def _zero_nonfinite(a: np.ndarray) -> np.ndarray:
    """np.nan_to_num(a), without its cost when every entry is finite (a measured state, always)."""
    return a if np.isfinite(a).all() else np.nan_to_num(a)


class QuadrotorPid:
    """Batched cascaded PID. Call reset(env_ids) at each episode start, then act(state)."""

    name = "pid"

    def __init__(
        self, params: QuadrotorParams, num_envs: int, control_dt_s: float, gains: PidGains | None = None
    ) -> None:
        self.params = params
        self.gains = gains or PidGains.from_yaml()
        self.num_envs = num_envs
        self.dt = control_dt_s
        self.inertia = np.asarray(params.inertia_kg_m2)
        self.mixer = np.linalg.pinv(params.allocation_matrix())  # (motors, 4)
        self.max_thrust_n = params.max_thrust_per_motor_n
        self._pos_int = np.zeros((num_envs, 3))
        self._rate_int = np.zeros((num_envs, 3))

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        ids = slice(None) if env_ids is None else env_ids
        self._pos_int[ids] = 0.0
        self._rate_int[ids] = 0.0

    def act(self, state: RobotState, observation: np.ndarray | None = None) -> np.ndarray:
        """Actions (N, motors) in [-1, 1] for the batch; commands are target pos (m) and vel (m/s)."""
        g = self.gains
        collective_n, rate_des, omega = self.outer_loops(state)
        e_rate = rate_des - omega
        self._rate_int = np.clip(
            self._rate_int + e_rate * self.dt, -g.rate_integral_limit_rad, g.rate_integral_limit_rad
        )
        ang_acc = g.rate_kp * e_rate + g.rate_ki * self._rate_int
        torque = self.inertia * ang_acc + _cross(omega, self.inertia * omega)

        # Allocation: collective and torques → per-motor thrust; keep roll/pitch authority
        # by shifting the collective when a motor would saturate.
        wrench = np.concatenate([collective_n[:, None], torque], axis=1)
        thrust = wrench @ self.mixer.T
        low, high = thrust.min(axis=1, keepdims=True), thrust.max(axis=1, keepdims=True)
        shift = np.where(low < 0, -low, 0.0) + np.where(
            high > self.max_thrust_n, self.max_thrust_n - high, 0.0
        )
        thrust = np.clip(thrust + shift, 0.0, self.max_thrust_n)
        u = self.params.command_from_thrust(thrust)
        return 2.0 * u - 1.0

    def act_ctbr(self, state: RobotState) -> np.ndarray:
        """Collective thrust + body-rate setpoints (N, 4) from the position and attitude loops, for a
        flight controller's rate loop (deploy/rate_controller.py): [normalized collective thrust
        (fraction of the vehicle's maximum, [0, 1]), roll, pitch, yaw rate (rad/s, body FLU)].
        These are actuator units of a ctbr contract (deploy.actions.actuator_to_action → actions)."""
        collective_n, rate_des, _ = self.outer_loops(state)
        thrust = np.clip(collective_n / self.params.max_total_thrust_n, 0.0, 1.0)
        return np.concatenate([thrust[:, None], rate_des], axis=1)

    def outer_loops(self, state: RobotState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position and attitude loops: (collective thrust (N,) in N, body-rate setpoint (N, 3) rad/s,
        measured body rates (N, 3) rad/s); advances the position integral."""
        g = self.gains
        target_pos, target_vel = state.command[:, 0:3], state.command[:, 3:6]
        pos = _zero_nonfinite(state.base_pos_m)
        vel = _zero_nonfinite(state.base_lin_vel_m_s)
        omega = _zero_nonfinite(state.base_ang_vel_rad_s)
        rot = quat_to_rotmat(_zero_nonfinite(state.base_quat_wxyz))

        # Position loop → desired acceleration (world), limited to the tilt envelope.
        e_pos = target_pos - pos
        e_vel = target_vel - vel
        self._pos_int = np.clip(
            self._pos_int + e_pos * self.dt, -g.pos_integral_limit_m_s, g.pos_integral_limit_m_s
        )
        acc = g.pos_kp * e_pos + g.pos_kd * e_vel + g.pos_ki * self._pos_int
        acc[:, 2] += GRAVITY_M_S2
        acc[:, 2] = np.maximum(acc[:, 2], 0.2 * GRAVITY_M_S2)
        horiz = _row_norm(acc[:, :2])
        max_horiz = acc[:, 2:3] * np.tan(g.max_tilt_rad)
        acc[:, :2] *= np.minimum(1.0, max_horiz / np.maximum(horiz, 1e-9))

        # Collective thrust along the current body z; desired attitude from the thrust direction.
        collective_n = self.params.mass_kg * np.einsum("ni,ni->n", acc, rot[:, :, 2])
        b3 = acc / _row_norm(acc)
        yaw = (
            np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
            if g.yaw_setpoint_rad is None
            else np.full(self.num_envs, g.yaw_setpoint_rad)
        )
        b1c = np.stack([np.cos(yaw), np.sin(yaw), np.zeros_like(yaw)], axis=-1)
        b2 = _cross(b3, b1c)
        b2 /= np.maximum(_row_norm(b2), 1e-9)
        rot_des = np.stack([_cross(b2, b3), b2, b3], axis=-1)
        e_rot = 0.5 * _vee(np.einsum("nji,njk->nik", rot_des, rot) - np.einsum("nji,njk->nik", rot, rot_des))

        # Attitude → body-rate setpoint (the rate loop follows in act, or in the flight controller).
        rate_des = np.clip(-g.att_kp * e_rot, -g.max_rate_rad_s, g.max_rate_rad_s)
        return collective_n, rate_des, omega


class QuadrotorCtbrPid:
    """The PID's position and attitude loops as a controller of a collective thrust + body rate
    (ctbr) task: its setpoints (QuadrotorPid.act_ctbr) as the contract's actions, for the flight
    controller's rate loop to fly. Same interface as QuadrotorPid (reset, act)."""

    name = "pid"

    def __init__(
        self,
        params: QuadrotorParams,
        num_envs: int,
        control_dt_s: float,
        contract: Contract,
        gains: PidGains | None = None,
    ) -> None:
        if contract.action_mode != "ctbr":
            raise ValueError(
                f"QuadrotorCtbrPid flies ctbr contracts; task '{contract.task}' has action mode "
                f"'{contract.action_mode}': use QuadrotorPid"
            )
        self.pid = QuadrotorPid(params, num_envs, control_dt_s, gains)
        self.contract = contract

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        self.pid.reset(env_ids)

    def act(self, state: RobotState, observation: np.ndarray | None = None) -> np.ndarray:
        return actuator_to_action(self.contract, self.pid.act_ctbr(state))
