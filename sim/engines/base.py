"""The engine interface every physics backend implements (MuJoCo, PyBullet).

An engine steps N environments in lock-step at the control rate. Each
environment may carry its own robot parameters (domain randomization). The
interface is robot-agnostic: a quadrotor's actuators are its motors
(normalized commands), an articulated robot's are its joints (addressed by
name in RobotState.joint_names); the robot adapter maps commands to forces.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from deploy.robot_state import RobotState


class Engine(ABC):
    num_envs: int
    control_dt_s: float
    physics_dt_s: float
    #: Names of the actuators, in the column order step() expects.
    actuator_names: tuple[str, ...]
    #: Names of the articulated joints, in RobotState column order (empty for a free flyer).
    joint_names: tuple[str, ...] = ()

    @abstractmethod
    def reset(
        self,
        env_ids: np.ndarray,
        params: Sequence[Any],
        initial: RobotState,
        actuator_command: np.ndarray | None = None,
    ) -> None:
        """Put environments `env_ids` into `initial` (a batch of len(env_ids)) with their
        own robot parameters; actuators start at the steady state of `actuator_command`."""

    @abstractmethod
    def step(self, actuator_command: np.ndarray) -> None:
        """Advance every environment by one control period holding (N, actuators) commands."""

    @abstractmethod
    def state(self) -> RobotState:
        """Current state of all environments (last_action and command left empty)."""

    @abstractmethod
    def ground_contact(self) -> np.ndarray:
        """(N,) True where the robot's crash geometry touched the ground during the last step."""

    @abstractmethod
    def set_external_wrench(self, force_world_n: np.ndarray, torque_world_nm: np.ndarray) -> None:
        """Constant disturbance (N, 3) force and torque on the base, world frame, until changed."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release threads or processes held by the engine."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def substeps_per_control(control_dt_s: float, physics_dt_s: float) -> int:
    """How many physics steps make one control period; they must divide evenly."""
    n = round(control_dt_s / physics_dt_s)
    if n < 1 or abs(n * physics_dt_s - control_dt_s) > 1e-9:
        raise ValueError(
            f"control period {control_dt_s} s is not a whole multiple of the physics step "
            f"{physics_dt_s} s; choose rates so that control_dt = k · physics_dt"
        )
    return n
