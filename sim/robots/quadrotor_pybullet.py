"""PyBullet model of a quadrotor, built through PyBullet's API from a QuadrotorParams.

The same vehicle as sim/robots/quadrotor_mujoco.py: one free base whose
centre of mass is at the body origin (the rotor plane), with the explicit
mass and diagonal inertia of the parameter set, and collision geometry of a
central box plus one thin disc per rotor at params.rotor_positions_m. The
rotors have no bodies: the engine applies their thrust and reaction torque
(sim.robots.rotor_dynamics) as external forces.

PyBullet's defaults that would make it differ from MuJoCo are switched off
here, in one place: linear/angular damping (0.04 by default) is set to 0,
sleeping is disabled (a hovering vehicle is slow and would otherwise be put
to sleep), the base velocity clamp (100 by default) is lifted, and friction
is 1 as in MuJoCo.

Collision shapes cannot be resized in PyBullet, so a parameter set with other
geometry needs a new body (geometry_key tells when); mass and inertia are
changed in place. PyBullet never frees a collision shape once a body used it,
and keeps ~3 kB per removed body, so the builder shares one shape among
equal geometries and counts removals: the engine starts a fresh world when
they pile up.
"""

from __future__ import annotations

import pybullet as pb

from sim.robots.quadrotor import QuadrotorParams
from sim.robots.quadrotor_mujoco import ROTOR_DISC_HALF_HEIGHT_M

#: Friction of MuJoCo's default geom (sliding coefficient), used on both sides of a contact.
LATERAL_FRICTION = 1.0
#: PyBullet clamps a multibody's base velocities to 100 (m/s and rad/s, per component) by
#: default; a tumbling Crazyflie exceeds 100 rad/s. MuJoCo has no such clamp.
MAX_BASE_VELOCITY = 1.0e4
#: Collision filtering when several vehicles share one world: a vehicle collides with
#: the ground only, never with another environment's vehicle (Bullet tests group & mask
#: both ways).
GROUND_COLLISION_GROUP, VEHICLE_COLLISION_GROUP = 1, 2

GeometryKey = tuple[float, ...]


def geometry_key(params: QuadrotorParams) -> GeometryKey:
    """Everything the collision shape depends on; equal keys can share one shape."""
    return (
        *params.body_half_extents_m,
        params.rotor_radius_m,
        *params.rotor_positions_m.ravel().tolist(),
    )


def create_ground(client: int) -> int:
    """An infinite static plane z = 0 (the world's ground); returns its body id."""
    shape = pb.createCollisionShape(pb.GEOM_PLANE, physicsClientId=client)
    ground = pb.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=shape, physicsClientId=client)
    pb.changeDynamics(ground, -1, lateralFriction=LATERAL_FRICTION, physicsClientId=client)
    pb.setCollisionFilterGroupMask(
        ground, -1, GROUND_COLLISION_GROUP, VEHICLE_COLLISION_GROUP, physicsClientId=client
    )
    return ground


def apply_params(client: int, body: int, params: QuadrotorParams) -> None:
    """Write mass and inertia into an existing body (its geometry must already match).

    createMultiBody derives the inertia from the collision shape; the
    parameter set's explicit inertia replaces it here.
    """
    pb.changeDynamics(
        body,
        -1,
        mass=params.mass_kg,
        localInertiaDiagonal=list(params.inertia_kg_m2),
        physicsClientId=client,
    )


class QuadrotorBuilder:
    """Builds and removes quadrotor bodies in one PyBullet client (one per world)."""

    def __init__(self, client: int) -> None:
        self.client = client
        self._shapes: dict[GeometryKey, int] = {}
        #: Bodies removed since this world was created (each leaves garbage in PyBullet).
        self.removed = 0
        # Without a visual shape PyBullet tessellates the collision shapes into one on every
        # body creation (~1 ms per vehicle, ~10x the rest); nothing renders PyBullet here.
        self._visual = pb.createVisualShape(pb.GEOM_BOX, halfExtents=[1e-3] * 3, physicsClientId=client)

    def build(self, params: QuadrotorParams) -> int:
        """A new vehicle at the origin; it touches the ground but no other vehicle."""
        c = self.client
        body = pb.createMultiBody(
            baseMass=params.mass_kg,
            baseCollisionShapeIndex=self._shape(params),
            baseVisualShapeIndex=self._visual,
            baseInertialFramePosition=[0.0, 0.0, 0.0],  # centre of mass at the body origin
            physicsClientId=c,
        )
        pb.changeDynamics(
            body,
            -1,
            linearDamping=0.0,
            angularDamping=0.0,
            lateralFriction=LATERAL_FRICTION,
            activationState=pb.ACTIVATION_STATE_DISABLE_SLEEPING,
            maxJointVelocity=MAX_BASE_VELOCITY,
            physicsClientId=c,
        )
        pb.setCollisionFilterGroupMask(
            body, -1, VEHICLE_COLLISION_GROUP, GROUND_COLLISION_GROUP, physicsClientId=c
        )
        apply_params(c, body, params)
        return body

    def remove(self, body: int) -> None:
        pb.removeBody(body, physicsClientId=self.client)
        self.removed += 1

    def _shape(self, params: QuadrotorParams) -> int:
        key = geometry_key(params)
        if key not in self._shapes:
            m = params.num_motors
            shape = pb.createCollisionShapeArray(
                shapeTypes=[pb.GEOM_BOX] + [pb.GEOM_CYLINDER] * m,
                halfExtents=[list(params.body_half_extents_m)] + [[0.0, 0.0, 0.0]] * m,
                radii=[0.0] + [params.rotor_radius_m] * m,
                lengths=[0.0] + [2.0 * ROTOR_DISC_HALF_HEIGHT_M] * m,  # PyBullet takes the full length
                collisionFramePositions=[[0.0, 0.0, 0.0]] + params.rotor_positions_m.tolist(),
                physicsClientId=self.client,
            )
            if shape < 0:
                raise RuntimeError(
                    f"PyBullet could not create the collision shape of quadrotor '{params.name}'"
                )
            self._shapes[key] = shape
        return self._shapes[key]
