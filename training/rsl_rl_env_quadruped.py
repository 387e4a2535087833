"""rsl_rl VecEnv adapter around the quadruped-walk task.

The same adapter as the quadrotor's (training/rsl_rl_env.py: torch CPU
tensors, TensorDict observation groups, time-outs for bootstrapping, a
moving window of finished episodes); what differs is the privileged group
and the per-episode figures.

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
import torch
from tensordict import TensorDict

from sim.tasks.quadruped_walk import PRIVILEGED_SIZE, QuadrupedWalkEnv
from training.rsl_rl_env import RslRlHoverEnv


class RslRlQuadrupedEnv(RslRlHoverEnv):
    """QuadrupedWalkEnv as an rsl_rl VecEnv.

    recent_episodes() reports, per finished episode: success (no fall in the
    episode), crash_rate = fall rate, and in `final_pos_err_m` the episode's
    mean linear-velocity tracking error (m/s), so the training progress bar's
    `err_m` column shows the tracking error.
    """

    env: QuadrupedWalkEnv  # type: ignore[assignment]

    def __init__(
        self, env: QuadrupedWalkEnv, seed: int = 0, first_episode: int = 0, stats_window: int = 200
    ) -> None:
        super().__init__(env, seed=seed, first_episode=first_episode, stats_window=stats_window)  # type: ignore[arg-type]

    def _update_privileged(self, env_ids: np.ndarray) -> None:
        """Nothing to cache: the privileged state is read from the task every step (see _pack)."""

    def _pack(self, obs: np.ndarray) -> TensorDict:
        privileged = self.env.privileged_observation()
        if privileged.shape[1] != PRIVILEGED_SIZE:
            raise RuntimeError(
                f"privileged state has {privileged.shape[1]} values, expected {PRIVILEGED_SIZE}"
            )
        return TensorDict(
            {"policy": torch.from_numpy(obs), "critic": torch.from_numpy(privileged)},
            batch_size=[self.num_envs],
        )

    def _episode_log(self, episode: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        success = episode["success"].astype(np.float32)
        fell = episode["fell"].astype(np.float32)
        length_s = episode["length"].astype(np.float32) * self._control_dt_s
        lin = episode["lin_vel_err_m_s"].astype(np.float32)
        yaw = episode["yaw_rate_err_rad_s"].astype(np.float32)
        ret = episode["return"].astype(np.float32)
        for row in zip(success, fell, lin, ret, length_s, strict=True):
            self._recent.append(tuple(float(x) for x in row))
        log = {
            "Episode/success_rate": torch.from_numpy(success),
            "Episode/fall_rate": torch.from_numpy(fell),
            "Episode/return": torch.from_numpy(ret),
            "Episode/length_s": torch.from_numpy(length_s),
        }
        measured = np.isfinite(lin)
        if measured.any():
            log["Episode/lin_vel_err_m_s"] = torch.from_numpy(lin[measured])
            log["Episode/yaw_rate_err_rad_s"] = torch.from_numpy(yaw[measured])
        return log
