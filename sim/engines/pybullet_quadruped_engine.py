"""Batched PyBullet engine for quadrupeds: the second, independent physics engine of quadruped-walk.

The same interface as MujocoQuadrupedEngine (sim/engines/mujoco_quadruped_engine.py),
so the walk task, its evaluation and `tether bench sim2sim` run on either:
step() takes joint position targets (rad), one column per name in
`actuator_names` (JOINT_NAMES order), and every environment is a robot built
from its own QuadrupedParams (sim/robots/quadruped_pybullet.py).

The PD loop is the robot profile's, computed here at the physics rate from
the joint state at the start of each substep and applied with
TORQUE_CONTROL: τ = clip(s (Kp (q* − q) − Kd q̇), ±τmax), with the same
gains, motor strength and torque limits as MuJoCo's position actuators;
the joints' passive viscous damping −d q̇ is added to it (MuJoCo applies
that inside its integrator), and their Coulomb friction is PyBullet's
velocity motor (see the model). Actuation latency is applied exactly as in
MuJoCo: for the first round(delay / physics_dt) substeps of a control
period the previous target is still held.

What differs between the engines is what makes them two engines: Bullet's
semi-implicit Euler with the PD torque explicit per substep (MuJoCo's
implicitfast integrates the actuator's damping implicitly), its
sequential-impulse hard contacts (MuJoCo's are soft, solref 0.02 s), its
friction model, and the armature approximation (quadruped_pybullet.yaml).

Batching: all environments are bodies of ONE PyBullet DIRECT client (as the
quadrotor engine, sim/engines/pybullet_engine.py, which measured why); a
robot collides with the ground only, and environment i lives at its own
lattice offset in x/y. Positions are reported relative to that offset, and
of the trunk origin (PyBullet reports the base's centre of mass). Linear
velocity is the trunk origin's, world frame; angular velocity body frame,
as RobotState wants.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pybullet as pb

from deploy.robot_state import RobotState
from deploy.rotations import IDENTITY_QUAT_WXYZ, rotate_body_to_world, rotate_world_to_body
from sim.engines.base import Engine, substeps_per_control
from sim.engines.pybullet_engine import (
    COMPACT_AFTER_REMOVALS,
    ENV_SPACING_M,
    _from_pybullet_quat,
    _to_pybullet_quat,
    env_offsets_m,
)
from sim.robots.quadrotor_pybullet import create_ground
from sim.robots.quadruped import GRAVITY_M_S2, JOINT_NAMES, LEG_NAMES, QuadrupedParams
from sim.robots.quadruped_pybullet import (
    BASE_LINK,
    CALF_LINKS,
    FOOT_LINKS,
    JOINT_LINKS,
    THIGH_LINKS,
    PybulletQuadrupedSettings,
    QuadrupedBuilder,
    apply_params,
    geometry_key,
)

_NJ = len(JOINT_NAMES)


class PybulletQuadrupedEngine(Engine):
    """N quadrupeds as N bodies of one PyBullet world (see the module docstring)."""

    def __init__(
        self,
        params: Sequence[QuadrupedParams],
        control_dt_s: float,
        physics_dt_s: float,
        nthread: int | None = None,
        settings: PybulletQuadrupedSettings | None = None,
    ) -> None:
        """`nthread` is accepted for interface parity with the MuJoCo engine and ignored:
        PyBullet steps on the calling thread."""
        if len(params) == 0:
            raise ValueError("need at least one environment (one QuadrupedParams per environment)")
        self.num_envs = n = len(params)
        self.control_dt_s = control_dt_s
        self.physics_dt_s = physics_dt_s
        self.num_substeps = substeps_per_control(control_dt_s, physics_dt_s)
        self.settings = settings or PybulletQuadrupedSettings.from_yaml()
        self.actuator_names = JOINT_NAMES
        self.joint_names = JOINT_NAMES
        self.params = list(params)
        self._offset = env_offsets_m(n, ENV_SPACING_M)
        self._gains = np.zeros((n, 4, _NJ))  # per env: s·Kp, s·Kd, τmax, passive damping
        self._trunk_com_m = np.zeros((n, 3))
        self._delay_substeps = np.zeros(n, dtype=np.int64)
        self._client = pb.connect(pb.DIRECT)
        if self._client < 0:
            raise RuntimeError("PyBullet could not open a DIRECT physics client")
        try:
            self._build_world()
        except BaseException:
            self.close()
            raise
        for i, p in enumerate(params):
            self._set_params(i, p)
        self._target = np.tile(np.asarray(params[0].default_joint_pos_rad), (n, 1))
        self._q = np.zeros((n, _NJ))
        self._qd = np.zeros((n, _NJ))
        self._torque = np.zeros((n, self.num_substeps, _NJ))
        self._trunk_contact = np.zeros(n, dtype=bool)
        self._foot_contact = np.zeros((n, len(LEG_NAMES)), dtype=bool)
        self._leg_contact = np.zeros((n, 2 * len(LEG_NAMES)), dtype=bool)
        self._force_world = np.zeros((n, 3))
        self._torque_world = np.zeros((n, 3))
        self._substep_count = np.zeros(n, dtype=np.int64)
        height = params[0].standing_height_m()
        for i in range(n):
            self._place(i, self._offset[i] + [0.0, 0.0, height], IDENTITY_QUAT_WXYZ, np.zeros(3), np.zeros(3),
                        self._target[i], np.zeros(_NJ))
        self._read_state()

    # -- Engine interface -------------------------------------------------

    def reset(
        self,
        env_ids: np.ndarray,
        params: Sequence[QuadrupedParams],
        initial: RobotState,
        actuator_command: np.ndarray | None = None,
    ) -> None:
        """Place environments at `initial` (base pose/velocity and joints matched by name).

        `actuator_command` (len(env_ids), 12) is the joint target held before
        the first step (the one a delayed first action falls back to);
        default: the joints' initial positions.
        """
        env_ids = np.asarray(env_ids, dtype=np.int64)
        if len(params) != len(env_ids) or initial.num_envs != len(env_ids):
            raise ValueError(
                f"reset of {len(env_ids)} environments got {len(params)} parameter sets and "
                f"{initial.num_envs} initial states; give one of each per environment"
            )
        q, qd = self._joints_by_name(initial)
        if actuator_command is not None:
            actuator_command = self._checked_targets(actuator_command, len(env_ids))
        for i, p in zip(env_ids, params, strict=True):
            self._set_params(int(i), p)
        if self._builder.removed >= max(COMPACT_AFTER_REMOVALS, self.num_envs):
            self._compact()
        quat = initial.base_quat_wxyz / np.linalg.norm(initial.base_quat_wxyz, axis=1, keepdims=True)
        omega_world = rotate_body_to_world(quat, initial.base_ang_vel_rad_s)
        pos_world = initial.base_pos_m + self._offset[env_ids]
        for k, i in enumerate(env_ids):
            vel = initial.base_lin_vel_m_s[k]
            self._place(int(i), pos_world[k], quat[k], vel, omega_world[k], q[k], qd[k])
        self._target[env_ids] = q if actuator_command is None else actuator_command
        self._force_world[env_ids] = 0.0
        self._torque_world[env_ids] = 0.0
        self._torque[env_ids] = 0.0
        self._trunk_contact[env_ids] = False
        self._foot_contact[env_ids] = False
        self._leg_contact[env_ids] = False
        self._substep_count[env_ids] = 0
        self._read_state()

    def step(self, actuator_command: np.ndarray) -> None:
        """Advance one control period towards joint position targets (N, 12) in rad."""
        target = self._checked_targets(actuator_command, self.num_envs)
        held = np.arange(self.num_substeps)[None, :] < self._delay_substeps[:, None]  # (N, S)
        kp, kd, tau_max, damping = np.moveaxis(self._gains, 1, 0)
        c, joints, bodies = self._client, list(JOINT_LINKS), self._bodies
        trunk = np.zeros(self.num_envs, dtype=bool)
        feet = np.zeros(self._foot_contact.shape, dtype=bool)
        legs = np.zeros(self._leg_contact.shape, dtype=bool)
        disturbed = np.flatnonzero(
            np.any(self._force_world != 0, axis=1) | np.any(self._torque_world != 0, axis=1)
        )
        for s in range(self.num_substeps):
            if s > 0:
                self._read_joints()
            q_star = np.where(held[:, s, None], self._target, target)
            tau = np.clip(kp * (q_star - self._q) - kd * self._qd, -tau_max, tau_max)
            self._torque[:, s] = tau
            applied = (tau - damping * self._qd).tolist()
            for b, t in zip(bodies, applied, strict=True):
                pb.setJointMotorControlArray(b, joints, pb.TORQUE_CONTROL, forces=t, physicsClientId=c)
            for i in disturbed:
                # a world-frame force acts at the given world point: the centre of mass
                com = pb.getBasePositionAndOrientation(bodies[i], physicsClientId=c)[0]
                force, torque = self._force_world[i].tolist(), self._torque_world[i].tolist()
                pb.applyExternalForce(bodies[i], BASE_LINK, force, com, pb.WORLD_FRAME, physicsClientId=c)
                pb.applyExternalTorque(bodies[i], BASE_LINK, torque, pb.WORLD_FRAME, physicsClientId=c)
            pb.stepSimulation(physicsClientId=c)
            self._collect_contacts(trunk, feet, legs)
        self._target = target.copy()
        self._trunk_contact, self._foot_contact, self._leg_contact = trunk, feet, legs
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
            joint_names=JOINT_NAMES,
            joint_pos_rad=self._q.copy(),
            joint_vel_rad_s=self._qd.copy(),
            time_s=self._substep_count * self.physics_dt_s,
        )

    def ground_contact(self) -> np.ndarray:
        """(N,) True where the trunk touched the ground during the last step (a fall)."""
        return self._trunk_contact.copy()

    def foot_contact(self) -> np.ndarray:
        """(N, 4) True where a foot (LEG_NAMES order) touched the ground during the last step."""
        return self._foot_contact.copy()

    def leg_collisions(self) -> np.ndarray:
        """(N,) how many thighs and calves (not feet) touched the ground during the last step."""
        return self._leg_contact.sum(axis=1)

    def joint_torque_nm(self) -> np.ndarray:
        """(N, 12) joint torques of the PD loop (after clipping) at the last physics step."""
        return self._torque[:, -1].copy()

    def joint_torque_sq_mean(self) -> np.ndarray:
        """(N, 12) mean of τ² over the last control period's physics steps."""
        return np.mean(self._torque**2, axis=1)

    def set_external_wrench(self, force_world_n: np.ndarray, torque_world_nm: np.ndarray) -> None:
        self._force_world[:] = force_world_n
        self._torque_world[:] = torque_world_nm

    def kick_base(self, env_ids: np.ndarray, delta_lin_vel_world_m_s: np.ndarray) -> None:
        """Add a velocity change (len(env_ids), 3), world frame, to the trunk: a push."""
        c = self._client
        kicks = np.asarray(delta_lin_vel_world_m_s, dtype=np.float64)
        for i, dv in zip(np.asarray(env_ids, dtype=np.int64), kicks, strict=True):
            lin, ang = pb.getBaseVelocity(self._bodies[i], physicsClientId=c)
            pb.resetBaseVelocity(self._bodies[i], (np.asarray(lin) + dv).tolist(), ang, physicsClientId=c)
        self._read_state()

    def physics_state(self, env_id: int) -> np.ndarray:
        raise NotImplementedError(
            "physics_state() is the MuJoCo state used to render frames; the PyBullet engine has none. "
            "Render an episode with --engine mujoco"
        )

    @property
    def leg_names(self) -> tuple[str, ...]:
        return LEG_NAMES

    def close(self) -> None:
        if self._client >= 0 and pb.isConnected(physicsClientId=self._client):
            pb.disconnect(physicsClientId=self._client)
        self._client = -1

    # -- helpers ------------------------------------------------------------

    def _checked_targets(self, command: np.ndarray, rows: int) -> np.ndarray:
        target = np.asarray(command, dtype=np.float64)
        if target.shape != (rows, _NJ):
            raise ValueError(
                f"expected joint position targets of shape {(rows, _NJ)} (columns {list(JOINT_NAMES)}), "
                f"found {target.shape}"
            )
        bad = ~np.isfinite(target)
        if bad.any():
            env, col = np.argwhere(bad)[0]
            raise ValueError(
                f"joint position targets must be finite, found {target[env, col]} for {JOINT_NAMES[col]} of "
                f"environment {env} ({int(bad.sum())} non-finite values); clip or repair the action first"
            )
        return target

    def _joints_by_name(self, initial: RobotState) -> tuple[np.ndarray, np.ndarray]:
        names = tuple(initial.joint_names)
        missing = [n for n in JOINT_NAMES if n not in names]
        if missing:
            raise ValueError(
                f"initial state lacks joints {missing} (has {list(names)}); give every joint of "
                f"{list(JOINT_NAMES)} by name"
            )
        cols = [names.index(n) for n in JOINT_NAMES]
        qd = initial.joint_vel_rad_s
        if qd.size == 0:
            qd = np.zeros_like(initial.joint_pos_rad)
        return initial.joint_pos_rad[:, cols], qd[:, cols]

    def _set_params(self, i: int, p: QuadrupedParams) -> None:
        """The robot of environment i: rebuilt if its geometry changed, else updated in place."""
        if geometry_key(p) != self._geometry[i]:
            del self._env_of_body[self._bodies[i]]
            self._builder.remove(self._bodies[i])
            self._bodies[i] = self._builder.build(p)
            self._geometry[i] = geometry_key(p)
            self._env_of_body[self._bodies[i]] = i
        else:
            apply_params(self._client, self._bodies[i], p, self.settings)
        self.params[i] = p
        s = np.asarray(p.motor_strength)
        self._gains[i] = [
            s * np.asarray(p.kp_nm_per_rad), s * np.asarray(p.kd_nm_s_per_rad), p.torque_limits_nm,
            np.asarray(p.joint_damping_nm_s_per_rad),
        ]
        self._trunk_com_m[i] = p.trunk_com_m
        self._delay_substeps[i] = min(int(round(p.action_delay_s / self.physics_dt_s)), self.num_substeps)

    def _build_world(self) -> None:
        """Gravity, time step, solver, ground and one robot per environment."""
        c = self._client
        pb.setGravity(0.0, 0.0, -GRAVITY_M_S2, physicsClientId=c)
        pb.setPhysicsEngineParameter(
            fixedTimeStep=self.physics_dt_s, numSubSteps=0,
            numSolverIterations=self.settings.solver_iterations,
            useSplitImpulse=int(self.settings.split_impulse), physicsClientId=c,
        )
        self._ground = create_ground(c)
        self._builder = QuadrupedBuilder(c, self.settings)
        self._bodies = [self._builder.build(p) for p in self.params]
        self._geometry = [geometry_key(p) for p in self.params]
        self._env_of_body = {b: i for i, b in enumerate(self._bodies)}
        self._link_slot = self._contact_slots()

    @staticmethod
    def _contact_slots() -> dict[int, tuple[str, int]]:
        """PyBullet link index → (what it is, its index among trunk / feet / thigh+calf flags)."""
        slots: dict[int, tuple[str, int]] = {BASE_LINK: ("trunk", 0)}
        slots.update({link: ("foot", k) for k, link in enumerate(FOOT_LINKS)})
        slots.update({link: ("leg", k) for k, link in enumerate((*THIGH_LINKS, *CALF_LINKS))})
        return slots

    def _collect_contacts(self, trunk: np.ndarray, feet: np.ndarray, legs: np.ndarray) -> None:
        tol = self.settings.contact_distance_m
        for point in pb.getContactPoints(bodyA=self._ground, physicsClientId=self._client):
            if point[8] > tol:
                continue
            body, link = (point[2], point[4]) if point[1] == self._ground else (point[1], point[3])
            env = self._env_of_body.get(body)
            slot = self._link_slot.get(link)
            if env is None or slot is None:
                continue
            kind, k = slot
            if kind == "trunk":
                trunk[env] = True
            elif kind == "foot":
                feet[env, k] = True
            else:
                legs[env, k] = True

    def _compact(self) -> None:
        """Free what PyBullet keeps of removed bodies: a fresh world, every robot re-created in its
        current pose, joint state and velocity."""
        self._read_state()
        saved = (self._pos.copy(), self._quat.copy(), self._lin_vel.copy(),
                 rotate_body_to_world(self._quat, self._ang_vel_body), self._q.copy(), self._qd.copy())
        pb.resetSimulation(physicsClientId=self._client)
        self._build_world()
        for i in range(self.num_envs):
            self._set_params(i, self.params[i])
            self._place(i, saved[0][i] + self._offset[i], *(x[i] for x in saved[1:]))

    def _place(
        self,
        i: int,
        origin_world_m: np.ndarray,
        q_wxyz: np.ndarray,
        vel_world_m_s: np.ndarray,
        omega_world_rad_s: np.ndarray,
        joint_pos_rad: np.ndarray,
        joint_vel_rad_s: np.ndarray,
    ) -> None:
        """Set one robot's trunk-origin pose and velocity (world frame) and its joints."""
        b, c = self._bodies[i], self._client
        r = rotate_body_to_world(q_wxyz, self._trunk_com_m[i])  # trunk origin → centre of mass
        com = np.asarray(origin_world_m) + r
        v_com = np.asarray(vel_world_m_s) + np.cross(omega_world_rad_s, r)
        quat_xyzw = _to_pybullet_quat(q_wxyz).tolist()
        pb.resetBasePositionAndOrientation(b, com.tolist(), quat_xyzw, physicsClientId=c)
        pb.resetBaseVelocity(b, v_com.tolist(), np.asarray(omega_world_rad_s).tolist(), physicsClientId=c)
        for link, q, qd in zip(JOINT_LINKS, joint_pos_rad, joint_vel_rad_s, strict=True):
            pb.resetJointState(b, link, float(q), float(qd), physicsClientId=c)

    def _read_joints(self) -> None:
        c, joints = self._client, list(JOINT_LINKS)
        states = [pb.getJointStates(b, joints, physicsClientId=c) for b in self._bodies]
        self._q = np.array([[j[0] for j in s] for s in states])
        self._qd = np.array([[j[1] for j in s] for s in states])

    def _read_state(self) -> None:
        c = self._client
        poses = [pb.getBasePositionAndOrientation(b, physicsClientId=c) for b in self._bodies]
        vels = [pb.getBaseVelocity(b, physicsClientId=c) for b in self._bodies]
        quat = _from_pybullet_quat(np.array([q for _, q in poses]))
        omega_world = np.array([w for _, w in vels])
        r = rotate_body_to_world(quat, self._trunk_com_m)  # trunk origin → centre of mass, world frame
        self._pos = np.array([p for p, _ in poses]) - r - self._offset
        self._quat = quat
        self._lin_vel = np.array([v for v, _ in vels]) - np.cross(omega_world, r)
        self._ang_vel_body = rotate_world_to_body(quat, omega_world)
        self._read_joints()
