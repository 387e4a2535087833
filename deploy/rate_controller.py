"""The flight controller's body-rate loop: collective thrust + body-rate setpoints → motor commands.

A CTBR (collective thrust and body rates) policy does not drive the motors: it sends a normalized
collective thrust and roll/pitch/yaw rate setpoints, and the flight controller (PX4's
mc_rate_control with its control allocation, Betaflight's PID and mixer) closes a fast loop on the
gyro. This is a model of that loop, batched and numpy only, used by every simulation engine
(sim/engines/rate_loop_engine.py) and by the PX4 emulator of the simulator bridge, so a CTBR
policy flies the same loop in training, evaluation and HIL.

Per vehicle, each rate-loop step (ω measured, body FLU, rad/s):

    e = ω* − ω
    I ← clip(I + ki e dt, ±integral_limit)                  (anti-windup on the I term)
    α = kp e + I − kd (ω − ω_prev) / dt                      (D on the measurement, as PX4)
    τ = J_nominal α                                          (torque setpoint, N·m)
    T = c · T_max,nominal                                    (c: normalized collective [0, 1])
    f = pinv(A_nominal) [T, τ], shifted as a whole to fit [0, f_max] (torque before thrust)
    u = command_from_thrust_nominal(f)                       (normalized motor command [0, 1])

The flight controller knows only the vehicle it was configured for (its nominal parameters: inertia,
geometry, thrust curve); gains may differ per vehicle (QuadrotorParams.rate_controller, randomized in
simulation). A real vehicle's differences from the nominal (mass, inertia, thrust) are the
policy's problem, as on hardware.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deploy.contract import CTBR_TARGETS
from deploy.quadrotor_params import GRAVITY_M_S2, QuadrotorParams, RateControllerParams

__all__ = ["CTBR_TARGETS", "RateController", "RateControllerMissingError", "hover_collective_thrust"]


class RateControllerMissingError(ValueError):
    """A CTBR vehicle has no rate-loop gains in its parameters."""


def require_gains(params: QuadrotorParams) -> RateControllerParams:
    if params.rate_controller is None:
        raise RateControllerMissingError(
            f"vehicle '{params.name}' has no `rate_controller` gains in its parameters; a collective "
            "thrust + body rate (ctbr) task needs them: add a rate_controller section (kp_1_s, ki_1_s2, "
            "kd, integral_limit_rad_s2) to its parameter YAML (see sim/robots/presets/crazyflie_2_1.yaml)"
        )
    return params.rate_controller


def hover_collective_thrust(params: QuadrotorParams, nominal: QuadrotorParams | None = None) -> float:
    """Normalized collective thrust at which `params`' weight is carried by a flight controller
    configured for `nominal` (default: the same vehicle): m g / T_max,nominal."""
    ref = nominal or params
    return float(params.mass_kg * GRAVITY_M_S2 / ref.max_total_thrust_n)


class RateController:
    """N flight controllers' rate loops, each configured for `nominal[i]` (mixer, inertia, thrust
    curve), with per-vehicle gains (set_gains). Call reset(env_ids) at an episode start."""

    def __init__(self, nominal: Sequence[QuadrotorParams], dt_s: float) -> None:
        if len(nominal) == 0:
            raise ValueError("need at least one vehicle (one QuadrotorParams per environment)")
        if not (np.isfinite(dt_s) and dt_s > 0):
            raise ValueError(f"rate-loop period must be positive and finite, found {dt_s} s")
        n, m = len(nominal), nominal[0].num_motors
        self.num_envs, self.num_motors, self.dt_s = n, m, float(dt_s)
        self._inertia = np.zeros((n, 3))
        self._mixer = np.zeros((n, m, 4))
        self._max_total_n = np.zeros((n, 1))
        self._max_motor_n = np.zeros((n, 1))
        self._kf = np.zeros((n, 1))
        self._w_min = np.zeros((n, 1))
        self._w_max = np.zeros((n, 1))
        self.kp = np.zeros((n, 3))
        self.ki = np.zeros((n, 3))
        self.kd = np.zeros((n, 3))
        self.i_limit = np.zeros((n, 3))
        self.integral = np.zeros((n, 3))
        self._omega_prev = np.zeros((n, 3))
        self.configure(np.arange(n), nominal)
        self.set_gains(np.arange(n), [require_gains(p) for p in nominal])

    def configure(self, env_ids: np.ndarray, nominal: Sequence[QuadrotorParams]) -> None:
        """The vehicle each flight controller is configured for (mixer, inertia, thrust curve)."""
        for i, p in zip(env_ids, nominal, strict=True):
            if p.num_motors != self.num_motors:
                raise ValueError(f"vehicle {p.name} has {p.num_motors} motors, expected {self.num_motors}")
            self._inertia[i] = p.inertia_kg_m2
            self._mixer[i] = np.linalg.pinv(p.allocation_matrix())
            self._max_total_n[i] = p.max_total_thrust_n
            self._max_motor_n[i] = p.max_thrust_per_motor_n
            self._kf[i] = p.thrust_coefficient_n_per_rad_s2
            self._w_min[i] = p.min_rotor_speed_rad_s
            self._w_max[i] = p.max_rotor_speed_rad_s

    def set_gains(self, env_ids: np.ndarray, gains: Sequence[RateControllerParams]) -> None:
        for i, g in zip(env_ids, gains, strict=True):
            self.kp[i], self.ki[i], self.kd[i] = g.kp_1_s, g.ki_1_s2, g.kd
            self.i_limit[i] = g.integral_limit_rad_s2

    def reset(self, env_ids: np.ndarray, omega_rad_s: np.ndarray | None = None) -> None:
        """Integrators to zero; the D term's previous rate to `omega_rad_s` (default 0)."""
        self.integral[env_ids] = 0.0
        self._omega_prev[env_ids] = 0.0 if omega_rad_s is None else omega_rad_s

    def mix(self, collective: np.ndarray, torque_nm: np.ndarray) -> np.ndarray:
        """Normalized collective (N,) and torque setpoints (N, 3) → motor commands (N, M) in [0, 1]."""
        c = np.clip(np.nan_to_num(np.asarray(collective, dtype=np.float64), nan=0.0), 0.0, 1.0)
        wrench = np.concatenate([c[:, None] * self._max_total_n, torque_nm], axis=1)
        thrust = np.einsum("nmk,nk->nm", self._mixer, wrench)
        # Shift all motors together to fit [0, f_max]: torque (attitude) before collective thrust.
        low, high = thrust.min(axis=1, keepdims=True), thrust.max(axis=1, keepdims=True)
        f_max = self._max_motor_n
        shift = np.where(low < 0, -low, 0.0) + np.where(high > f_max, f_max - high, 0.0)
        thrust = np.clip(thrust + shift, 0.0, self._max_motor_n)
        w = np.sqrt(thrust / self._kf)
        return np.clip((w - self._w_min) / (self._w_max - self._w_min), 0.0, 1.0)

    def step(self, setpoint: np.ndarray, omega_rad_s: np.ndarray) -> np.ndarray:
        """One rate-loop step: CTBR setpoints (N, 4) [c ∈ [0, 1], ω* rad/s FLU] and the measured
        body rates (N, 3) → motor commands (N, M) in [0, 1]. Non-finite setpoints count as 0."""
        sp = np.nan_to_num(np.asarray(setpoint, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        omega = np.nan_to_num(np.asarray(omega_rad_s, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        err = sp[:, 1:4] - omega
        self.integral = np.clip(self.integral + self.ki * err * self.dt_s, -self.i_limit, self.i_limit)
        ang_acc = self.kp * err + self.integral - self.kd * (omega - self._omega_prev) / self.dt_s
        self._omega_prev = omega
        return self.mix(sp[:, 0], self._inertia * ang_acc)
