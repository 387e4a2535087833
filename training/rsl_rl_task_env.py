"""The rsl_rl VecEnv adapter every task shares; a task adds its privileged vector and episode figures.

rsl_rl (rsl-rl-lib 5.x) wants torch tensors and a TensorDict of observation
groups; the tasks (sim.tasks.batched_task.BatchedTaskEnv) speak numpy and
Gymnasium. This adapter converts, and packs two groups (each (N, size)
float32 on the CPU):

  "policy": the contract observation, exactly what the exported policy gets.
  "critic": the task's privileged state (simulation only, never seen by the
            deployed actor); the runner's obs_groups give the critic
            "policy" + "critic" (asymmetric actor-critic).

step() returns dones = terminated | truncated and extras["time_outs"] =
truncated, so PPO bootstraps the value of episodes cut by the time limit.
extras["log"] carries per-episode figures of the episodes that ended in that
step (rsl_rl's logger averages them per iteration), and a moving window of
finished episodes feeds recent_episodes() (progress bar, summary.yaml).

A task's adapter is a subclass that supplies:
  _privileged_observation()  the "critic" group, (N, size) float32
  _episodes_started(ids)     optional: refresh per-episode caches after a reset
  FAILURE_KEY, FAILURE_LOG   the episode dict's failure flag and its log name
  _episode_errors(episode, failed)
                             the tracking error kept in the moving window
                             (reported as EpisodeSummary.final_pos_err_m) and
                             the task's extra logged figures
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict


@dataclass
class EpisodeSummary:
    """Outcome of the most recent finished episodes (a moving window).

    `final_pos_err_m` is the task's tracking error averaged over the episodes
    that did not fail (hover: final position error in m; walk: mean
    linear-velocity error in m/s).
    """

    episodes: int
    success_rate: float
    crash_rate: float
    final_pos_err_m: float
    mean_return: float
    mean_length_s: float


class RslRlTaskEnv(VecEnv):
    """A BatchedTaskEnv as an rsl_rl VecEnv (torch CPU tensors, TensorDict observations)."""

    #: The episode dict's failure flag ("crashed", "fell") and the name it is logged under.
    FAILURE_KEY = "crashed"
    FAILURE_LOG = "Episode/crash_rate"

    def __init__(self, env: Any, seed: int = 0, first_episode: int = 0, stats_window: int = 200) -> None:
        self.env = env
        self.num_envs = env.num_envs
        self.num_actions = env.contract.action_size
        self.max_episode_length = env.config.episode_steps
        self.device = torch.device("cpu")
        self.cfg = {
            "task": env.contract.task,
            "task_config": env.config.source,
            "randomized": env.randomization is not None,
        }
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long)
        self._control_dt_s = env.config.control_dt_s
        self._recent: deque[tuple[float, ...]] = deque(maxlen=stats_window)
        obs, _ = env.reset(
            seed=seed, options={"episode_indices": np.arange(first_episode, first_episode + self.num_envs)}
        )
        self._episodes_started(np.arange(self.num_envs))
        self._obs = self._pack(obs)

    # -- VecEnv interface --------------------------------------------------------

    def get_observations(self) -> TensorDict:
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        if actions.shape != (self.num_envs, self.num_actions):
            raise ValueError(
                f"expected actions of shape {(self.num_envs, self.num_actions)}, found {tuple(actions.shape)}"
            )
        obs, reward, terminated, truncated, infos = self.env.step(actions.detach().cpu().numpy())
        #: The task's infos of the last step ("done_env_ids" and "episode" when episodes ended).
        self.last_infos = infos
        done = terminated | truncated
        self.episode_length_buf += 1
        extras: dict[str, Any] = {"time_outs": torch.from_numpy(truncated.copy())}
        if done.any():
            ids = infos["done_env_ids"]
            self.episode_length_buf[torch.from_numpy(ids)] = 0
            self._episodes_started(ids)
            extras["log"] = self._episode_log(infos["episode"])
        self._obs = self._pack(obs)
        return (
            self._obs,
            torch.from_numpy(reward.astype(np.float32)),
            torch.from_numpy(done.astype(np.int64)),
            extras,
        )

    # -- helpers --------------------------------------------------------------

    @property
    def next_episode_index(self) -> int:
        """Index of the next episode the environment will draw (to resume without repeats)."""
        return int(self.env.episode_index.max()) + 1

    def recent_episodes(self) -> EpisodeSummary | None:
        """Success/failure rates etc. over the last `stats_window` finished episodes, None if none."""
        if not self._recent:
            return None
        a = np.array(self._recent, dtype=np.float64)
        ok = a[:, 1] == 0
        return EpisodeSummary(
            episodes=len(a),
            success_rate=float(a[:, 0].mean()),
            crash_rate=float(a[:, 1].mean()),
            final_pos_err_m=float(a[ok, 2].mean()) if ok.any() else float("nan"),
            mean_return=float(a[:, 3].mean()),
            mean_length_s=float(a[:, 4].mean()),
        )

    def close(self) -> None:
        self.env.close()

    def _pack(self, obs: np.ndarray) -> TensorDict:
        return TensorDict(
            {"policy": torch.from_numpy(obs), "critic": torch.from_numpy(self._privileged_observation())},
            batch_size=[self.num_envs],
        )

    def _episode_log(self, episode: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        success = episode["success"].astype(np.float32)
        failed = episode[self.FAILURE_KEY].astype(np.float32)
        length_s = episode["length"].astype(np.float32) * self._control_dt_s
        ret = episode["return"].astype(np.float32)
        err, extra = self._episode_errors(episode, failed)
        for row in zip(success, failed, err, ret, length_s, strict=True):
            self._recent.append(tuple(float(x) for x in row))
        log = {
            "Episode/success_rate": torch.from_numpy(success),
            self.FAILURE_LOG: torch.from_numpy(failed),
            "Episode/return": torch.from_numpy(ret),
            "Episode/length_s": torch.from_numpy(length_s),
        }
        log.update({k: torch.from_numpy(v) for k, v in extra.items()})
        return log

    # -- what each task supplies ------------------------------------------------

    def _privileged_observation(self) -> np.ndarray:
        """The "critic" group of the current step, (num_envs, size) float32."""
        raise NotImplementedError

    def _episodes_started(self, env_ids: np.ndarray) -> None:
        """Called after the environments `env_ids` started new episodes (nothing by default)."""

    def _episode_errors(
        self, episode: dict[str, np.ndarray], failed: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(the per-episode tracking error for the moving window, extra logged figures by name)."""
        raise NotImplementedError
