"""Quadruped parameter set: one dataclass describes a 12-joint quadruped of the Go2 class.

Every quadruped model Tether simulates is built from a QuadrupedParams
(sim/robots/quadruped_mujoco.py), and domain randomization produces new
QuadrupedParams, so a sampled robot is a complete, serializable parameter
set. Named presets live in sim/robots/presets/quadruped/*.yaml.

Conventions: legs FL, FR, RL, RR; per leg the joints `<leg>_hip` (abduction,
about body x), `<leg>_thigh` and `<leg>_calf` (about the leg's y axis), in
that order (JOINT_NAMES). Leg-link inertial values are stored for the
front-left leg and mirrored for the others. Per-joint quantities are tuples
in JOINT_NAMES order; in YAML they may be one value for all joints or a
{joint name: value} mapping.

The joint PD loop (the robot profile) is τ = s (Kp (q0 + scale·a − q) − Kd q̇),
clipped to ±torque limit, with s the motor strength.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

GRAVITY_M_S2 = 9.81
LEG_NAMES: tuple[str, ...] = ("FL", "FR", "RL", "RR")
JOINT_KINDS: tuple[str, ...] = ("hip", "thigh", "calf")
JOINT_NAMES: tuple[str, ...] = tuple(f"{leg}_{kind}" for leg in LEG_NAMES for kind in JOINT_KINDS)
NUM_JOINTS = len(JOINT_NAMES)
PRESET_DIR = Path(__file__).parent / "presets" / "quadruped"

_VEC3 = (
    "trunk_inertia_kg_m2",
    "trunk_com_m",
    "trunk_half_extents_m",
    "hip_inertia_kg_m2",
    "hip_com_m",
    "thigh_inertia_kg_m2",
    "thigh_com_m",
    "calf_inertia_kg_m2",
    "calf_com_m",
)
_PAIRS = ("hip_offset_m", "hip_range_rad", "front_thigh_range_rad", "rear_thigh_range_rad", "calf_range_rad")
_PER_JOINT = (
    "joint_damping_nm_s_per_rad",
    "joint_armature_kg_m2",
    "joint_friction_nm",
    "kp_nm_per_rad",
    "kd_nm_s_per_rad",
    "motor_strength",
    "default_joint_pos_rad",
    "link_mass_scale",
)
_PER_KIND = ("torque_limit_nm", "velocity_limit_rad_s")


def leg_signs(leg: str) -> tuple[float, float]:
    """(front +1 / rear −1, left +1 / right −1) of a leg name."""
    return (1.0 if leg[0] == "F" else -1.0, 1.0 if leg[1] == "L" else -1.0)


@dataclass(frozen=True)
class QuadrupedParams:
    name: str
    trunk_mass_kg: float
    trunk_inertia_kg_m2: tuple[float, float, float]
    trunk_com_m: tuple[float, float, float]
    trunk_half_extents_m: tuple[float, float, float]
    hip_offset_m: tuple[float, float]
    thigh_offset_y_m: float
    thigh_length_m: float
    calf_length_m: float
    foot_radius_m: float
    hip_mass_kg: float
    hip_inertia_kg_m2: tuple[float, float, float]
    hip_com_m: tuple[float, float, float]
    thigh_mass_kg: float
    thigh_inertia_kg_m2: tuple[float, float, float]
    thigh_com_m: tuple[float, float, float]
    calf_mass_kg: float
    calf_inertia_kg_m2: tuple[float, float, float]
    calf_com_m: tuple[float, float, float]
    hip_range_rad: tuple[float, float]
    front_thigh_range_rad: tuple[float, float]
    rear_thigh_range_rad: tuple[float, float]
    calf_range_rad: tuple[float, float]
    torque_limit_nm: dict[str, float]
    velocity_limit_rad_s: dict[str, float]
    joint_damping_nm_s_per_rad: tuple[float, ...]
    joint_armature_kg_m2: tuple[float, ...]
    joint_friction_nm: tuple[float, ...]
    friction_coefficient: float
    default_joint_pos_rad: tuple[float, ...]
    kp_nm_per_rad: tuple[float, ...]
    kd_nm_s_per_rad: tuple[float, ...]
    motor_strength: tuple[float, ...]
    action_scale_rad: float
    action_delay_s: float = 0.0
    #: Per-link mass factor (hip, thigh, calf of each leg, JOINT_NAMES order); inertia scales with it.
    link_mass_scale: tuple[float, ...] = (1.0,) * NUM_JOINTS

    def __post_init__(self) -> None:
        problems = []
        for f in (
            "trunk_mass_kg",
            "hip_mass_kg",
            "thigh_mass_kg",
            "calf_mass_kg",
            "thigh_length_m",
            "calf_length_m",
            "foot_radius_m",
            "friction_coefficient",
            "action_scale_rad",
        ):
            v = getattr(self, f)
            if not (np.isfinite(v) and v > 0):
                problems.append(f"{f} must be positive and finite, found {v}")
        if not (np.isfinite(self.action_delay_s) and self.action_delay_s >= 0):
            problems.append(f"action_delay_s must be ≥ 0, found {self.action_delay_s}")
        for f in _PER_JOINT:
            v = getattr(self, f)
            if len(v) != NUM_JOINTS:
                problems.append(f"{f} needs {NUM_JOINTS} values (one per joint), found {len(v)}")
            elif not np.all(np.isfinite(v)):
                problems.append(f"{f} must be finite, found {v}")
        for f in ("kp_nm_per_rad", "kd_nm_s_per_rad", "joint_damping_nm_s_per_rad", "joint_armature_kg_m2",
                  "joint_friction_nm"):
            if np.any(np.asarray(getattr(self, f)) < 0):
                problems.append(f"{f} must be ≥ 0, found {getattr(self, f)}")
        for f in ("motor_strength", "link_mass_scale"):
            if np.any(np.asarray(getattr(self, f)) <= 0):
                problems.append(f"{f} must be > 0, found {getattr(self, f)}")
        for f in _PER_KIND:
            d = getattr(self, f)
            if set(d) != set(JOINT_KINDS) or any(not v > 0 for v in d.values()):
                problems.append(f"{f} needs positive values for exactly {list(JOINT_KINDS)}, found {d}")
        for f in _PAIRS[1:]:
            lo, hi = getattr(self, f)
            if not lo < hi:
                problems.append(f"{f} needs low < high, found [{lo}, {hi}]")
        if not problems:
            low, high = self.joint_range_rad[:, 0], self.joint_range_rad[:, 1]
            q0 = np.asarray(self.default_joint_pos_rad)
            outside = [n for n, q, lo, hi in zip(JOINT_NAMES, q0, low, high, strict=True)
                       if not lo <= q <= hi]
            if outside:
                problems.append(f"default_joint_pos_rad of {outside} lies outside the joint range")
        if problems:
            raise ValueError(f"invalid quadruped parameters '{self.name}': " + "; ".join(problems))

    # -- derived quantities (SI) -------------------------------------------

    @property
    def joint_names(self) -> tuple[str, ...]:
        return JOINT_NAMES

    @property
    def joint_range_rad(self) -> np.ndarray:
        """(12, 2) lower and upper joint limits in JOINT_NAMES order."""
        rows = []
        for leg in LEG_NAMES:
            thigh = self.front_thigh_range_rad if leg[0] == "F" else self.rear_thigh_range_rad
            rows += [self.hip_range_rad, thigh, self.calf_range_rad]
        return np.asarray(rows, dtype=np.float64)

    @property
    def torque_limits_nm(self) -> np.ndarray:
        """(12,) symmetric torque limits in JOINT_NAMES order."""
        return np.array([self.torque_limit_nm[k] for _ in LEG_NAMES for k in JOINT_KINDS])

    @property
    def velocity_limits_rad_s(self) -> np.ndarray:
        return np.array([self.velocity_limit_rad_s[k] for _ in LEG_NAMES for k in JOINT_KINDS])

    @property
    def link_masses_kg(self) -> np.ndarray:
        """(12,) masses of the hip, thigh and calf links, JOINT_NAMES order (link of each joint)."""
        nominal = np.tile([self.hip_mass_kg, self.thigh_mass_kg, self.calf_mass_kg], len(LEG_NAMES))
        return nominal * np.asarray(self.link_mass_scale)

    @property
    def total_mass_kg(self) -> float:
        return float(self.trunk_mass_kg + self.link_masses_kg.sum())

    def hip_position_m(self, leg: str) -> np.ndarray:
        fx, sy = leg_signs(leg)
        return np.array([fx * self.hip_offset_m[0], sy * self.hip_offset_m[1], 0.0])

    def standing_height_m(self) -> float:
        """Trunk-origin height at which the default pose puts the lowest foot on flat ground."""
        heights = []
        for k in range(len(LEG_NAMES)):
            _, thigh, calf = self.default_joint_pos_rad[3 * k : 3 * k + 3]
            heights.append(
                self.thigh_length_m * np.cos(thigh) + self.calf_length_m * np.cos(thigh + calf)
            )
        return float(max(heights) + self.foot_radius_m)

    # -- (de)serialization ------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuadrupedParams:
        known = {f.name: f for f in fields(cls)}
        optional = {"action_delay_s", "link_mass_scale"}
        unknown = set(d) - set(known)
        missing = set(known) - set(d) - optional
        if unknown or missing:
            raise ValueError(
                f"quadruped parameters: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; "
                f"expected {sorted(known)} (see {PRESET_DIR / 'go2.yaml'})"
            )
        out: dict[str, Any] = {}
        for k, v in d.items():
            if k in _PER_JOINT:
                out[k] = per_joint(k, v)
            elif k in _VEC3 or k in _PAIRS:
                out[k] = tuple(float(x) for x in v)
            elif k in _PER_KIND:
                out[k] = {str(kk): float(vv) for kk, vv in dict(v).items()}
            elif k == "name":
                out[k] = str(v)
            else:
                out[k] = float(v)
        return cls(**out)

    def with_changes(self, **changes: Any) -> QuadrupedParams:
        return replace(self, **changes)


def per_joint(key: str, value: Any) -> tuple[float, ...]:
    """One value per joint (JOINT_NAMES order) from a scalar, a 12-list or a {joint: value} mapping."""
    if isinstance(value, dict):
        unknown = set(value) - set(JOINT_NAMES)
        missing = set(JOINT_NAMES) - set(value)
        if unknown or missing:
            raise ValueError(
                f"quadruped parameter '{key}': unknown joints {sorted(unknown)}, missing joints "
                f"{sorted(missing)}; joints are named {list(JOINT_NAMES)}"
            )
        return tuple(float(value[n]) for n in JOINT_NAMES)
    if np.ndim(value) == 0:
        return (float(value),) * NUM_JOINTS
    values = tuple(float(x) for x in value)
    if len(values) != NUM_JOINTS:
        raise ValueError(
            f"quadruped parameter '{key}': expected one value, {NUM_JOINTS} values or a mapping by joint "
            f"name, found {len(values)} values"
        )
    return values


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> QuadrupedParams:
    """A named preset (sim/robots/presets/quadruped/) or a path to a YAML parameter file."""
    path = Path(name)
    if not path.suffix:
        path = PRESET_DIR / f"{name}.yaml"
    if not path.exists():
        raise FileNotFoundError(
            f"quadruped preset '{name}' not found; available presets: {available_presets()}, "
            "or pass a path to a YAML file with the QuadrupedParams fields"
        )
    with open(path) as f:
        return QuadrupedParams.from_dict(yaml.safe_load(f))
