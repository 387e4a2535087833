"""Quadrotor parameter set: one dataclass describes any multirotor in X layout.

Every model Tether simulates (MuJoCo, PyBullet) and every controller that needs
vehicle constants (the PID baseline, also the robot's failsafe) is built from a
QuadrotorParams, so a sampled parameter set becomes a vehicle without
hand-copied constants. It lives in deploy/ because the robot needs it too
(numpy only); the named presets live in sim/robots/presets.

Rotor model: the normalized motor command u ∈ [0, 1] sets the rotor-speed
setpoint linearly, ω* = ω_min + u (ω_max − ω_min); the rotor speed follows it
with a first-order lag (separate rise and fall time constants); each rotor
produces thrust kf ω² along body z and a reaction yaw torque
−spin · (km/kf) · thrust (a counter-clockwise rotor, spin +1, twists the body
clockwise).

Optional `rate_controller`: the gains of the vehicle's flight-controller rate loop
(RateControllerParams), used when a policy commands collective thrust and body rates (CTBR)
instead of motors; absent for a vehicle only ever flown at motor level.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

GRAVITY_M_S2 = 9.81
RPM_TO_RAD_S = 2.0 * np.pi / 60.0


def _vec3(name: str, value: Any) -> tuple[float, float, float]:
    v = tuple(float(x) for x in value)
    if len(v) != 3 or not all(np.isfinite(x) and x >= 0 for x in v):
        raise ValueError(
            f"rate_controller.{name}: expected three finite values ≥ 0 (roll, pitch, yaw), found {value!r}"
        )
    return v  # type: ignore[return-value]


@dataclass(frozen=True)
class RateControllerParams:
    """Gains of the flight controller's body-rate loop (PX4 mc_rate_control, Betaflight's PID).

    Per axis (roll, pitch, yaw; body FLU), in angular-acceleration units so that one set reads the
    same for any vehicle size: the controller multiplies the demanded angular acceleration by the
    inertia it was tuned for (the nominal vehicle's), as a torque setpoint, then mixes thrust and
    torque to the motors with the nominal geometry (deploy/rate_controller.py):

        α = kp (ω* − ω) + clip(ki ∫(ω* − ω) dt, ±integral_limit) − kd dω/dt
    """

    kp_1_s: tuple[float, float, float]  # rad/s² per rad/s of rate error
    ki_1_s2: tuple[float, float, float]  # rad/s² per rad of integrated rate error
    kd: tuple[float, float, float]  # rad/s² per rad/s² of measured angular acceleration (on ω, not the error)
    integral_limit_rad_s2: tuple[float, float, float]  # bound on the integral's contribution

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RateControllerParams:
        known = {f.name for f in fields(cls)}
        if not isinstance(d, dict) or set(d) != known:
            found = sorted(d) if isinstance(d, dict) else repr(d)
            raise ValueError(f"rate_controller: expected exactly the keys {sorted(known)}, found {found}")
        return cls(**{k: _vec3(k, d[k]) for k in known})

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in asdict(self).items()}

    def scaled(self, factor: float) -> RateControllerParams:
        """Every gain (and the integral bound) times `factor` (domain randomization)."""
        if not (np.isfinite(factor) and factor > 0):
            raise ValueError(f"rate-controller gain factor must be positive and finite, found {factor}")
        return RateControllerParams(
            kp_1_s=_scale3(self.kp_1_s, factor),
            ki_1_s2=_scale3(self.ki_1_s2, factor),
            kd=_scale3(self.kd, factor),
            integral_limit_rad_s2=_scale3(self.integral_limit_rad_s2, factor),
        )


def _scale3(v: tuple[float, float, float], k: float) -> tuple[float, float, float]:
    return (v[0] * k, v[1] * k, v[2] * k)


@dataclass(frozen=True)
class QuadrotorParams:
    name: str
    mass_kg: float
    arm_length_m: float
    inertia_kg_m2: tuple[float, float, float]
    thrust_coefficient_n_per_rpm2: float
    torque_coefficient_nm_per_rpm2: float
    max_rotor_speed_rpm: float
    min_rotor_speed_rpm: float
    motor_time_constant_rise_s: float
    motor_time_constant_fall_s: float
    rotor_angles_deg: tuple[float, ...]
    rotor_spin_directions: tuple[int, ...]
    rotor_radius_m: float
    body_half_extents_m: tuple[float, float, float]
    #: The flight controller's rate-loop gains (CTBR tasks); None for motor-level only.
    rate_controller: RateControllerParams | None = None

    def __post_init__(self) -> None:
        problems = []
        for f in (
            "mass_kg",
            "arm_length_m",
            "thrust_coefficient_n_per_rpm2",
            "max_rotor_speed_rpm",
            "motor_time_constant_rise_s",
            "motor_time_constant_fall_s",
            "rotor_radius_m",
        ):
            v = getattr(self, f)
            if not (np.isfinite(v) and v > 0):
                problems.append(f"{f} must be positive and finite, found {v}")
        if any(not (np.isfinite(i) and i > 0) for i in self.inertia_kg_m2):
            problems.append(f"inertia_kg_m2 must be three positive values, found {self.inertia_kg_m2}")
        if len(self.rotor_angles_deg) != len(self.rotor_spin_directions):
            problems.append(
                f"{len(self.rotor_angles_deg)} rotor angles but "
                f"{len(self.rotor_spin_directions)} spin directions; give one of each per motor"
            )
        if any(s not in (-1, 1) for s in self.rotor_spin_directions):
            problems.append(f"rotor_spin_directions must be ±1, found {self.rotor_spin_directions}")
        if not 0 <= self.min_rotor_speed_rpm < self.max_rotor_speed_rpm:
            problems.append("need 0 ≤ min_rotor_speed_rpm < max_rotor_speed_rpm")
        if problems:
            raise ValueError(f"invalid quadrotor parameters '{self.name}': " + "; ".join(problems))

    # -- derived quantities (SI) -------------------------------------------

    @property
    def num_motors(self) -> int:
        return len(self.rotor_angles_deg)

    @property
    def motor_names(self) -> tuple[str, ...]:
        return tuple(f"motor_{i}" for i in range(self.num_motors))

    @property
    def thrust_coefficient_n_per_rad_s2(self) -> float:
        return self.thrust_coefficient_n_per_rpm2 / RPM_TO_RAD_S**2

    @property
    def torque_to_thrust_m(self) -> float:
        """km / kf: yaw reaction torque per newton of thrust (m)."""
        return self.torque_coefficient_nm_per_rpm2 / self.thrust_coefficient_n_per_rpm2

    @property
    def max_rotor_speed_rad_s(self) -> float:
        return self.max_rotor_speed_rpm * RPM_TO_RAD_S

    @property
    def min_rotor_speed_rad_s(self) -> float:
        return self.min_rotor_speed_rpm * RPM_TO_RAD_S

    @property
    def max_thrust_per_motor_n(self) -> float:
        return self.thrust_coefficient_n_per_rad_s2 * self.max_rotor_speed_rad_s**2

    @property
    def max_total_thrust_n(self) -> float:
        return self.num_motors * self.max_thrust_per_motor_n

    @property
    def thrust_to_weight(self) -> float:
        return self.max_total_thrust_n / (self.mass_kg * GRAVITY_M_S2)

    @property
    def rotor_positions_m(self) -> np.ndarray:
        """(motors, 3) rotor hub positions in the body frame (FLU)."""
        a = np.deg2rad(np.asarray(self.rotor_angles_deg))
        return np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], -1) * self.arm_length_m

    def thrust_from_command(self, u: np.ndarray) -> np.ndarray:
        """Steady-state thrust (N) of one rotor at normalized command u ∈ [0, 1]."""
        u = np.clip(u, 0.0, 1.0)
        w = self.min_rotor_speed_rad_s + u * (self.max_rotor_speed_rad_s - self.min_rotor_speed_rad_s)
        return self.thrust_coefficient_n_per_rad_s2 * w**2

    def command_from_thrust(self, thrust_n: np.ndarray) -> np.ndarray:
        """Normalized command in [0, 1] whose steady-state thrust is thrust_n (clipped)."""
        w = np.sqrt(np.maximum(thrust_n, 0.0) / self.thrust_coefficient_n_per_rad_s2)
        u = (w - self.min_rotor_speed_rad_s) / (self.max_rotor_speed_rad_s - self.min_rotor_speed_rad_s)
        return np.clip(u, 0.0, 1.0)

    @property
    def hover_command(self) -> float:
        """Normalized command at which all motors together carry the weight."""
        return float(self.command_from_thrust(self.mass_kg * GRAVITY_M_S2 / self.num_motors))

    def allocation_matrix(self) -> np.ndarray:
        """(4, motors): per-motor thrust (N) → [collective thrust N, τx, τy, τz N·m] (body)."""
        p = self.rotor_positions_m
        s = np.asarray(self.rotor_spin_directions, dtype=np.float64)
        return np.stack([np.ones(self.num_motors), p[:, 1], -p[:, 0], -s * self.torque_to_thrust_m])

    # -- (de)serialization ------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        rc = d.pop("rate_controller")
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        if rc is not None:  # vehicles without one serialize as before the field existed
            out["rate_controller"] = {k: list(v) for k, v in rc.items()}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuadrotorParams:
        known = {f.name for f in fields(cls)}
        optional = {"rate_controller"}
        unknown = set(d) - known
        missing = known - optional - set(d)
        if unknown or missing:
            raise ValueError(
                f"quadrotor parameters: unknown keys {sorted(unknown)}, missing keys "
                f"{sorted(missing)}; expected exactly {sorted(known)}"
            )
        tuples = {"inertia_kg_m2", "rotor_angles_deg", "rotor_spin_directions", "body_half_extents_m"}
        values = {k: tuple(v) if k in tuples else v for k, v in d.items() if k != "rate_controller"}
        rc = d.get("rate_controller")
        return cls(**values, rate_controller=None if rc is None else RateControllerParams.from_dict(rc))

    def with_changes(self, **changes: Any) -> QuadrotorParams:
        return replace(self, **changes)
