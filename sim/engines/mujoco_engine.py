"""Batched MuJoCo engine for quadrotors: N vehicles, one rollout call per control step.

Every environment has its own MjModel (a copy of the nominal model with its
sampled parameters written in), so each vehicle can differ. One control step
is a single call to mujoco.rollout over all environments and all physics
substeps, run by a persistent thread pool: the Python overhead is paid once
per batch, never per environment or per substep.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence

import mujoco
import mujoco.rollout
import numpy as np

from deploy.robot_state import RobotState
from sim.engines.base import Engine, substeps_per_control
from sim.robots.quadrotor import QuadrotorParams
from sim.robots.quadrotor_mujoco import BASE_BODY, apply_params, build_model
from sim.robots.rotor_dynamics import RotorBank

_STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS
_CONTROL_SPEC = mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_XFRC_APPLIED


def _state_offset(model: mujoco.MjModel, field: mujoco.mjtState) -> int:
    """Offset of one component inside a mjSTATE_FULLPHYSICS vector (bit order)."""
    offset = 0
    for bit in range(int(mujoco.mjtState.mjNSTATE)):
        flag = 1 << bit
        if flag == int(field):
            return offset
        if int(_STATE_SPEC) & flag:
            offset += mujoco.mj_stateSize(model, flag)
    raise ValueError(f"{field} is not part of the full physics state")


def default_thread_count() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


class MujocoQuadrotorEngine(Engine):
    def __init__(
        self,
        params: Sequence[QuadrotorParams],
        control_dt_s: float,
        physics_dt_s: float,
        nthread: int | None = None,
    ) -> None:
        if len(params) == 0:
            raise ValueError("need at least one environment (one QuadrotorParams per environment)")
        self.num_envs = len(params)
        self.control_dt_s = control_dt_s
        self.physics_dt_s = physics_dt_s
        self.num_substeps = substeps_per_control(control_dt_s, physics_dt_s)
        self._nominal = build_model(params[0], physics_dt_s)
        self.actuator_names = tuple(self._nominal.actuator(i).name for i in range(self._nominal.nu))
        self.models = [copy.deepcopy(self._nominal) for _ in range(self.num_envs)]
        for m, p in zip(self.models, params, strict=True):
            apply_params(m, p)
        self.params = list(params)
        self.rotors = RotorBank(params)
        self.nthread = min(nthread or default_thread_count(), self.num_envs)
        self._datas = [mujoco.MjData(self._nominal) for _ in range(self.nthread)]
        self._pool = mujoco.rollout.Rollout(nthread=self.nthread) if self.nthread > 1 else None

        m = self._nominal
        self._nstate = mujoco.mj_stateSize(m, _STATE_SPEC)
        self._qpos = _state_offset(m, mujoco.mjtState.mjSTATE_QPOS)
        self._qvel = _state_offset(m, mujoco.mjtState.mjSTATE_QVEL)
        self._time = _state_offset(m, mujoco.mjtState.mjSTATE_TIME)
        self._base = m.body(BASE_BODY).id
        d = mujoco.MjData(m)
        mujoco.mj_forward(m, d)
        init = np.zeros(self._nstate)
        mujoco.mj_getState(m, d, init, _STATE_SPEC)
        self._state = np.tile(init, (self.num_envs, 1))
        self._control = np.zeros((self.num_envs, self.num_substeps, m.nu + 6 * m.nbody))
        self._xfrc = np.zeros((self.num_envs, 6))
        self._contact = np.zeros(self.num_envs, dtype=bool)
        # rollout writes into these preallocated outputs (skip_checks=True needs them)
        self._out_state = np.zeros((self.num_envs, self.num_substeps, self._nstate))
        self._out_sensor = np.zeros((self.num_envs, self.num_substeps, m.nsensordata))

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
            apply_params(self.models[i], p)
            self.params[i] = p
        self.rotors.set_params(env_ids, params)
        self.rotors.reset(env_ids, 0.0 if actuator_command is None else actuator_command)
        s = self._state[env_ids]
        s[:] = 0.0
        s[:, self._qpos : self._qpos + 3] = initial.base_pos_m
        q = initial.base_quat_wxyz / np.linalg.norm(initial.base_quat_wxyz, axis=1, keepdims=True)
        s[:, self._qpos + 3 : self._qpos + 7] = q
        s[:, self._qvel : self._qvel + 3] = initial.base_lin_vel_m_s
        s[:, self._qvel + 3 : self._qvel + 6] = initial.base_ang_vel_rad_s
        self._state[env_ids] = s
        self._xfrc[env_ids] = 0.0
        self._contact[env_ids] = False

    def step(self, actuator_command: np.ndarray) -> None:
        cmd = np.asarray(actuator_command, dtype=np.float64)
        if cmd.shape != (self.num_envs, len(self.actuator_names)):
            raise ValueError(
                f"expected motor commands of shape {(self.num_envs, len(self.actuator_names))}, "
                f"found {cmd.shape}"
            )
        nu = len(self.actuator_names)
        self._control[:, :, :nu] = self.rotors.advance(cmd, self.num_substeps, self.physics_dt_s)
        b = 6 * self._base
        self._control[:, :, nu + b : nu + b + 6] = self._xfrc[:, None, :]
        kwargs = dict(
            control_spec=_CONTROL_SPEC,
            skip_checks=True,
            nstep=self.num_substeps,
            state=self._out_state,
            sensordata=self._out_sensor,
        )
        run = self._pool.rollout if self._pool is not None else mujoco.rollout.rollout
        run(self.models, self._datas, self._state, self._control, **kwargs)
        self._state = self._out_state[:, -1, :].copy()
        self._contact = np.any(self._out_sensor[:, :, 0] > 0, axis=1)

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
            time_s=s[:, self._time].copy(),
        )

    def ground_contact(self) -> np.ndarray:
        return self._contact.copy()

    def set_external_wrench(self, force_world_n: np.ndarray, torque_world_nm: np.ndarray) -> None:
        self._xfrc[:, :3] = force_world_n
        self._xfrc[:, 3:] = torque_world_nm

    def physics_state(self, env_id: int) -> np.ndarray:
        """Full MuJoCo physics state (mjSTATE_FULLPHYSICS) of one environment, e.g. for rendering."""
        return self._state[env_id].copy()

    @property
    def rotor_speeds_rad_s(self) -> np.ndarray:
        return self.rotors.speed_rad_s.copy()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
