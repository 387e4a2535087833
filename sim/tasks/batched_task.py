"""What every task shares: N robots on one batched engine, each running numbered episodes.

Episode k of a seed is drawn from (seed, k) alone (the task's sample_episode,
with episode_rng(k)), and its observation noise from its own stream
(sim/tasks/episode_noise.py), so an episode replays by itself in any batch.
Training autoresets (autoreset=True: a finished environment starts the next
episode index within the same step); evaluation leaves finished environments
frozen until reset (autoreset=False).

A task subclass provides the robot-specific parts: the config with its
contract and reward registry, the engine, how an episode's robot and start are
drawn and applied (_reset_envs, ending with _begin_episodes), the robot state
the policy observes (robot_state), and step() up to the point where it hands
the observation and the finished environments to _autoreset().
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np

from deploy.contract import Contract
from deploy.observations import ObservationBuilder
from deploy.robot_state import RobotState
from sim.tasks.episode_noise import EpisodeNoise

Context = TypeVar("Context")


def check_reward_terms(rewards: Mapping[str, float], registry: Mapping[str, Any]) -> None:
    """Refuse reward scales for terms the task does not compute, naming them and the known ones."""
    unknown = set(rewards) - set(registry)
    if unknown:
        raise ValueError(f"unknown reward terms {sorted(unknown)}; known: {sorted(registry)}")


def scaled_reward_terms(
    registry: Mapping[str, Callable[[Context], np.ndarray]], scales: Mapping[str, float], ctx: Context
) -> dict[str, np.ndarray]:
    """Each configured term's magnitude (N,) times its scale (sign and weight from the config)."""
    return {name: registry[name](ctx) * scale for name, scale in scales.items()}


def stack_states(states: list[RobotState] | tuple[RobotState, ...]) -> RobotState:
    """Batch-of-one states stacked into one batch (array fields concatenated along the batch axis)."""
    first = states[0]
    values = {}
    for f in fields(RobotState):
        v = getattr(first, f.name)
        if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == first.num_envs:
            values[f.name] = np.concatenate([getattr(s, f.name) for s in states])
        else:
            values[f.name] = v
    return RobotState(**values)


class BatchedTaskEnv(gym.vector.VectorEnv):
    """Episode bookkeeping, observation building and autoreset for a batched task."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def _init_batch(
        self,
        num_envs: int,
        contract: Contract,
        randomization: Any,
        seed: int,
        autoreset: bool,
        action_low: np.ndarray | float = -1.0,
        action_high: np.ndarray | float = 1.0,
    ) -> None:
        """Set up what every task keeps per environment; call from the subclass's __init__."""
        self.contract = contract
        self.randomization = randomization
        self.num_envs = num_envs
        self.seed = seed
        self.autoreset = autoreset
        self.term_names = tuple(t.name for t in contract.observations)
        self.builder = ObservationBuilder(contract, num_envs)

        obs_dim, act_dim = contract.observation_size, contract.action_size
        low = np.broadcast_to(np.asarray(action_low, dtype=np.float32), (act_dim,))
        high = np.broadcast_to(np.asarray(action_high, dtype=np.float32), (act_dim,))
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.single_action_space = gym.spaces.Box(low.copy(), high.copy())
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)

        n = num_envs
        self._noise = EpisodeNoise(n, self.builder.noise_width) if randomization is not None else None
        self._noise_scale = np.ones((n, len(self.term_names)))
        self._last_action = np.zeros((n, act_dim))
        self._step_count = np.zeros(n, dtype=np.int64)
        self._finished = np.zeros(n, dtype=bool)
        self._episode_return = np.zeros(n)
        self._next_episode = 0
        self.episode_index = np.full(n, -1, dtype=np.int64)
        self.samples: list[Any] = [None] * n
        self._obs = np.zeros((n, obs_dim), dtype=np.float32)

    # -- episodes -----------------------------------------------------------------------------

    def episode_rng(self, episode_index: int) -> np.random.Generator:
        """The stream every draw of episode `episode_index` (except its noise) comes from."""
        return np.random.default_rng([self.seed, int(episode_index)])

    def _reset_envs(self, env_ids: np.ndarray, episode_indices: np.ndarray) -> None:
        """Draw and apply the episodes; the subclass ends with _begin_episodes()."""
        raise NotImplementedError

    def _begin_episodes(self, env_ids: np.ndarray, episode_indices: np.ndarray, samples: Any) -> None:
        """The bookkeeping every task does when environments start episodes."""
        for i, s in zip(env_ids, samples, strict=True):
            self.samples[i] = s
            self._noise_scale[i] = [s.noise_scale.get(t, 1.0) for t in self.term_names]
        self.episode_index[env_ids] = episode_indices
        self._step_count[env_ids] = 0
        self._finished[env_ids] = False
        self._episode_return[env_ids] = 0.0
        self.builder.reset(env_ids)
        if self._noise is not None:
            self._noise.start(env_ids, self.seed, episode_indices)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start every environment; options={'episode_indices': [...]} picks the episodes."""
        if seed is not None:
            self.seed = seed
            self._next_episode = 0
        ids = np.arange(self.num_envs)
        episodes = (options or {}).get("episode_indices")
        if episodes is None:
            episodes = np.arange(self._next_episode, self._next_episode + self.num_envs)
        self._reset_envs(ids, np.asarray(episodes))
        self._next_episode = max(self._next_episode, int(np.max(episodes)) + 1)
        self._obs = self._observe(env_ids=ids)
        return self._obs.copy(), {"episode_index": self.episode_index.copy()}

    # -- observation and autoreset ------------------------------------------------------------

    def robot_state(self) -> RobotState:
        """The RobotState a controller sees now (the observation is built from it)."""
        raise NotImplementedError

    def _observe(self, state: RobotState | None = None, env_ids: np.ndarray | None = None) -> np.ndarray:
        """Observations of all environments; with `env_ids`, only those advance (history,
        integrals, noise) and the other rows repeat their last observation."""
        state = state if state is not None else self.robot_state()
        return self.builder.build(
            state, noise=self._noise, noise_std_scale=self._noise_scale, env_ids=env_ids
        )

    def _autoreset(self, obs: np.ndarray, done: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
        """After a step: training restarts finished environments on the next episode indices (their
        last observation goes to infos['final_obs']); evaluation freezes them."""
        if done.any():
            ids = np.flatnonzero(done)
            if self.autoreset:
                infos["final_obs"] = obs[ids].copy()
                new = np.arange(self._next_episode, self._next_episode + len(ids))
                self._next_episode += len(ids)
                self._reset_envs(ids, new)
                obs[ids] = self._observe(env_ids=ids)[ids]
            else:
                self._finished |= done
        self._obs = obs
        return obs

    @property
    def finished(self) -> np.ndarray:
        return self._finished.copy()

    def close(self, **kwargs: Any) -> None:
        self.engine.close()
