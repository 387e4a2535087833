"""Batched PyBullet engine for quadrotors: the second, independent physics engine.

Same interface, vehicle and rotor model as the MuJoCo engine: each
environment flies a vehicle built from its own QuadrotorParams
(sim/robots/quadrotor_pybullet.py), and the motor lag and thrust come from
the shared RotorBank (sim/robots/rotor_dynamics.py), so only the rigid-body
integrator and the contact model differ between the engines. PyBullet runs
with its defaults (multibody base, semi-implicit Euler, sequential-impulse
contacts) at physics_dt_s, one stepSimulation per physics substep.

Rotor forces: each rotor's thrust acts along body z at its hub
(params.rotor_positions_m), and each rotor adds its reaction yaw torque
−spin·(km/kf)·thrust. On a rigid body that is exactly one force through the
centre of mass plus the sum of the moments r_i × f_i; the engine applies
that net wrench in the body frame (PyBullet rotates it with the attitude of
the current substep), and the disturbance in the world frame. PyBullet
clears external forces after every stepSimulation, so they are re-applied
every substep.

Batching: all environments are bodies of ONE PyBullet DIRECT client. A
vehicle collides with the ground but never with another environment's
vehicle (collision filter groups), and environment i lives at its own
lattice offset in x/y (ENV_SPACING_M apart) so that vehicles flying the same
task do not overlap in the broadphase; positions are reported relative to
that offset. Measured on the 2-core build machine (crazyflie_2_1 hovering,
2 physics substeps per control step, env-steps/s of CPU time in the best
timing windows, since other jobs were running; throughput() below):

    layout                                     1 env   64 envs  256 envs  1024 envs  memory
    one client, filtered + spaced (chosen)     11 k    136 k    158 k     140 k      58 MB at 1024
    one client, filtered, not spaced           11 k    120 k    145 k     105 k      same
    N DIRECT clients, one body each            11 k     75 k     57 k       -        35 MB per env
    2 worker processes (wall clock)             6 k     85-135 k 130-220 k  -        2 × the chosen

N separate clients would isolate environments completely, but every PyBullet
client allocates ~35 MB (9 GB at 256 environments: no training batch fits)
and stepping hundreds of worlds thrashes the cache. Worker processes pay a
pipe round trip per control step (half the speed at 1 env) and win only
when both cores are idle, which they are not while training runs. For
comparison, the MuJoCo engine (2 threads, RK4) did 21 k / 52 k / 56 k
env-steps/s at 1 / 64 / 256 environments in the same wall-clock run where
this engine did 11 k / 127 k / 132 k.

Quaternions: PyBullet uses (x, y, z, w); Tether uses (w, x, y, z). The two
functions _to_pybullet_quat / _from_pybullet_quat below are the only place
that converts. PyBullet's base angular velocity is in the world frame;
RobotState's is in the body frame (converted at reset and on every read).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pybullet as pb

from deploy.robot_state import RobotState
from deploy.rotations import IDENTITY_QUAT_WXYZ, rotate_body_to_world, rotate_world_to_body
from sim.engines.base import Engine, substeps_per_control
from sim.robots.quadrotor import GRAVITY_M_S2, QuadrotorParams
from sim.robots.quadrotor_pybullet import QuadrotorBuilder, apply_params, create_ground, geometry_key
from sim.robots.rotor_dynamics import RotorBank

#: Distance between neighbouring environments' origins (m). Larger than any flight the
#: tasks allow (they end 5 m from the target); closer vehicles still never collide.
ENV_SPACING_M = 32.0
#: Vehicles rebuilt (new geometry at reset) before the world is rebuilt to free PyBullet's
#: leftovers (~12 kB each); rebuilding costs ~0.1 ms per environment.
COMPACT_AFTER_REMOVALS = 4096
_BASE = -1  # PyBullet's link index of a body's base
_ORIGIN = [0.0, 0.0, 0.0]


def _to_pybullet_quat(q_wxyz: np.ndarray) -> np.ndarray:
    """(..., 4) Tether (w, x, y, z) → PyBullet (x, y, z, w)."""
    return np.asarray(q_wxyz, dtype=np.float64)[..., [1, 2, 3, 0]]


def _from_pybullet_quat(q_xyzw: np.ndarray) -> np.ndarray:
    """(..., 4) PyBullet (x, y, z, w) → Tether (w, x, y, z)."""
    return np.asarray(q_xyzw, dtype=np.float64)[..., [3, 0, 1, 2]]


def env_offsets_m(num_envs: int, spacing_m: float = ENV_SPACING_M) -> np.ndarray:
    """(N, 3) world offsets of the environments: a square lattice in x/y, z = 0."""
    cols = int(np.ceil(np.sqrt(num_envs)))
    i = np.arange(num_envs)
    return np.stack([(i % cols) * spacing_m, (i // cols) * spacing_m, np.zeros(num_envs)], axis=-1)


class PybulletQuadrotorEngine(Engine):
    """N quadrotors as N bodies of one PyBullet world (see the module docstring)."""

    def __init__(
        self,
        params: Sequence[QuadrotorParams],
        control_dt_s: float,
        physics_dt_s: float,
        nthread: int | None = None,
    ) -> None:
        """`nthread` is accepted for interface parity with the MuJoCo engine and ignored:
        PyBullet steps on the calling thread."""
        if len(params) == 0:
            raise ValueError("need at least one environment (one QuadrotorParams per environment)")
        self.num_envs = n = len(params)
        self.control_dt_s = control_dt_s
        self.physics_dt_s = physics_dt_s
        self.num_substeps = substeps_per_control(control_dt_s, physics_dt_s)
        self.actuator_names = params[0].motor_names
        self.params = list(params)
        self.rotors = RotorBank(params)
        # Per rotor, the body torque per newton of its thrust: (y_i, −x_i, −spin_i·km/kf).
        self._rotor_moment_arm = np.zeros((n, params[0].num_motors, 3))
        self._set_rotor_geometry(np.arange(n), params)
        self._offset = env_offsets_m(n)
        self._client = pb.connect(pb.DIRECT)
        if self._client < 0:
            raise RuntimeError("PyBullet could not open a DIRECT physics client")
        try:
            self._build_world()
            for i in range(n):
                self._place(
                    i, self._offset[i] + [0.0, 0.0, 1.0], IDENTITY_QUAT_WXYZ, np.zeros(3), np.zeros(3)
                )
        except BaseException:
            self.close()
            raise
        self._pos = np.zeros((n, 3))
        self._quat = np.tile(IDENTITY_QUAT_WXYZ, (n, 1))
        self._lin_vel = np.zeros((n, 3))
        self._ang_vel_body = np.zeros((n, 3))
        self._substep_count = np.zeros(n, dtype=np.int64)
        self._force_world = np.zeros((n, 3))
        self._torque_world = np.zeros((n, 3))
        self._contact = np.zeros(n, dtype=bool)
        self._read_state()

    # -- Engine interface -------------------------------------------------

    def reset(
        self,
        env_ids: np.ndarray,
        params: Sequence[QuadrotorParams],
        initial: RobotState,
        actuator_command: np.ndarray | None = None,
    ) -> None:
        env_ids = np.asarray(env_ids, dtype=np.int64)
        if len(params) != len(env_ids) or initial.num_envs != len(env_ids):
            raise ValueError(
                f"reset of {len(env_ids)} environments got {len(params)} parameter sets and "
                f"{initial.num_envs} initial states; give one of each per environment"
            )
        for i, p in zip(env_ids, params, strict=True):
            self.params[i] = p
            if geometry_key(p) != self._geometry[i]:
                self._rebuild_vehicle(int(i))
            else:
                apply_params(self._client, self._bodies[i], p)
        if self._builder.removed >= max(COMPACT_AFTER_REMOVALS, self.num_envs):
            self._compact()
        self.rotors.set_params(env_ids, params)
        self.rotors.reset(env_ids, 0.0 if actuator_command is None else actuator_command)
        self._set_rotor_geometry(env_ids, params)

        q = initial.base_quat_wxyz / np.linalg.norm(initial.base_quat_wxyz, axis=1, keepdims=True)
        omega_world = rotate_body_to_world(q, initial.base_ang_vel_rad_s)
        pos_world = initial.base_pos_m + self._offset[env_ids]
        for k, i in enumerate(env_ids):
            self._place(int(i), pos_world[k], q[k], initial.base_lin_vel_m_s[k], omega_world[k])
        self._force_world[env_ids] = 0.0
        self._torque_world[env_ids] = 0.0
        self._contact[env_ids] = False
        self._substep_count[env_ids] = 0
        self._read_state()

    def step(self, actuator_command: np.ndarray) -> None:
        cmd = np.asarray(actuator_command, dtype=np.float64)
        if cmd.shape != (self.num_envs, len(self.actuator_names)):
            raise ValueError(
                f"expected motor commands of shape {(self.num_envs, len(self.actuator_names))}, "
                f"found {cmd.shape}"
            )
        thrust = self.rotors.advance(cmd, self.num_substeps, self.physics_dt_s)  # (N, S, M)
        force_body = np.zeros(thrust.shape[:2] + (3,))
        force_body[:, :, 2] = thrust.sum(axis=2)
        # Σ r_i × (0, 0, T_i) = Σ (y_i T_i, −x_i T_i, 0), plus the rotors' reaction yaw torque.
        torque_body = np.einsum("nsm,nmk->nsk", thrust, self._rotor_moment_arm)
        # (S, N, 3) as Python lists: an applyExternalForce call takes about 0.5 µs with a list
        # argument and 1.8 µs with a numpy row (measured on 2 cores, PyBullet 3.2).
        forces, torques = force_body.swapaxes(0, 1).tolist(), torque_body.swapaxes(0, 1).tolist()
        disturbed = np.flatnonzero(
            np.any(self._force_world != 0, axis=1) | np.any(self._torque_world != 0, axis=1)
        )
        dist = [
            (self._bodies[i], self._force_world[i].tolist(), self._torque_world[i].tolist())
            for i in disturbed
        ]
        c, link, world, origin = self._client, pb.LINK_FRAME, pb.WORLD_FRAME, _ORIGIN
        contact = np.zeros(self.num_envs, dtype=bool)
        for s in range(self.num_substeps):
            for b, f, t in zip(self._bodies, forces[s], torques[s], strict=True):
                pb.applyExternalForce(b, _BASE, f, origin, link, physicsClientId=c)
                pb.applyExternalTorque(b, _BASE, t, link, physicsClientId=c)
            for b, f, t in dist:
                # A world-frame force acts at the given world point: pass the centre of mass.
                com = pb.getBasePositionAndOrientation(b, physicsClientId=c)[0]
                pb.applyExternalForce(b, _BASE, f, com, world, physicsClientId=c)
                pb.applyExternalTorque(b, _BASE, t, world, physicsClientId=c)
            pb.stepSimulation(physicsClientId=c)
            for point in pb.getContactPoints(bodyA=self._ground, physicsClientId=c):
                # PyBullet also keeps manifold points slightly apart (positive distance, within
                # its contact-processing threshold): only penetration counts, as in MuJoCo.
                if point[8] <= 0.0:
                    vehicle = point[2] if point[1] == self._ground else point[1]
                    contact[self._env_of_body[vehicle]] = True
        self._contact = contact
        self._substep_count += self.num_substeps
        self._read_state()

    def state(self) -> RobotState:
        n = self.num_envs
        return RobotState(
            base_pos_m=self._pos.copy(),
            base_quat_wxyz=self._quat.copy(),
            base_lin_vel_m_s=self._lin_vel.copy(),
            base_ang_vel_rad_s=self._ang_vel_body.copy(),
            last_action=np.zeros((n, 0)),
            command=np.zeros((n, 0)),
            time_s=self._substep_count * self.physics_dt_s,
        )

    def ground_contact(self) -> np.ndarray:
        return self._contact.copy()

    def set_external_wrench(self, force_world_n: np.ndarray, torque_world_nm: np.ndarray) -> None:
        self._force_world[:] = force_world_n
        self._torque_world[:] = torque_world_nm

    @property
    def rotor_speeds_rad_s(self) -> np.ndarray:
        return self.rotors.speed_rad_s.copy()

    def close(self) -> None:
        if self._client >= 0 and pb.isConnected(physicsClientId=self._client):
            pb.disconnect(physicsClientId=self._client)
        self._client = -1

    # -- helpers ------------------------------------------------------------

    def _set_rotor_geometry(self, env_ids: np.ndarray, params: Sequence[QuadrotorParams]) -> None:
        for i, p in zip(env_ids, params, strict=True):
            r = p.rotor_positions_m
            yaw = -np.asarray(p.rotor_spin_directions) * p.torque_to_thrust_m
            self._rotor_moment_arm[i] = np.stack([r[:, 1], -r[:, 0], yaw], axis=-1)

    def _build_world(self) -> None:
        """Gravity, time step, ground and one vehicle per environment (at the origin)."""
        c = self._client
        pb.setGravity(0.0, 0.0, -GRAVITY_M_S2, physicsClientId=c)
        pb.setTimeStep(self.physics_dt_s, physicsClientId=c)
        self._ground = create_ground(c)
        self._builder = QuadrotorBuilder(c)
        self._bodies = [self._builder.build(p) for p in self.params]
        self._geometry = [geometry_key(p) for p in self.params]
        self._env_of_body = {b: i for i, b in enumerate(self._bodies)}

    def _rebuild_vehicle(self, i: int) -> None:
        """New collision geometry (PyBullet cannot resize shapes): replace the body."""
        del self._env_of_body[self._bodies[i]]
        self._builder.remove(self._bodies[i])
        self._bodies[i] = self._builder.build(self.params[i])
        self._geometry[i] = geometry_key(self.params[i])
        self._env_of_body[self._bodies[i]] = i

    def _compact(self) -> None:
        """Free what PyBullet keeps of removed bodies and unused shapes: a fresh world, every
        vehicle re-created in its current pose and velocity (the angular velocity rounded once:
        PyBullet stores it in the body frame and reports it in the world frame)."""
        c = self._client
        saved = [
            (
                *pb.getBasePositionAndOrientation(b, physicsClientId=c),
                *pb.getBaseVelocity(b, physicsClientId=c),
            )
            for b in self._bodies
        ]
        pb.resetSimulation(physicsClientId=c)
        self._build_world()
        for b, (pos, orn, lin, ang) in zip(self._bodies, saved, strict=True):
            pb.resetBasePositionAndOrientation(b, pos, orn, physicsClientId=c)
            pb.resetBaseVelocity(b, lin, ang, physicsClientId=c)

    def _place(
        self,
        i: int,
        pos_world: np.ndarray,
        q_wxyz: np.ndarray,
        vel_world: np.ndarray,
        omega_world: np.ndarray,
    ) -> None:
        """Set one body's pose and velocity (PyBullet takes the angular velocity in the world frame)."""
        b, c = self._bodies[i], self._client
        pb.resetBasePositionAndOrientation(b, pos_world, _to_pybullet_quat(q_wxyz), physicsClientId=c)
        pb.resetBaseVelocity(b, vel_world, omega_world, physicsClientId=c)

    def _read_state(self) -> None:
        c = self._client
        poses = [pb.getBasePositionAndOrientation(b, physicsClientId=c) for b in self._bodies]
        vels = [pb.getBaseVelocity(b, physicsClientId=c) for b in self._bodies]
        self._pos = np.array([p for p, _ in poses]) - self._offset
        self._quat = _from_pybullet_quat(np.array([q for _, q in poses]))
        self._lin_vel = np.array([v for v, _ in vels])
        self._ang_vel_body = rotate_world_to_body(self._quat, np.array([w for _, w in vels]))


def throughput(
    params: QuadrotorParams, num_envs: int, control_dt_s: float, physics_dt_s: float, seconds: float = 2.0
) -> float:
    """Env-steps per CPU-second of this engine for `num_envs` vehicles holding the hover command.

    CPU time of this process, not wall time, so that other jobs on a shared
    machine do not count against the engine.
    """
    n = num_envs
    initial = RobotState(
        base_pos_m=np.tile([0.0, 0.0, 2.0], (n, 1)),
        base_quat_wxyz=np.tile(IDENTITY_QUAT_WXYZ, (n, 1)),
        base_lin_vel_m_s=np.zeros((n, 3)),
        base_ang_vel_rad_s=np.zeros((n, 3)),
        last_action=np.zeros((n, 0)),
        command=np.zeros((n, 0)),
    )
    with PybulletQuadrotorEngine([params] * n, control_dt_s, physics_dt_s) as eng:
        eng.reset(np.arange(n), [params] * n, initial, params.hover_command)
        cmd = np.full((n, params.num_motors), params.hover_command)
        eng.step(cmd)
        steps, t0 = 0, time.process_time()
        while (elapsed := time.process_time() - t0) < seconds or steps < 3:
            eng.step(cmd)
            eng.state()
            steps += 1
        return n * steps / elapsed
