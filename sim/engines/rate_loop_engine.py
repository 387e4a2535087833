"""A quadrotor engine driven by collective thrust + body-rate setpoints (CTBR) instead of motors.

Wraps any motor-level quadrotor engine (analytic, MuJoCo, PyBullet) built to advance one physics
step per call, and runs the flight controller's rate loop (deploy/rate_controller.py) between
physics steps: at every physics step it reads the body rates, computes the motor commands and
advances the vehicle. So the rate loop runs at the physics rate (1 / physics_dt_s) on every
engine alike, and this is the one place where CTBR setpoints become rotor commands in simulation.

Actuators: CTBR_TARGETS = (collective_thrust [0, 1], roll_rate, pitch_rate, yaw_rate [rad/s, FLU]).
The vehicle parameters given at construction are what each flight controller is configured for
(its mixer, inertia, thrust curve); the parameters of each reset set the vehicle flown and its
rate-loop gains (QuadrotorParams.rate_controller, randomized per episode).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from deploy.rate_controller import CTBR_TARGETS, RateController, require_gains
from deploy.robot_state import RobotState
from sim.engines.base import Engine, substeps_per_control
from sim.robots.quadrotor import QuadrotorParams

#: (params, control_dt_s, physics_dt_s) → a motor-level engine
EngineFactory = Callable[[list[QuadrotorParams], float, float], Engine]


class RateLoopEngine(Engine):
    """N quadrotors flown through their flight controllers' rate loops; see the module docstring."""

    def __init__(
        self,
        make_motor_engine: EngineFactory,
        params: Sequence[QuadrotorParams],
        control_dt_s: float,
        physics_dt_s: float,
    ) -> None:
        params = list(params)
        self.num_envs = len(params)
        self.control_dt_s = control_dt_s
        self.physics_dt_s = physics_dt_s
        self.num_substeps = substeps_per_control(control_dt_s, physics_dt_s)
        self.actuator_names = CTBR_TARGETS
        self.controller = RateController(params, physics_dt_s)
        #: the motor-level engine, advanced one physics step (one rate-loop step) per call
        self.motor_engine = make_motor_engine(params, physics_dt_s, physics_dt_s)
        self._contact = np.zeros(self.num_envs, dtype=bool)
        self.last_motor_command = np.zeros((self.num_envs, params[0].num_motors))

    @property
    def rotors(self) -> Any:
        return self.motor_engine.rotors  # type: ignore[attr-defined]

    @property
    def params(self) -> list[QuadrotorParams]:
        return self.motor_engine.params  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> Any:
        # engine-specific extras (physics_state for rendering, rotor_speeds_rad_s, models, ...)
        if name == "motor_engine":
            raise AttributeError(name)
        return getattr(self.motor_engine, name)

    # -- Engine interface -------------------------------------------------

    def reset(
        self,
        env_ids: np.ndarray,
        params: Sequence[Any],
        initial: RobotState,
        actuator_command: np.ndarray | None = None,
    ) -> None:
        """`actuator_command` (len(env_ids), 4) CTBR setpoints: the rotors start at the steady state of
        the flight controller's mix of its collective thrust (level, no torque); None: stopped."""
        env_ids = np.asarray(env_ids, dtype=np.int64)
        self.controller.set_gains(env_ids, [require_gains(p) for p in params])
        self.controller.reset(env_ids, initial.base_ang_vel_rad_s)
        motors = None
        if actuator_command is not None:
            cmd = np.asarray(actuator_command, dtype=np.float64)
            full = np.zeros((self.num_envs, 3))
            thrust = np.zeros(self.num_envs)
            thrust[env_ids] = cmd[:, 0]
            motors = self.controller.mix(thrust, full)[env_ids]
        self.motor_engine.reset(env_ids, params, initial, motors)
        self._contact[env_ids] = False

    def step(self, actuator_command: np.ndarray) -> None:
        cmd = np.asarray(actuator_command, dtype=np.float64)
        if cmd.shape != (self.num_envs, len(CTBR_TARGETS)):
            raise ValueError(
                f"expected CTBR setpoints of shape {(self.num_envs, len(CTBR_TARGETS))} "
                f"({', '.join(CTBR_TARGETS)}), found {cmd.shape}"
            )
        contact = np.zeros(self.num_envs, dtype=bool)
        for _ in range(self.num_substeps):
            omega = self.motor_engine.state().base_ang_vel_rad_s
            self.last_motor_command = self.controller.step(cmd, omega)
            self.motor_engine.step(self.last_motor_command)
            contact |= self.motor_engine.ground_contact()
        self._contact = contact

    def state(self) -> RobotState:
        return self.motor_engine.state()

    def ground_contact(self) -> np.ndarray:
        return self._contact.copy()

    def set_external_wrench(self, force_world_n: np.ndarray, torque_world_nm: np.ndarray) -> None:
        self.motor_engine.set_external_wrench(force_world_n, torque_world_nm)

    def close(self) -> None:
        self.motor_engine.close()
