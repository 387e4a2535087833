"""The cascaded PID of deploy/pid.py for one vehicle, on plain floats: the robot's failsafe.

The runtime's failsafe flies QuadrotorPid's control law every cycle on a batch of one, where
NumPy's per-call overhead made each step ≈ 0.2 ms (≈ 1 ms in a loaded HIL run): slower than the
policy it replaces. OnePid runs the same loops (position with integral → thrust direction and
collective → attitude error on SO(3) → body-rate setpoints → rate PID → torques → allocation
with saturation shift → motor commands) with the same gains, limits and integrator state, on
floats. It agrees with QuadrotorPid to rounding (the order of a few sums differs from NumPy's
einsum and BLAS; tests/test_pid.py holds them within 1e-9 over long random sequences), which is
all a failsafe needs; training and evaluation keep the batched QuadrotorPid. It is the same law
written twice: a change to deploy/pid.py's loops is made here too, and that test holds them together.
"""

from __future__ import annotations

import math

import numpy as np

from deploy.pid import PidGains
from deploy.quadrotor_params import GRAVITY_M_S2, QuadrotorParams
from deploy.robot_state import RobotState
from deploy.rotations import quat_to_rotmat


def _finite_or_zero(values: list[float]) -> list[float]:
    """np.nan_to_num's rule for a finite state: NaN → 0, ±inf → ±largest float."""
    out = []
    for v in values:
        if math.isfinite(v):
            out.append(v)
        elif math.isnan(v):
            out.append(0.0)
        else:
            out.append(math.copysign(np.finfo(np.float64).max, v))
    return out


def _clip(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


def _cross(a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, float, float]:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


class OnePid:
    """QuadrotorPid for num_envs = 1 (same reset / act / act_ctbr), on plain floats."""

    name = "pid"
    num_envs = 1

    def __init__(self, params: QuadrotorParams, control_dt_s: float, gains: PidGains | None = None) -> None:
        self.params = params
        self.gains = g = gains or PidGains.from_yaml()
        self.dt = control_dt_s
        self._inertia = [float(v) for v in np.asarray(params.inertia_kg_m2).tolist()]
        self._mixer = np.linalg.pinv(params.allocation_matrix()).tolist()  # (motors, 4)
        self._max_thrust_n = float(params.max_thrust_per_motor_n)
        self._mass_kg = float(params.mass_kg)
        self._max_total_thrust_n = float(params.max_total_thrust_n)
        self._tan_max_tilt = math.tan(g.max_tilt_rad)
        self._pos_kp, self._pos_kd, self._pos_ki = (v.tolist() for v in (g.pos_kp, g.pos_kd, g.pos_ki))
        self._att_kp, self._max_rate = g.att_kp.tolist(), g.max_rate_rad_s.tolist()
        self._rate_kp, self._rate_ki = g.rate_kp.tolist(), g.rate_ki.tolist()
        k = float(params.thrust_coefficient_n_per_rad_s2)
        w_min, w_max = float(params.min_rotor_speed_rad_s), float(params.max_rotor_speed_rad_s)
        self._thrust_coefficient, self._w_min, self._w_span = k, w_min, w_max - w_min
        self.reset()

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        self._pos_int = [0.0, 0.0, 0.0]
        self._rate_int = [0.0, 0.0, 0.0]

    def act(self, state: RobotState, observation: np.ndarray | None = None) -> np.ndarray:
        """Actions (1, motors) in [-1, 1]; the state's command is target position (m) and velocity (m/s)."""
        g, dt = self.gains, self.dt
        collective_n, rate_des, omega = self._outer_loops(state)
        lim = g.rate_integral_limit_rad
        e_rate = [rate_des[i] - omega[i] for i in range(3)]
        self._rate_int = [_clip(self._rate_int[i] + e_rate[i] * dt, -lim, lim) for i in range(3)]
        ang_acc = [self._rate_kp[i] * e_rate[i] + self._rate_ki[i] * self._rate_int[i] for i in range(3)]
        inertia = self._inertia
        gyro = _cross(
            (omega[0], omega[1], omega[2]),
            (inertia[0] * omega[0], inertia[1] * omega[1], inertia[2] * omega[2]),
        )
        torque = [inertia[i] * ang_acc[i] + gyro[i] for i in range(3)]
        wrench = (collective_n, *torque)
        thrust = [sum(row[j] * wrench[j] for j in range(4)) for row in self._mixer]
        low, high, top = min(thrust), max(thrust), self._max_thrust_n
        shift = (-low if low < 0 else 0.0) + (top - high if high > top else 0.0)
        out = []
        for t in thrust:
            t = _clip(t + shift, 0.0, top)
            w = math.sqrt(max(t, 0.0) / self._thrust_coefficient)
            u = _clip((w - self._w_min) / self._w_span, 0.0, 1.0)
            out.append(2.0 * u - 1.0)
        return np.array([out])

    def act_ctbr(self, state: RobotState) -> np.ndarray:
        """QuadrotorPid.act_ctbr: (1, 4) normalized collective thrust and body-rate setpoints."""
        collective_n, rate_des, _ = self._outer_loops(state)
        thrust = _clip(collective_n / self._max_total_thrust_n, 0.0, 1.0)
        return np.array([[thrust, *rate_des]])

    def _outer_loops(self, state: RobotState) -> tuple[float, list[float], list[float]]:
        """(collective thrust N, body-rate setpoint rad/s, measured body rates rad/s); advances the
        position integral. QuadrotorPid.outer_loops for one vehicle."""
        g, dt = self.gains, self.dt
        command = state.command[0].tolist()
        pos = _finite_or_zero(state.base_pos_m[0].tolist())
        vel = _finite_or_zero(state.base_lin_vel_m_s[0].tolist())
        omega = _finite_or_zero(state.base_ang_vel_rad_s[0].tolist())
        quat = _finite_or_zero(state.base_quat_wxyz[0].tolist())
        r = quat_to_rotmat(np.array(quat)).tolist()  # one quaternion: computed on floats there

        lim = g.pos_integral_limit_m_s
        e_pos = [command[i] - pos[i] for i in range(3)]
        e_vel = [command[3 + i] - vel[i] for i in range(3)]
        self._pos_int = [_clip(self._pos_int[i] + e_pos[i] * dt, -lim, lim) for i in range(3)]
        kp, kd, ki = self._pos_kp, self._pos_kd, self._pos_ki
        acc = [kp[i] * e_pos[i] + kd[i] * e_vel[i] + ki[i] * self._pos_int[i] for i in range(3)]
        acc[2] = max(acc[2] + GRAVITY_M_S2, 0.2 * GRAVITY_M_S2)
        horiz = math.sqrt(acc[0] * acc[0] + acc[1] * acc[1])
        scale = min(1.0, acc[2] * self._tan_max_tilt / max(horiz, 1e-9))
        acc[0], acc[1] = acc[0] * scale, acc[1] * scale

        collective_n = self._mass_kg * (acc[0] * r[0][2] + acc[1] * r[1][2] + acc[2] * r[2][2])
        n = math.sqrt(acc[0] * acc[0] + acc[1] * acc[1] + acc[2] * acc[2])
        b3 = (acc[0] / n, acc[1] / n, acc[2] / n)
        yaw = math.atan2(r[1][0], r[0][0]) if g.yaw_setpoint_rad is None else g.yaw_setpoint_rad
        b2 = _cross(b3, (math.cos(yaw), math.sin(yaw), 0.0))
        n2 = max(math.sqrt(b2[0] * b2[0] + b2[1] * b2[1] + b2[2] * b2[2]), 1e-9)
        b2 = (b2[0] / n2, b2[1] / n2, b2[2] / n2)
        b1 = _cross(b2, b3)
        d = (b1, b2, b3)  # the desired attitude's columns: rd[i][k] = d[k][i]

        def rd_t_r(i: int, k: int) -> float:  # (Rdᵀ R)[i][k]
            return d[i][0] * r[0][k] + d[i][1] * r[1][k] + d[i][2] * r[2][k]

        def r_t_rd(i: int, k: int) -> float:  # (Rᵀ Rd)[i][k]
            return r[0][i] * d[k][0] + r[1][i] * d[k][1] + r[2][i] * d[k][2]

        e_rot = (
            0.5 * (rd_t_r(2, 1) - r_t_rd(2, 1)),
            0.5 * (rd_t_r(0, 2) - r_t_rd(0, 2)),
            0.5 * (rd_t_r(1, 0) - r_t_rd(1, 0)),
        )
        rate_des = [
            _clip(-self._att_kp[i] * e_rot[i], -self._max_rate[i], self._max_rate[i]) for i in range(3)
        ]
        return collective_n, rate_des, omega
