"""Batched MuJoCo engine for quadrupeds: N robots, one rollout call per control step.

Same approach as the quadrotor engine (sim/engines/mujoco_engine.py): every
environment has its own MjModel (the nominal model with its sampled
parameters written in), and one control step is a single mujoco.rollout call
over all environments and all physics substeps, run by a persistent thread
pool.

Actuators are the joints: step() takes joint position targets (rad), one
column per name in `actuator_names` (== `joint_names`, JOINT_NAMES order).
The PD loop itself runs inside MuJoCo at the physics rate (see
sim/robots/quadruped_mujoco.py). Actuation latency (QuadrupedParams.action_delay_s)
is applied per environment at the physics step: for the first
round(delay / physics_dt) substeps of a control period the previous target
is still held, so 0–20 ms of delay under a 5 ms physics step is exact.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import mujoco
import mujoco.rollout
import numpy as np

from deploy.robot_state import RobotState
from sim.engines.base import Engine, substeps_per_control
from sim.engines.mujoco_engine import _state_offset, default_thread_count
from sim.robots.quadruped import JOINT_NAMES, LEG_NAMES, QuadrupedParams
from sim.robots.quadruped_mujoco import (
    CALF_CONTACT_SENSORS,
    CONTACT_SENSORS,
    FOOT_CONTACT_SENSORS,
    THIGH_CONTACT_SENSORS,
    TORQUE_SENSORS,
    TRUNK_BODY,
    TRUNK_CONTACT_SENSOR,
    apply_params,
    build_model,
)

_STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS
_CONTROL_SPEC = mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_XFRC_APPLIED


class MujocoQuadrupedEngine(Engine):
    def __init__(
        self,
        params: Sequence[QuadrupedParams],
        control_dt_s: float,
        physics_dt_s: float,
        nthread: int | None = None,
    ) -> None:
        if len(params) == 0:
            raise ValueError("need at least one environment (one QuadrupedParams per environment)")
        self.num_envs = len(params)
        self.control_dt_s = control_dt_s
        self.physics_dt_s = physics_dt_s
        self.num_substeps = substeps_per_control(control_dt_s, physics_dt_s)
        self._nominal = build_model(params[0], physics_dt_s)
        m = self._nominal
        self.actuator_names = tuple(m.actuator(i).name for i in range(m.nu))
        self.joint_names = JOINT_NAMES
        if self.actuator_names != JOINT_NAMES:
            raise RuntimeError(f"model actuators {self.actuator_names} are not the joints {JOINT_NAMES}")
        self.models = [copy.deepcopy(m) for _ in range(self.num_envs)]
        self.params = list(params)
        self._delay_substeps = np.zeros(self.num_envs, dtype=np.int64)
        self.nthread = min(nthread or default_thread_count(), self.num_envs)
        self._datas = [mujoco.MjData(m) for _ in range(self.nthread)]
        self._const_data = mujoco.MjData(m)
        for i, p in enumerate(params):
            self._set_params(i, p)
        self._pool = mujoco.rollout.Rollout(nthread=self.nthread) if self.nthread > 1 else None

        self._nstate = mujoco.mj_stateSize(m, _STATE_SPEC)
        self._qpos = _state_offset(m, mujoco.mjtState.mjSTATE_QPOS)
        self._qvel = _state_offset(m, mujoco.mjtState.mjSTATE_QVEL)
        self._time = _state_offset(m, mujoco.mjtState.mjSTATE_TIME)
        self._trunk = m.body(TRUNK_BODY).id
        # qpos/qvel addresses of the joints, in JOINT_NAMES order
        self._jq = np.array([m.jnt_qposadr[m.joint(n).id] for n in JOINT_NAMES])
        self._jv = np.array([m.jnt_dofadr[m.joint(n).id] for n in JOINT_NAMES])
        adr = {m.sensor(i).name: int(m.sensor_adr[i]) for i in range(m.nsensor)}
        self._s_trunk = adr[TRUNK_CONTACT_SENSOR]
        self._s_feet = np.array([adr[s] for s in FOOT_CONTACT_SENSORS])
        self._s_legs = np.array([adr[s] for s in (*THIGH_CONTACT_SENSORS, *CALF_CONTACT_SENSORS)])
        self._s_torque = np.array([adr[s] for s in TORQUE_SENSORS])
        if len(adr) != len(CONTACT_SENSORS) + len(TORQUE_SENSORS):
            raise RuntimeError(f"unexpected sensors {sorted(adr)}")
        d = mujoco.MjData(m)
        mujoco.mj_forward(m, d)
        init = np.zeros(self._nstate)
        mujoco.mj_getState(m, d, init, _STATE_SPEC)
        self._state = np.tile(init, (self.num_envs, 1))
        nu = m.nu
        self._nu = nu
        self._control = np.zeros((self.num_envs, self.num_substeps, nu + 6 * m.nbody))
        self._target = np.tile(np.asarray(params[0].default_joint_pos_rad), (self.num_envs, 1))
        self._xfrc = np.zeros((self.num_envs, 6))
        self._substep_index = np.arange(self.num_substeps)
        self._out_state = np.zeros((self.num_envs, self.num_substeps, self._nstate))
        self._out_sensor = np.zeros((self.num_envs, self.num_substeps, m.nsensordata))
        self._last_sensor = np.zeros((self.num_envs, self.num_substeps, m.nsensordata))

    def _set_params(self, env_id: int, p: QuadrupedParams) -> None:
        model = self.models[env_id]
        apply_params(model, p)
        mujoco.mj_setConst(model, self._const_data)
        self.params[env_id] = p
        delay = int(round(p.action_delay_s / self.physics_dt_s))
        self._delay_substeps[env_id] = min(delay, self.num_substeps)

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
        for i, p in zip(env_ids, params, strict=True):
            self._set_params(int(i), p)
        s = self._state[env_ids]
        s[:] = 0.0
        s[:, self._qpos : self._qpos + 3] = initial.base_pos_m
        quat = initial.base_quat_wxyz / np.linalg.norm(initial.base_quat_wxyz, axis=1, keepdims=True)
        s[:, self._qpos + 3 : self._qpos + 7] = quat
        s[:, self._qvel : self._qvel + 3] = initial.base_lin_vel_m_s
        s[:, self._qvel + 3 : self._qvel + 6] = initial.base_ang_vel_rad_s
        s[:, self._qpos + self._jq] = q
        s[:, self._qvel + self._jv] = qd
        self._state[env_ids] = s
        self._target[env_ids] = q if actuator_command is None else actuator_command
        self._xfrc[env_ids] = 0.0
        self._last_sensor[env_ids] = 0.0

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

    def step(self, actuator_command: np.ndarray) -> None:
        """Advance one control period towards joint position targets (N, 12) in rad."""
        target = np.asarray(actuator_command, dtype=np.float64)
        if target.shape != (self.num_envs, self._nu):
            raise ValueError(
                f"expected joint position targets of shape {(self.num_envs, self._nu)} (columns "
                f"{list(self.actuator_names)}), found {target.shape}"
            )
        held = self._substep_index[None, :] < self._delay_substeps[:, None]
        nu = self._nu
        self._control[:, :, :nu] = np.where(held[:, :, None], self._target[:, None, :], target[:, None, :])
        self._target = target.copy()
        b = 6 * self._trunk
        self._control[:, :, nu + b : nu + b + 6] = self._xfrc[:, None, :]
        run = self._pool.rollout if self._pool is not None else mujoco.rollout.rollout
        run(
            self.models, self._datas, self._state, self._control, control_spec=_CONTROL_SPEC,
            skip_checks=True, nstep=self.num_substeps, state=self._out_state, sensordata=self._out_sensor,
        )
        self._state = self._out_state[:, -1, :].copy()
        self._last_sensor = self._out_sensor.copy()

    def state(self) -> RobotState:
        s = self._state
        n = self.num_envs
        return RobotState(
            base_pos_m=s[:, self._qpos : self._qpos + 3].copy(),
            base_quat_wxyz=s[:, self._qpos + 3 : self._qpos + 7].copy(),
            base_lin_vel_m_s=s[:, self._qvel : self._qvel + 3].copy(),
            base_ang_vel_rad_s=s[:, self._qvel + 3 : self._qvel + 6].copy(),
            last_action=np.zeros((n, 0)),
            command=np.zeros((n, 0)),
            joint_names=JOINT_NAMES,
            joint_pos_rad=s[:, self._qpos + self._jq].copy(),
            joint_vel_rad_s=s[:, self._qvel + self._jv].copy(),
            time_s=s[:, self._time].copy(),
        )

    def ground_contact(self) -> np.ndarray:
        """(N,) True where the trunk touched the ground during the last step (a fall)."""
        return np.any(self._last_sensor[:, :, self._s_trunk] > 0, axis=1)

    def foot_contact(self) -> np.ndarray:
        """(N, 4) True where a foot (LEG_NAMES order) touched the ground during the last step."""
        return np.any(self._last_sensor[:, :, self._s_feet] > 0, axis=1)

    def leg_collisions(self) -> np.ndarray:
        """(N,) how many thighs and calves (not feet) touched the ground during the last step."""
        return np.sum(np.any(self._last_sensor[:, :, self._s_legs] > 0, axis=1), axis=1)

    def joint_torque_nm(self) -> np.ndarray:
        """(N, 12) joint torques of the PD loop (after clipping) at the last physics step."""
        return self._last_sensor[:, -1, self._s_torque].copy()

    def joint_torque_sq_mean(self) -> np.ndarray:
        """(N, 12) mean of τ² over the last control period's physics steps."""
        return np.mean(self._last_sensor[:, :, self._s_torque] ** 2, axis=1)

    def set_external_wrench(self, force_world_n: np.ndarray, torque_world_nm: np.ndarray) -> None:
        self._xfrc[:, :3] = force_world_n
        self._xfrc[:, 3:] = torque_world_nm

    def kick_base(self, env_ids: np.ndarray, delta_lin_vel_world_m_s: np.ndarray) -> None:
        """Add a velocity change (len(env_ids), 3), world frame, to the trunk: a push."""
        env_ids = np.asarray(env_ids, dtype=np.int64)
        self._state[env_ids, self._qvel : self._qvel + 3] += delta_lin_vel_world_m_s

    def physics_state(self, env_id: int) -> np.ndarray:
        """Full MuJoCo physics state (mjSTATE_FULLPHYSICS) of one environment, e.g. for rendering."""
        return self._state[env_id].copy()

    @property
    def leg_names(self) -> tuple[str, ...]:
        return LEG_NAMES

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
