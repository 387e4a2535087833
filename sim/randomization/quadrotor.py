"""Per-environment domain randomization for quadrotors, configured in YAML.

sample(nominal, rng) draws one EpisodeSample: a full QuadrotorParams plus
observation-noise factors, action delay and a disturbance wrench. Samples
serialize to dicts so each evaluated episode records exactly what it flew,
and can be replayed from its seed and episode index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim.robots.quadrotor import GRAVITY_M_S2, QuadrotorParams

CONFIG_DIR = Path(__file__).parent
DEFAULT_CONFIG = CONFIG_DIR / "quadrotor_default.yaml"

_VEHICLE_KEYS = (
    "mass_kg",
    "inertia_kg_m2",
    "arm_length_m",
    "thrust_coefficient",
    "torque_coefficient",
    "motor_time_constant_s",
    "thrust_to_weight",
    "rate_controller_gains",
)


@dataclass(frozen=True)
class Range:
    """Uniform draw either as a factor of the nominal value (`scale`) or absolute (`value`)."""

    low: float
    high: float
    relative: bool

    @classmethod
    def parse(cls, key: str, spec: Any) -> Range | None:
        if spec is None:
            return None
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ("scale", "value"):
            raise ValueError(
                f"randomization '{key}': expected {{scale: [lo, hi]}}, {{value: [lo, hi]}} or null, "
                f"found {spec!r}"
            )
        kind, bounds = next(iter(spec.items()))
        lo, hi = _pair(key, bounds)
        if lo <= 0 and key != "observation_noise_scale":
            raise ValueError(f"randomization '{key}': bounds must be positive, found [{lo}, {hi}]")
        return cls(lo, hi, kind == "scale")

    def draw(self, rng: np.random.Generator, nominal: float | np.ndarray) -> float | np.ndarray:
        shape = np.shape(nominal)
        x = rng.uniform(self.low, self.high, size=shape) if shape else rng.uniform(self.low, self.high)
        return nominal * x if self.relative else x


def _pair(key: str, bounds: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"randomization '{key}': expected [low, high], found {bounds!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"randomization '{key}': need finite low ≤ high, found [{lo}, {hi}]")
    return lo, hi


@dataclass(frozen=True)
class EpisodeSample:
    """Everything randomized about one episode."""

    params: QuadrotorParams
    noise_scale: dict[str, float] = field(default_factory=dict)
    action_delay_steps: int = 0
    force_world_n: tuple[float, float, float] = (0.0, 0.0, 0.0)
    torque_world_nm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params.to_dict(),
            "noise_scale": dict(self.noise_scale),
            "action_delay_steps": self.action_delay_steps,
            "force_world_n": list(self.force_world_n),
            "torque_world_nm": list(self.torque_world_nm),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpisodeSample:
        return cls(
            params=QuadrotorParams.from_dict(d["params"]),
            noise_scale=dict(d.get("noise_scale", {})),
            action_delay_steps=int(d.get("action_delay_steps", 0)),
            force_world_n=tuple(d.get("force_world_n", (0.0, 0.0, 0.0))),
            torque_world_nm=tuple(d.get("torque_world_nm", (0.0, 0.0, 0.0))),
        )


@dataclass(frozen=True)
class QuadrotorRandomization:
    vehicle: dict[str, Range | None]
    geometric_scaling: bool
    noise_scale: dict[str, tuple[float, float]]
    action_delay_steps: tuple[int, int]
    force_accel_m_s2: tuple[float, float]
    torque_accel_rad_s2: tuple[float, float]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuadrotorRandomization:
        known = {"vehicle", "observation_noise_scale", "action_delay_steps", "disturbance"}
        if set(d) - known:
            raise ValueError(
                f"randomization: unknown keys {sorted(set(d) - known)}; expected {sorted(known)}"
            )
        veh = dict(d.get("vehicle") or {})
        geometric = bool(veh.pop("geometric_scaling", False))
        unknown = set(veh) - set(_VEHICLE_KEYS)
        if unknown:
            raise ValueError(
                f"randomization.vehicle: unknown keys {sorted(unknown)}; expected {list(_VEHICLE_KEYS)}"
            )
        gains = Range.parse("rate_controller_gains", veh.get("rate_controller_gains"))
        if gains is not None and not gains.relative:
            raise ValueError(
                "randomization.vehicle.rate_controller_gains: expected {scale: [lo, hi]} (one factor on "
                "every rate-loop gain), found {value: ...}; gains have no single absolute value"
            )
        noise = {
            k: _pair(f"observation_noise_scale.{k}", v)
            for k, v in (d.get("observation_noise_scale") or {}).items()
        }
        delay = d.get("action_delay_steps", [0, 0])
        lo, hi = (int(x) for x in delay)
        if not 0 <= lo <= hi:
            raise ValueError(f"randomization.action_delay_steps: need 0 ≤ low ≤ high, found {delay}")
        dist = d.get("disturbance") or {}
        return cls(
            vehicle={k: Range.parse(k, veh.get(k)) for k in _VEHICLE_KEYS},
            geometric_scaling=geometric,
            noise_scale=noise,
            action_delay_steps=(lo, hi),
            force_accel_m_s2=_pair("disturbance.force_accel_m_s2", dist.get("force_accel_m_s2", [0, 0])),
            torque_accel_rad_s2=_pair(
                "disturbance.torque_accel_rad_s2", dist.get("torque_accel_rad_s2", [0, 0])
            ),
        )

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_CONFIG) -> QuadrotorRandomization:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"randomization config {path} not found; shipped configs: "
                f"{sorted(p.name for p in CONFIG_DIR.glob('*.yaml'))}"
            )
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f) or {})

    def sample(
        self,
        nominal: QuadrotorParams,
        rng: np.random.Generator,
        observation_terms: tuple[str, ...] = (),
        rate_controller: bool = False,
    ) -> EpisodeSample:
        """One episode's draws. `rate_controller`: the task flies through the flight controller's rate
        loop (ctbr), so its gains are drawn too, after everything else: the draws of a task without
        one (and so its episodes) do not change."""
        v = self.vehicle
        mass = nominal.mass_kg
        inertia = np.asarray(nominal.inertia_kg_m2)
        arm = nominal.arm_length_m
        if v["mass_kg"] is not None:
            mass = float(v["mass_kg"].draw(rng, mass))
        if self.geometric_scaling:
            ratio = mass / nominal.mass_kg
            arm *= ratio ** (1 / 3)
            inertia = inertia * ratio ** (5 / 3)
        if v["inertia_kg_m2"] is not None:
            inertia = np.asarray(v["inertia_kg_m2"].draw(rng, inertia))
        if v["arm_length_m"] is not None:
            arm = float(v["arm_length_m"].draw(rng, arm))
        kf = nominal.thrust_coefficient_n_per_rpm2
        if v["thrust_coefficient"] is not None:
            kf = float(v["thrust_coefficient"].draw(rng, kf))
        km = nominal.torque_coefficient_nm_per_rpm2
        if v["torque_coefficient"] is not None:
            km = float(v["torque_coefficient"].draw(rng, km))
        rise, fall = nominal.motor_time_constant_rise_s, nominal.motor_time_constant_fall_s
        if v["motor_time_constant_s"] is not None:
            r = v["motor_time_constant_s"]
            if r.relative:
                k = float(r.draw(rng, 1.0))
                rise, fall = rise * k, fall * k
            else:
                new_rise = float(r.draw(rng, rise))
                rise, fall = new_rise, fall * new_rise / rise
        size = (mass / nominal.mass_kg) ** (1 / 3) if self.geometric_scaling else 1.0
        params = nominal.with_changes(
            mass_kg=mass,
            inertia_kg_m2=tuple(float(x) for x in inertia),
            arm_length_m=arm,
            thrust_coefficient_n_per_rpm2=kf,
            torque_coefficient_nm_per_rpm2=km,
            motor_time_constant_rise_s=rise,
            motor_time_constant_fall_s=fall,
            rotor_radius_m=nominal.rotor_radius_m * size,
            body_half_extents_m=tuple(float(x) * size for x in nominal.body_half_extents_m),
        )
        if v["thrust_to_weight"] is not None:
            twr = float(v["thrust_to_weight"].draw(rng, nominal.thrust_to_weight))
            params = with_thrust_to_weight(params, twr)
        default = self.noise_scale.get("default", (1.0, 1.0))
        noise = {t: float(rng.uniform(*self.noise_scale.get(t, default))) for t in observation_terms}
        delay = int(rng.integers(self.action_delay_steps[0], self.action_delay_steps[1] + 1))
        force = _random_direction(rng) * rng.uniform(*self.force_accel_m_s2) * params.mass_kg
        torque = (
            _random_direction(rng) * rng.uniform(*self.torque_accel_rad_s2) * np.asarray(params.inertia_kg_m2)
        )
        if rate_controller and v["rate_controller_gains"] is not None:
            gains = nominal.rate_controller
            if gains is None:
                raise ValueError(
                    f"randomization.vehicle.rate_controller_gains: vehicle '{nominal.name}' has no "
                    "rate_controller gains to scale; add them to its parameter YAML"
                )
            factor = float(v["rate_controller_gains"].draw(rng, 1.0))
            params = params.with_changes(rate_controller=gains.scaled(factor))
        return EpisodeSample(
            params=params,
            noise_scale=noise,
            action_delay_steps=delay,
            force_world_n=tuple(float(x) for x in force),
            torque_world_nm=tuple(float(x) for x in torque),
        )


def nominal_sample(nominal: QuadrotorParams, observation_terms: tuple[str, ...] = ()) -> EpisodeSample:
    """The un-randomized episode: nominal vehicle, contract noise, no delay, no disturbance."""
    return EpisodeSample(params=nominal, noise_scale={t: 1.0 for t in observation_terms})


def with_thrust_to_weight(params: QuadrotorParams, thrust_to_weight: float) -> QuadrotorParams:
    """Same vehicle with the maximum rotor speed set so that max thrust / weight = thrust_to_weight."""
    if thrust_to_weight <= 0:
        raise ValueError(f"thrust_to_weight must be positive, found {thrust_to_weight}")
    per_motor_n = thrust_to_weight * params.mass_kg * GRAVITY_M_S2 / params.num_motors
    max_rpm = float(np.sqrt(per_motor_n / params.thrust_coefficient_n_per_rpm2))
    if max_rpm <= params.min_rotor_speed_rpm:
        raise ValueError(
            f"thrust-to-weight {thrust_to_weight} needs max rotor speed {max_rpm:.0f} RPM, below the "
            f"idle speed {params.min_rotor_speed_rpm} RPM"
        )
    return params.with_changes(max_rotor_speed_rpm=max_rpm)


def _random_direction(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(3)
    return v / max(np.linalg.norm(v), 1e-12)
