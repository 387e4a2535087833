"""Per-environment domain randomization for quadrupeds, configured in YAML.

sample(nominal, rng, ...) draws one QuadrupedEpisodeSample: a full
QuadrupedParams (friction, trunk payload and centre of mass, link masses,
motor strength, PD gains, joint damping/armature/friction, actuation delay),
observation-noise factors per term, and the push schedule of the episode.
Samples serialize to dicts so each evaluated episode records exactly what it
ran, and can be replayed from its seed and episode index. The YAML format is
the quadrotor one ({scale: [lo, hi]} / {value: [lo, hi]} / null); see
quadruped_default.yaml for every key and its documented default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim.randomization.quadrotor import Range, _pair
from sim.robots.quadruped import NUM_JOINTS, QuadrupedParams

CONFIG_DIR = Path(__file__).parent
DEFAULT_CONFIG = CONFIG_DIR / "quadruped_default.yaml"

#: Robot keys; the ones whose `value` range may include zero or negative numbers are additive or absolute.
_ROBOT_KEYS = (
    "friction_coefficient",
    "added_trunk_mass_kg",
    "trunk_com_offset_m",
    "link_mass",
    "motor_strength",
    "kp",
    "kd",
    "joint_damping_nm_s_per_rad",
    "joint_armature_kg_m2",
    "joint_friction_nm",
    "action_delay_s",
)
_NON_POSITIVE_OK = {
    "added_trunk_mass_kg",
    "trunk_com_offset_m",
    "joint_damping_nm_s_per_rad",
    "joint_friction_nm",
    "action_delay_s",
}
_ADDITIVE = {"added_trunk_mass_kg", "trunk_com_offset_m"}


def _parse(key: str, spec: Any) -> Range | None:
    if key in _NON_POSITIVE_OK and isinstance(spec, dict) and set(spec) == {"value"}:
        lo, hi = _pair(key, spec["value"])
        if key in ("joint_damping_nm_s_per_rad", "joint_friction_nm", "action_delay_s") and lo < 0:
            raise ValueError(f"randomization '{key}': values must be ≥ 0, found [{lo}, {hi}]")
        return Range(lo, hi, relative=False)
    if key in _ADDITIVE and spec is not None:
        raise ValueError(
            f"randomization '{key}' is additive: expected {{value: [lo, hi]}} or null, found {spec!r}"
        )
    return Range.parse(key, spec)


@dataclass(frozen=True)
class QuadrupedEpisodeSample:
    """Everything randomized about one episode."""

    params: QuadrupedParams
    noise_scale: dict[str, float] = field(default_factory=dict)
    #: Push times (s since reset) and horizontal velocity kicks (m/s, world x, y).
    push_times_s: tuple[float, ...] = ()
    push_lin_vel_m_s: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params.to_dict(),
            "noise_scale": dict(self.noise_scale),
            "push_times_s": list(self.push_times_s),
            "push_lin_vel_m_s": [list(v) for v in self.push_lin_vel_m_s],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuadrupedEpisodeSample:
        return cls(
            params=QuadrupedParams.from_dict(d["params"]),
            noise_scale=dict(d.get("noise_scale", {})),
            push_times_s=tuple(float(t) for t in d.get("push_times_s", ())),
            push_lin_vel_m_s=tuple((float(v[0]), float(v[1])) for v in d.get("push_lin_vel_m_s", ())),
        )


@dataclass(frozen=True)
class QuadrupedRandomization:
    robot: dict[str, Range | None]
    noise_scale: dict[str, tuple[float, float]]
    push_interval_s: tuple[float, float] | None
    push_max_lin_vel_m_s: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuadrupedRandomization:
        known = {"robot", "observation_noise_scale", "pushes"}
        if set(d) - known:
            raise ValueError(
                f"quadruped randomization: unknown keys {sorted(set(d) - known)}; expected {sorted(known)} "
                f"(see {DEFAULT_CONFIG})"
            )
        robot = dict(d.get("robot") or {})
        unknown = set(robot) - set(_ROBOT_KEYS)
        if unknown:
            raise ValueError(
                f"quadruped randomization.robot: unknown keys {sorted(unknown)}; expected {list(_ROBOT_KEYS)}"
            )
        noise = {
            k: _pair(f"observation_noise_scale.{k}", v)
            for k, v in (d.get("observation_noise_scale") or {}).items()
        }
        pushes = d.get("pushes")
        interval, max_vel = None, 0.0
        if pushes:
            if set(pushes) != {"interval_s", "max_lin_vel_m_s"}:
                raise ValueError(
                    f"quadruped randomization.pushes: expected keys interval_s and max_lin_vel_m_s, "
                    f"found {sorted(pushes)}"
                )
            interval = _pair("pushes.interval_s", pushes["interval_s"])
            max_vel = float(pushes["max_lin_vel_m_s"])
            if interval[0] <= 0 or max_vel < 0:
                raise ValueError(
                    f"quadruped randomization.pushes: need interval_s > 0 and max_lin_vel_m_s ≥ 0, found "
                    f"{pushes}"
                )
        return cls(
            robot={k: _parse(k, robot.get(k)) for k in _ROBOT_KEYS},
            noise_scale=noise,
            push_interval_s=interval,
            push_max_lin_vel_m_s=max_vel,
        )

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_CONFIG) -> QuadrupedRandomization:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"randomization config {path} not found; shipped configs: "
                f"{sorted(p.name for p in CONFIG_DIR.glob('quadruped*.yaml'))}"
            )
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f) or {})

    def sample(
        self,
        nominal: QuadrupedParams,
        rng: np.random.Generator,
        observation_terms: tuple[str, ...] = (),
        episode_length_s: float = 0.0,
    ) -> QuadrupedEpisodeSample:
        r = self.robot
        joints = np.ones(NUM_JOINTS)

        def draw(key: str, nominal_value: float | np.ndarray) -> Any:
            rng_range = r[key]
            return nominal_value if rng_range is None else rng_range.draw(rng, nominal_value)

        trunk_mass = nominal.trunk_mass_kg
        if r["added_trunk_mass_kg"] is not None:
            trunk_mass += float(r["added_trunk_mass_kg"].draw(rng, 1.0))
        com = np.asarray(nominal.trunk_com_m, dtype=np.float64)
        if r["trunk_com_offset_m"] is not None:
            com = com + np.asarray(r["trunk_com_offset_m"].draw(rng, np.zeros(3)))
        params = nominal.with_changes(
            friction_coefficient=float(draw("friction_coefficient", nominal.friction_coefficient)),
            trunk_mass_kg=trunk_mass,
            trunk_com_m=tuple(float(x) for x in com),
            link_mass_scale=_tuple(draw("link_mass", joints * np.asarray(nominal.link_mass_scale))),
            motor_strength=_tuple(draw("motor_strength", np.asarray(nominal.motor_strength))),
            kp_nm_per_rad=_tuple(draw("kp", np.asarray(nominal.kp_nm_per_rad))),
            kd_nm_s_per_rad=_tuple(draw("kd", np.asarray(nominal.kd_nm_s_per_rad))),
            joint_damping_nm_s_per_rad=_tuple(
                draw("joint_damping_nm_s_per_rad", np.asarray(nominal.joint_damping_nm_s_per_rad))
            ),
            joint_armature_kg_m2=_tuple(
                draw("joint_armature_kg_m2", np.asarray(nominal.joint_armature_kg_m2))
            ),
            joint_friction_nm=_tuple(draw("joint_friction_nm", np.asarray(nominal.joint_friction_nm))),
            action_delay_s=float(draw("action_delay_s", nominal.action_delay_s)),
        )
        default = self.noise_scale.get("default", (1.0, 1.0))
        noise = {t: float(rng.uniform(*self.noise_scale.get(t, default))) for t in observation_terms}
        times: list[float] = []
        kicks: list[tuple[float, float]] = []
        if self.push_interval_s is not None:
            t = float(rng.uniform(*self.push_interval_s))
            while t < episode_length_s:
                v = rng.uniform(-self.push_max_lin_vel_m_s, self.push_max_lin_vel_m_s, size=2)
                times.append(t)
                kicks.append((float(v[0]), float(v[1])))
                t += float(rng.uniform(*self.push_interval_s))
        return QuadrupedEpisodeSample(params, noise, tuple(times), tuple(kicks))


def nominal_sample(
    nominal: QuadrupedParams, observation_terms: tuple[str, ...] = ()
) -> QuadrupedEpisodeSample:
    """The un-randomized episode: nominal robot, contract noise, no pushes."""
    return QuadrupedEpisodeSample(params=nominal, noise_scale={t: 1.0 for t in observation_terms})


def _tuple(x: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in np.broadcast_to(np.asarray(x, dtype=np.float64), (NUM_JOINTS,)))
