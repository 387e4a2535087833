"""RobotState: the one description of a robot's state that observations read.

The simulator fills a batch of it from physics; a hardware interface fills a
batch of one from messages. Observation functions (deploy.observations) take
only a RobotState, so training and the robot compute observations with the
same code. Every array has a leading batch dimension N.

Frames (REP-103): positions and linear velocities in the world frame (ENU),
angular velocity in the body frame (FLU), quaternions (w, x, y, z) rotating
body into world (see deploy.rotations).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class RobotState:
    """Batched robot state. Shapes: N environments, J joints, A actions, C command."""

    base_pos_m: np.ndarray  # (N, 3) world frame
    base_quat_wxyz: np.ndarray  # (N, 4) body → world
    base_lin_vel_m_s: np.ndarray  # (N, 3) world frame
    base_ang_vel_rad_s: np.ndarray  # (N, 3) body frame
    last_action: np.ndarray  # (N, A) the previous policy action, in contract units ([-1, 1])
    command: np.ndarray  # (N, C) task command, layout named by the contract
    joint_names: tuple[str, ...] = ()
    joint_pos_rad: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (N, J)
    joint_vel_rad_s: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (N, J)
    time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,) time since reset
    #: (N, J) the default (standing) joint pose that joint observations are measured from, same
    #: columns as joint_pos_rad; legged robots only (the contract's action offsets).
    joint_default_pos_rad: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def num_envs(self) -> int:
        return int(self.base_pos_m.shape[0])

    def select(self, index: np.ndarray | slice | int) -> RobotState:
        """The sub-batch at `index` (an int keeps a batch of one)."""
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1)
        n = self.num_envs

        def pick(a: np.ndarray) -> np.ndarray:
            return a[index] if a.ndim >= 1 and a.shape[0] == n else a

        return replace(
            self,
            base_pos_m=pick(self.base_pos_m),
            base_quat_wxyz=pick(self.base_quat_wxyz),
            base_lin_vel_m_s=pick(self.base_lin_vel_m_s),
            base_ang_vel_rad_s=pick(self.base_ang_vel_rad_s),
            last_action=pick(self.last_action),
            command=pick(self.command),
            joint_pos_rad=pick(self.joint_pos_rad),
            joint_vel_rad_s=pick(self.joint_vel_rad_s),
            time_s=pick(self.time_s),
            joint_default_pos_rad=pick(self.joint_default_pos_rad),
        )

    def is_finite(self) -> np.ndarray:
        """(N,) True where every numeric field of that environment is finite."""
        ok = np.ones(self.num_envs, dtype=bool)
        for a in (
            self.base_pos_m,
            self.base_quat_wxyz,
            self.base_lin_vel_m_s,
            self.base_ang_vel_rad_s,
            self.last_action,
            self.command,
            self.joint_pos_rad,
            self.joint_vel_rad_s,
        ):
            if a.size and a.shape[0] == self.num_envs:
                ok &= np.all(np.isfinite(a.reshape(self.num_envs, -1)), axis=1)
        return ok
