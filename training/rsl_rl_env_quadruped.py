"""rsl_rl VecEnv adapter around the quadruped-walk task.

The shared adapter (training/rsl_rl_task_env.py: torch CPU tensors,
TensorDict observation groups, time-outs for bootstrapping, a moving window
of finished episodes); what the walk task adds is its privileged group and
its per-episode figures.

Observation groups (each (N, size) float32 on the CPU):
  "policy": the contract observation, exactly what the exported policy gets
            (IMU, joint encoders, last action, command; noisy in simulation).
  "critic": privileged state the robot cannot measure, refreshed every step
            (sim.tasks.quadruped_walk.PRIVILEGED_TERMS: true body velocity,
            trunk height, foot contacts, and the sampled robot: friction,
            payload, centre of mass, motor strength, PD gain ratios, delay).
"""

from __future__ import annotations

import numpy as np

from sim.tasks.quadruped_walk import PRIVILEGED_SIZE, QuadrupedWalkEnv
from training.rsl_rl_task_env import RslRlTaskEnv


class RslRlQuadrupedEnv(RslRlTaskEnv):
    """QuadrupedWalkEnv as an rsl_rl VecEnv.

    recent_episodes() reports, per finished episode: success (no fall in the
    episode), crash_rate = fall rate, and in `final_pos_err_m` the episode's
    mean linear-velocity tracking error (m/s), so the training progress bar's
    `err_m` column shows the tracking error.
    """

    env: QuadrupedWalkEnv
    FAILURE_KEY = "fell"
    FAILURE_LOG = "Episode/fall_rate"

    def _privileged_observation(self) -> np.ndarray:
        """Read from the task every step: nothing is cached per episode."""
        privileged = self.env.privileged_observation()
        if privileged.shape[1] != PRIVILEGED_SIZE:
            raise RuntimeError(
                f"privileged state has {privileged.shape[1]} values, expected {PRIVILEGED_SIZE}"
            )
        return privileged

    def _episode_errors(
        self, episode: dict[str, np.ndarray], failed: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        lin = episode["lin_vel_err_m_s"].astype(np.float32)
        yaw = episode["yaw_rate_err_rad_s"].astype(np.float32)
        measured = np.isfinite(lin)
        if not measured.any():
            return lin, {}
        return lin, {"Episode/lin_vel_err_m_s": lin[measured], "Episode/yaw_rate_err_rad_s": yaw[measured]}
