"""rsl_rl VecEnv adapter around the quadrotor hover task.

rsl_rl (rsl-rl-lib 5.x) wants torch tensors and a TensorDict of observation
groups; the task speaks numpy and Gymnasium. This adapter converts, and adds
the privileged "critic" group: the randomized vehicle parameters of each
environment, which the critic may use in simulation (asymmetric actor-critic)
but the actor never sees, since no robot can measure them.

Observation groups (each (N, size) float32 on the CPU):
  "policy": the contract observation, exactly what the exported policy gets.
  "critic": the privileged state only: the episode's vehicle (PRIVILEGED_TERMS)
            followed by the actuator state (rotor speeds and the actions already
            issued but still in the delay queue, QuadrotorHoverEnv.actuator_state);
            the runner's obs_groups give the critic "policy" + "critic".

Why the actuator state: the rotors lag the command by 5-8 control steps and
the action delay adds up to 2 more, so the value of a state depends on what the
motors are about to do. Every working quadrotor recipe lets the critic see it
(Learning to Fly: rotor speeds; RAPTOR's teachers: rotor speeds).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from sim.randomization.quadrotor import EpisodeSample
from sim.robots.quadrotor import QuadrotorParams
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv

#: Privileged terms, in order. Ratios are (sampled / nominal − 1), so the
#: nominal vehicle is all zeros; disturbances are accelerations (force / mass,
#: torque / inertia per axis), in m/s² and rad/s², world frame.
PRIVILEGED_TERMS: tuple[tuple[str, int], ...] = (
    ("mass_ratio", 1),
    ("inertia_ratio", 3),
    ("arm_length_ratio", 1),
    ("thrust_to_weight_ratio", 1),
    ("motor_time_constant_rise_ratio", 1),
    ("motor_time_constant_fall_ratio", 1),
    ("torque_to_thrust_ratio", 1),
    ("action_delay_steps", 1),
    ("disturbance_accel_m_s2", 3),
    ("disturbance_ang_accel_rad_s2", 3),
)
PRIVILEGED_SIZE = sum(size for _, size in PRIVILEGED_TERMS)


def critic_group_size(env: QuadrotorHoverEnv) -> int:
    """Size of the "critic" group: vehicle terms + rotor speeds + pending delayed actions."""
    a = env.contract.action_size
    return PRIVILEGED_SIZE + env.nominal.num_motors + env.max_delay * a


def privileged_state(sample: EpisodeSample, nominal: QuadrotorParams) -> np.ndarray:
    """The privileged vector (PRIVILEGED_SIZE,) of one episode's sampled vehicle."""
    p = sample.params
    inertia = np.asarray(p.inertia_kg_m2)
    out = np.concatenate([
        [p.mass_kg / nominal.mass_kg - 1.0],
        inertia / np.asarray(nominal.inertia_kg_m2) - 1.0,
        [p.arm_length_m / nominal.arm_length_m - 1.0],
        [p.thrust_to_weight / nominal.thrust_to_weight - 1.0],
        [p.motor_time_constant_rise_s / nominal.motor_time_constant_rise_s - 1.0],
        [p.motor_time_constant_fall_s / nominal.motor_time_constant_fall_s - 1.0],
        [p.torque_to_thrust_m / nominal.torque_to_thrust_m - 1.0],
        [float(sample.action_delay_steps)],
        np.asarray(sample.force_world_n) / p.mass_kg,
        np.asarray(sample.torque_world_nm) / inertia,
    ])
    return out


@dataclass
class EpisodeSummary:
    """Outcome of the most recent finished episodes (a moving window)."""

    episodes: int
    success_rate: float
    crash_rate: float
    final_pos_err_m: float
    mean_return: float
    mean_length_s: float


class RslRlHoverEnv(VecEnv):
    """QuadrotorHoverEnv as an rsl_rl VecEnv (torch CPU tensors, TensorDict observations).

    step() returns dones = terminated (crash) | truncated (time limit) and
    extras["time_outs"] = truncated, so PPO bootstraps the value of
    episodes cut by the time limit. extras["log"] carries per-episode
    success, crash, final position error and return of the episodes that
    ended in that step (rsl_rl's logger averages them per iteration).
    """

    def __init__(
        self, env: QuadrotorHoverEnv, seed: int = 0, first_episode: int = 0, stats_window: int = 200
    ) -> None:
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
        self._recent: deque[tuple[bool, bool, float, float, float]] = deque(maxlen=stats_window)
        self._privileged = np.zeros((self.num_envs, PRIVILEGED_SIZE), dtype=np.float32)
        obs, _ = env.reset(
            seed=seed, options={"episode_indices": np.arange(first_episode, first_episode + self.num_envs)}
        )
        self._update_privileged(np.arange(self.num_envs))
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
            self._update_privileged(ids)
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
        """Success/crash rates etc. over the last `stats_window` finished episodes, None if none."""
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

    def _update_privileged(self, env_ids: np.ndarray) -> None:
        for i in env_ids:
            self._privileged[i] = privileged_state(self.env.samples[i], self.env.nominal)

    def _pack(self, obs: np.ndarray) -> TensorDict:
        rotors, pending = self.env.actuator_state()
        critic = np.concatenate(
            [self._privileged, rotors, pending.reshape(self.num_envs, -1)], axis=1
        ).astype(np.float32)
        return TensorDict(
            {"policy": torch.from_numpy(obs), "critic": torch.from_numpy(critic)},
            batch_size=[self.num_envs],
        )

    def _episode_log(self, episode: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        success = episode["success"].astype(np.float32)
        crashed = episode["crashed"].astype(np.float32)
        length_s = episode["length"].astype(np.float32) * self._control_dt_s
        err = episode["final_pos_err_m"].astype(np.float32)
        ret = episode["return"].astype(np.float32)
        for row in zip(success, crashed, err, ret, length_s, strict=True):
            self._recent.append(tuple(float(x) for x in row))
        log = {
            "Episode/success_rate": torch.from_numpy(success),
            "Episode/crash_rate": torch.from_numpy(crashed),
            "Episode/return": torch.from_numpy(ret),
            "Episode/length_s": torch.from_numpy(length_s),
        }
        # A crashed episode has no meaningful final error (its window may hold inf).
        if (crashed == 0).any():
            log["Episode/final_pos_err_m"] = torch.from_numpy(err[crashed == 0])
        return log
