"""Batched rotor dynamics shared by every engine: first-order lag and thrust curve.

Kept outside the physics engines so MuJoCo and PyBullet apply identical
rotor forces. Because the motor command is held constant over one control
period, the lag has a closed form, and the thrust of every physics substep is
computed at once, with no Python work per substep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.robots.quadrotor import QuadrotorParams


class RotorBank:
    """Rotor speeds of N vehicles × M motors, each vehicle with its own parameters."""

    def __init__(self, params: Sequence[QuadrotorParams]) -> None:
        n, m = len(params), params[0].num_motors
        self.kf = np.zeros((n, 1))
        self.w_min = np.zeros((n, 1))
        self.w_max = np.zeros((n, 1))
        self.tau_rise = np.zeros((n, 1))
        self.tau_fall = np.zeros((n, 1))
        self.speed_rad_s = np.zeros((n, m))
        self.set_params(np.arange(n), params)

    @property
    def num_motors(self) -> int:
        return self.speed_rad_s.shape[1]

    def set_params(self, env_ids: np.ndarray, params: Sequence[QuadrotorParams]) -> None:
        for i, p in zip(env_ids, params, strict=True):
            if p.num_motors != self.num_motors:
                raise ValueError(f"vehicle {p.name} has {p.num_motors} motors, expected {self.num_motors}")
            self.kf[i] = p.thrust_coefficient_n_per_rad_s2
            self.w_min[i] = p.min_rotor_speed_rad_s
            self.w_max[i] = p.max_rotor_speed_rad_s
            self.tau_rise[i] = p.motor_time_constant_rise_s
            self.tau_fall[i] = p.motor_time_constant_fall_s

    def setpoint_rad_s(self, command: np.ndarray) -> np.ndarray:
        u = np.clip(np.nan_to_num(command, nan=0.0), 0.0, 1.0)
        return self.w_min + u * (self.w_max - self.w_min)

    def speed_as_command(self) -> np.ndarray:
        """Rotor speeds (N, M) as the normalized command whose steady state they are (inverse of
        setpoint_rad_s, unclipped)."""
        return (self.speed_rad_s - self.w_min) / (self.w_max - self.w_min)

    def reset(self, env_ids: np.ndarray, command: np.ndarray | float) -> None:
        """Set rotor speeds to the steady state of `command` (normalized, [0, 1])."""
        cmd = np.broadcast_to(np.asarray(command, dtype=np.float64), (len(env_ids), self.num_motors))
        self.speed_rad_s[env_ids] = self.w_min[env_ids] + np.clip(cmd, 0, 1) * (
            self.w_max[env_ids] - self.w_min[env_ids]
        )

    def advance(self, command: np.ndarray, num_substeps: int, substep_s: float) -> np.ndarray:
        """Hold `command` (N, M) for num_substeps; return thrust (N, substeps, M) in N.

        Each substep's thrust uses the rotor speed at the middle of that substep
        (exact solution of the lag), and the rotor speed advances to the end of
        the control period.
        """
        target = self.setpoint_rad_s(command)
        w0 = self.speed_rad_s
        tau = np.where(target >= w0, self.tau_rise, self.tau_fall)  # (N, M)
        t_mid = (np.arange(num_substeps) + 0.5) * substep_s  # (S,)
        decay = np.exp(-t_mid[None, :, None] / tau[:, None, :])  # (N, S, M)
        w_mid = target[:, None, :] + (w0 - target)[:, None, :] * decay
        self.speed_rad_s = target + (w0 - target) * np.exp(-num_substeps * substep_s / tau)
        return self.kf[:, :, None].transpose(0, 2, 1) * w_mid**2
