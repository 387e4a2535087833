"""PyBullet model of a quadruped, built through PyBullet's API from a QuadrupedParams.

The same robot as sim/robots/quadruped_mujoco.py, from the same parameter
set: a free base "trunk" (box collision geometry, the trunk's mass, centre
of mass and diagonal inertia) with four legs, each a chain of revolute
joints hip (about x) → thigh → calf (about y) named and ordered as
JOINT_NAMES, at the same offsets, with the same link masses, centres of
mass, inertias (scaled by link_mass_scale), joint ranges and sliding
friction; capsule thigh and calf and a sphere foot. Robot links collide
with the ground only (no self-collision, no other environment's robot).

Link layout (PyBullet link indices): leg k (LEG_NAMES order) owns links
4k (hip), 4k+1 (thigh), 4k+2 (calf), 4k+3 (foot). The foot is a link of its
own, fixed to the calf, so its contacts are reported apart from the calf's;
it carries `foot_link_mass_kg` of the calf's mass. Link 4k+j is the child of
joint JOINT_NAMES[3k+j] (j < 3). PyBullet names joints "joint1"…; Tether
addresses them through JOINT_LINKS, by name.

What differs from MuJoCo, and how it is handled (settings in
quadruped_pybullet.yaml):
- PD loop: no PyBullet motor. PyBullet's default velocity motors are kept
  only as the joints' Coulomb friction (target velocity 0, maximum force
  joint_friction_nm: a velocity constraint with a force bound, which is what
  MuJoCo's frictionloss is); the engine computes the PD torque (and the
  passive viscous damping) itself and applies it with TORQUE_CONTROL.
- Friction: Bullet multiplies the two friction coefficients of a contact
  (MuJoCo takes the larger); the ground's is 1, each robot link carries
  params.friction_coefficient, so every contact has exactly that.
- Armature: Bullet's multibody has none; see `armature_model`.
- PyBullet's defaults are switched off: base/link velocity damping (0.04),
  sleeping, the joint velocity clamp (100 rad/s).
- The base's reported position is its centre of mass, not the trunk origin:
  trunk_origin_from_com / com_from_trunk_origin convert (the engine's job).

Collision shapes cannot be resized and the base's inertial frame cannot be
moved in place, so a parameter set with other geometry or another trunk
centre of mass needs a new body (geometry_key tells when); masses,
inertias, friction and joint friction change in place (apply_params).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pybullet as pb
import yaml

from sim.robots.quadrotor_pybullet import GROUND_COLLISION_GROUP, VEHICLE_COLLISION_GROUP
from sim.robots.quadruped import JOINT_KINDS, JOINT_NAMES, LEG_NAMES, QuadrupedParams, leg_signs
from sim.robots.quadruped_mujoco import CALF_GEOM_RADIUS_M, LEG_GEOM_RADIUS_M

SETTINGS_FILE = Path(__file__).with_suffix(".yaml")
LINKS_PER_LEG = 4
#: PyBullet link index of each joint's child link (== the joint's index), JOINT_NAMES order.
JOINT_LINKS: tuple[int, ...] = tuple(
    LINKS_PER_LEG * k + j for k in range(len(LEG_NAMES)) for j in range(len(JOINT_KINDS))
)
#: Link index of each foot, LEG_NAMES order.
FOOT_LINKS: tuple[int, ...] = tuple(LINKS_PER_LEG * k + 3 for k in range(len(LEG_NAMES)))
#: Link indices of the thighs then the calves, LEG_NAMES order (the "leg collisions" of the task).
THIGH_LINKS: tuple[int, ...] = tuple(LINKS_PER_LEG * k + 1 for k in range(len(LEG_NAMES)))
CALF_LINKS: tuple[int, ...] = tuple(LINKS_PER_LEG * k + 2 for k in range(len(LEG_NAMES)))
BASE_LINK = -1
ARMATURE_MODELS = ("link", "none")
_JOINT_AXES = {"hip": (1.0, 0.0, 0.0), "thigh": (0.0, 1.0, 0.0), "calf": (0.0, 1.0, 0.0)}
_IDENTITY_XYZW = (0.0, 0.0, 0.0, 1.0)

GeometryKey = tuple[float, ...]


@dataclass(frozen=True)
class PybulletQuadrupedSettings:
    """PyBullet-only numbers of the model; documented in quadruped_pybullet.yaml."""

    solver_iterations: int
    split_impulse: bool
    foot_link_mass_kg: float
    max_joint_velocity_rad_s: float
    contact_distance_m: float
    armature_model: str

    def __post_init__(self) -> None:
        problems = []
        if self.solver_iterations < 1:
            problems.append(f"solver_iterations must be ≥ 1, found {self.solver_iterations}")
        for f in ("foot_link_mass_kg", "max_joint_velocity_rad_s"):
            v = getattr(self, f)
            if not (np.isfinite(v) and v > 0):
                problems.append(f"{f} must be positive and finite, found {v}")
        if not (np.isfinite(self.contact_distance_m) and self.contact_distance_m >= 0):
            problems.append(f"contact_distance_m must be ≥ 0, found {self.contact_distance_m}")
        if self.armature_model not in ARMATURE_MODELS:
            problems.append(
                f"armature_model must be one of {list(ARMATURE_MODELS)}, found {self.armature_model!r}"
            )
        if problems:
            raise ValueError(f"PyBullet quadruped settings ({SETTINGS_FILE}): " + "; ".join(problems))

    @classmethod
    def from_yaml(cls, path: str | Path = SETTINGS_FILE) -> PybulletQuadrupedSettings:
        with open(path) as f:
            d: dict[str, Any] = yaml.safe_load(f) or {}
        known = {f.name for f in fields(cls)}
        if set(d) != known:
            raise ValueError(
                f"PyBullet quadruped settings {path}: missing keys {sorted(known - set(d))}, unknown keys "
                f"{sorted(set(d) - known)}; see {SETTINGS_FILE} for every key"
            )
        return cls(
            solver_iterations=int(d["solver_iterations"]),
            split_impulse=bool(d["split_impulse"]),
            foot_link_mass_kg=float(d["foot_link_mass_kg"]),
            max_joint_velocity_rad_s=float(d["max_joint_velocity_rad_s"]),
            contact_distance_m=float(d["contact_distance_m"]),
            armature_model=str(d["armature_model"]),
        )


def geometry_key(params: QuadrupedParams) -> GeometryKey:
    """Everything a body's shapes and frames depend on; equal keys can be updated in place."""
    return (
        *params.trunk_com_m, *params.trunk_half_extents_m, *params.hip_offset_m, params.thigh_offset_y_m,
        params.thigh_length_m, params.calf_length_m, params.foot_radius_m,
        *params.hip_com_m, *params.thigh_com_m, *params.calf_com_m,
    )


def _mirror(v: tuple[float, float, float], fx: float, sy: float, mirror_x: bool) -> list[float]:
    """A front-left leg vector for another leg (as the MuJoCo model mirrors it)."""
    return [v[0] * (fx if mirror_x else 1.0), v[1] * sy, v[2]]


def link_inertias_kg_m2(params: QuadrupedParams, settings: PybulletQuadrupedSettings) -> np.ndarray:
    """(12, 3) principal inertias of the hip, thigh and calf links, JOINT_NAMES order.

    The nominal inertia scaled like the link's mass; with armature_model
    `link` the joint's armature is added about the joint's own axis.
    """
    nominal = {"hip": params.hip_inertia_kg_m2, "thigh": params.thigh_inertia_kg_m2,
               "calf": params.calf_inertia_kg_m2}
    out = np.zeros((len(JOINT_NAMES), 3))
    for k, name in enumerate(JOINT_NAMES):
        kind = name.split("_")[1]
        out[k] = np.asarray(nominal[kind]) * params.link_mass_scale[k]
        if settings.armature_model == "link":
            out[k] += np.asarray(_JOINT_AXES[kind]) * params.joint_armature_kg_m2[k]
    return out


def apply_params(
    client: int, body: int, params: QuadrupedParams, settings: PybulletQuadrupedSettings
) -> None:
    """Write masses, inertias, friction and joint friction into a body of the same geometry."""
    c = client
    pb.changeDynamics(
        body, BASE_LINK, mass=params.trunk_mass_kg, localInertiaDiagonal=list(params.trunk_inertia_kg_m2),
        lateralFriction=params.friction_coefficient, physicsClientId=c,
    )
    masses = params.link_masses_kg
    inertias = link_inertias_kg_m2(params, settings)
    for k, link in enumerate(JOINT_LINKS):
        mass = masses[k] - (settings.foot_link_mass_kg if JOINT_NAMES[k].endswith("_calf") else 0.0)
        pb.changeDynamics(
            body, link, mass=float(mass), localInertiaDiagonal=inertias[k].tolist(),
            lateralFriction=params.friction_coefficient, physicsClientId=c,
        )
    for link in FOOT_LINKS:
        pb.changeDynamics(body, link, lateralFriction=params.friction_coefficient, physicsClientId=c)
    # Coulomb joint friction: the default velocity motors, held at zero speed with the friction bound.
    pb.setJointMotorControlArray(
        body, list(JOINT_LINKS), pb.VELOCITY_CONTROL, targetVelocities=[0.0] * len(JOINT_LINKS),
        forces=list(params.joint_friction_nm), physicsClientId=c,
    )


class QuadrupedBuilder:
    """Builds and removes quadruped bodies in one PyBullet client (one per world)."""

    def __init__(self, client: int, settings: PybulletQuadrupedSettings) -> None:
        self.client = client
        self.settings = settings
        self._shapes: dict[GeometryKey, tuple[int, int, int, int]] = {}
        #: Bodies removed since this world was created (each leaves garbage in PyBullet).
        self.removed = 0
        # Without visual shapes PyBullet tessellates the collision shapes into one at every body
        # creation; nothing renders PyBullet here.
        self._visual = pb.createVisualShape(pb.GEOM_BOX, halfExtents=[1e-3] * 3, physicsClientId=client)

    def build(self, params: QuadrupedParams) -> int:
        """A new robot, trunk origin at the world origin, joints at zero."""
        c, s = self.client, self.settings
        trunk_shape, thigh_shape, calf_shape, foot_shape = self._shape(params)
        masses = params.link_masses_kg
        positions, coms, parents, shapes, link_masses, axes, types = [], [], [], [], [], [], []
        for k, leg in enumerate(LEG_NAMES):
            fx, sy = leg_signs(leg)
            first = len(positions) + 1  # createMultiBody's parent index of this leg's hip (0 = base)
            positions += [
                params.hip_position_m(leg).tolist(),
                [0.0, sy * params.thigh_offset_y_m, 0.0],
                [0.0, 0.0, -params.thigh_length_m],
                [0.0, 0.0, -params.calf_length_m],
            ]
            coms += [
                _mirror(params.hip_com_m, fx, sy, True),
                _mirror(params.thigh_com_m, fx, sy, False),
                _mirror(params.calf_com_m, fx, sy, False),
                [0.0, 0.0, 0.0],
            ]
            parents += [0, first, first + 1, first + 2]
            shapes += [-1, thigh_shape, calf_shape, foot_shape]
            calf_mass = masses[3 * k + 2] - s.foot_link_mass_kg
            link_masses += [masses[3 * k], masses[3 * k + 1], calf_mass, s.foot_link_mass_kg]
            axes += [_JOINT_AXES["hip"], _JOINT_AXES["thigh"], _JOINT_AXES["calf"], (0.0, 0.0, 1.0)]
            types += [pb.JOINT_REVOLUTE] * 3 + [pb.JOINT_FIXED]
        n = len(positions)
        body = pb.createMultiBody(
            baseMass=params.trunk_mass_kg,
            baseCollisionShapeIndex=trunk_shape,
            baseVisualShapeIndex=self._visual,
            basePosition=[0.0, 0.0, 0.0],
            baseInertialFramePosition=list(params.trunk_com_m),
            linkMasses=[float(m) for m in link_masses],
            linkCollisionShapeIndices=shapes,
            linkVisualShapeIndices=[-1] * n,
            linkPositions=positions,
            linkOrientations=[_IDENTITY_XYZW] * n,
            linkInertialFramePositions=coms,
            linkInertialFrameOrientations=[_IDENTITY_XYZW] * n,
            linkParentIndices=parents,
            linkJointTypes=types,
            linkJointAxis=axes,
            physicsClientId=c,
        )
        if body < 0:
            raise RuntimeError(f"PyBullet could not create the quadruped '{params.name}'")
        ranges = params.joint_range_rad
        for link in range(BASE_LINK, n):
            pb.changeDynamics(
                body, link, linearDamping=0.0, angularDamping=0.0, jointDamping=0.0, restitution=0.0,
                rollingFriction=0.0, spinningFriction=0.0,
                maxJointVelocity=s.max_joint_velocity_rad_s,
                activationState=pb.ACTIVATION_STATE_DISABLE_SLEEPING, physicsClientId=c,
            )
            pb.setCollisionFilterGroupMask(body, link, VEHICLE_COLLISION_GROUP, GROUND_COLLISION_GROUP,
                                           physicsClientId=c)
        for k, link in enumerate(JOINT_LINKS):
            pb.changeDynamics(
                body, link, jointLowerLimit=float(ranges[k, 0]), jointUpperLimit=float(ranges[k, 1]),
                physicsClientId=c,
            )
        pb.changeDynamics(body, BASE_LINK, localInertiaDiagonal=list(params.trunk_inertia_kg_m2),
                          physicsClientId=c)
        # the foot: the calf's small share of mass, as a solid sphere
        foot_inertia = 0.4 * s.foot_link_mass_kg * params.foot_radius_m**2
        for link in FOOT_LINKS:
            pb.changeDynamics(body, link, localInertiaDiagonal=[foot_inertia] * 3, physicsClientId=c)
        apply_params(c, body, params, s)
        return body

    def remove(self, body: int) -> None:
        pb.removeBody(body, physicsClientId=self.client)
        self.removed += 1

    def _shape(self, params: QuadrupedParams) -> tuple[int, int, int, int]:
        key = geometry_key(params)
        if key not in self._shapes:
            c = self.client
            thigh_len = params.thigh_length_m
            calf_len = params.calf_length_m - params.foot_radius_m
            shapes = (
                pb.createCollisionShape(pb.GEOM_BOX, halfExtents=list(params.trunk_half_extents_m),
                                        physicsClientId=c),
                # PyBullet's capsule lies along z, centred, `height` between its end-cap centres
                pb.createCollisionShape(
                    pb.GEOM_CAPSULE, radius=LEG_GEOM_RADIUS_M, height=thigh_len,
                    collisionFramePosition=[0.0, 0.0, -0.5 * thigh_len], physicsClientId=c,
                ),
                pb.createCollisionShape(
                    pb.GEOM_CAPSULE, radius=CALF_GEOM_RADIUS_M, height=calf_len,
                    collisionFramePosition=[0.0, 0.0, -0.5 * calf_len], physicsClientId=c,
                ),
                pb.createCollisionShape(pb.GEOM_SPHERE, radius=params.foot_radius_m, physicsClientId=c),
            )
            if min(shapes) < 0:
                raise RuntimeError(
                    f"PyBullet could not create the collision shapes of quadruped '{params.name}'"
                )
            self._shapes[key] = shapes
        return self._shapes[key]

