"""TD3 (off-policy actor-critic), the algorithm of Learning to Fly, behind `tether train`.

Why: Learning to Fly reaches a flyable Crazyflie policy in 300 k environment
steps with TD3 (facts in ../shared/RECIPES.md), where PPO here needs tens of
millions and still leaves a steady offset. The deterministic policy gradient
follows the critic's action gradient directly, which suits precise
low-dimensional control.

What matches the anchor: twin critics with clipped double-Q, delayed actor
updates, target policy smoothing, Polyak-averaged targets, Gaussian
exploration noise, a warm-up before the critic and the actor learn, and an
asymmetric critic (it sees the contract observation plus the simulation-only
state: vehicle parameters, disturbance, rotor speeds, delay queue). The
actor is the same rsl_rl MLPModel as PPO's (observation normalization
inside), so validation, checkpoints, `tether export` and the runtime treat it
like any other actor. Several environments step in parallel; the ratio of
gradient updates to environment steps is the anchor's (`env_steps_per_update`).
Episodes cut by the time limit are left out of the replay buffer (their next
state is replaced by the reset); crashes are terminal.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tensordict import TensorDict
from torch import nn
from tqdm import tqdm

from training.checkpoints import checkpoint_path, save_actor_checkpoint
from training.config import TD3Config
from training.rsl_rl_env import RslRlHoverEnv
from training.validation import BEST_CHECKPOINT_NAME, AnyValidationScore, Validator, write_best_record


@dataclass
class TD3Result:
    env_steps: int
    updates: int
    checkpoint: Path
    time_s: dict[str, float]
    best: AnyValidationScore | None


class Critic(nn.Module):
    """Twin Q networks over (normalized actor obs, normalized privileged obs, action)."""

    def __init__(self, obs_dim: int, priv_dim: int, act_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.obs_dim, self.priv_dim = obs_dim, priv_dim
        self.register_buffer("mean", torch.zeros(obs_dim + priv_dim))
        self.register_buffer("std", torch.ones(obs_dim + priv_dim))

        def mlp() -> nn.Sequential:
            layers: list[nn.Module] = []
            last = obs_dim + priv_dim + act_dim
            for h in hidden:
                layers += [nn.Linear(last, h), nn.ELU()]
                last = h
            layers.append(nn.Linear(last, 1))
            return nn.Sequential(*layers)

        self.q1, self.q2 = mlp(), mlp()

    def set_normalization(self, states: torch.Tensor) -> None:
        self.mean.copy_(states.mean(0))
        self.std.copy_(states.std(0).clamp_min(1e-2))

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([(state - self.mean) / self.std, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class ReplayBuffer:
    """A ring buffer of (obs, privileged, action, reward, next obs, next privileged, terminal)."""

    def __init__(self, capacity: int, obs_dim: int, priv_dim: int, act_dim: int) -> None:
        self.capacity, self.size, self.head = capacity, 0, 0
        self.state = torch.zeros(capacity, obs_dim + priv_dim)
        self.next_state = torch.zeros(capacity, obs_dim + priv_dim)
        self.action = torch.zeros(capacity, act_dim)
        self.reward = torch.zeros(capacity)
        self.terminal = torch.zeros(capacity)
        self.obs_dim = obs_dim

    def add(self, state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
            next_state: torch.Tensor, terminal: torch.Tensor) -> None:
        n = state.shape[0]
        idx = (self.head + torch.arange(n)) % self.capacity
        self.state[idx], self.action[idx], self.reward[idx] = state, action, reward
        self.next_state[idx], self.terminal[idx] = next_state, terminal
        self.head = int((self.head + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        idx = torch.randint(0, self.size, (batch,), generator=generator)
        return self.state[idx], self.action[idx], self.reward[idx], self.next_state[idx], self.terminal[idx]


def _state(obs: Any) -> torch.Tensor:
    return torch.cat([obs["policy"], obs["critic"]], dim=-1)


def train_td3(
    env: RslRlHoverEnv,
    actor: nn.Module,
    config: TD3Config,
    critic_hidden: tuple[int, ...],
    gamma: float,
    run_dir: Path,
    validator: Validator | None,
    seed: int,
    progress: bool = True,
    deadline: float | None = None,
) -> TD3Result:
    """Train `actor` (an rsl_rl MLPModel over the "policy" group) with TD3 on `env`."""
    gen = torch.Generator().manual_seed(seed)
    obs = env.get_observations()
    obs_dim, priv_dim = obs["policy"].shape[1], obs["critic"].shape[1]
    act_dim = env.num_actions
    critic = Critic(obs_dim, priv_dim, act_dim, critic_hidden)
    actor_target, critic_target = copy.deepcopy(actor), copy.deepcopy(critic)
    actor_opt = torch.optim.Adam(actor.mlp.parameters(), lr=config.actor_learning_rate)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=config.critic_learning_rate)
    buffer = ReplayBuffer(config.buffer_size, obs_dim, priv_dim, act_dim)
    time_s = {"collection": 0.0, "update": 0.0, "validation": 0.0}
    best: AnyValidationScore | None = None
    history: list[AnyValidationScore] = []
    env_steps = updates = 0
    update_credit = 0.0
    next_validation = validator.interval * config.env_steps_per_iteration if validator else None
    next_save = config.save_interval * config.env_steps_per_iteration
    total = config.total_env_steps
    bar = tqdm(total=total, unit="step", unit_scale=True, disable=not progress, desc="td3")
    normalized = False
    actor.train()

    def iteration_of(steps: int) -> int:
        return steps // config.env_steps_per_iteration

    while env_steps < total:
        if deadline is not None and time.monotonic() >= deadline:
            break
        started = time.perf_counter()
        with torch.inference_mode():
            state = _state(obs)
            noise_std = (
                config.warmup_noise_std if env_steps < config.random_steps else config.exploration_noise_std
            )
            action = actor(obs) + noise_std * torch.randn(env.num_envs, act_dim, generator=gen)
            action = action.clamp(-1.0, 1.0)
            next_obs, reward, done, extras = env.step(action)
            truncated = extras["time_outs"].bool()
            terminal = done.bool() & ~truncated
            keep = ~truncated
            next_state = _state(next_obs)
            buffer.add(state[keep], action[keep], reward[keep], next_state[keep], terminal[keep].float())
        obs = next_obs
        env_steps += env.num_envs
        bar.update(env.num_envs)
        collected = time.perf_counter()
        time_s["collection"] += collected - started

        if not normalized and env_steps >= config.normalization_steps:
            with torch.no_grad():
                n = buffer.size
                critic.set_normalization(buffer.state[:n])
                critic_target.load_state_dict(critic.state_dict())
                if getattr(actor, "obs_normalization", False):
                    norm = actor.obs_normalizer
                    norm._mean.copy_(buffer.state[:n, :obs_dim].mean(0, keepdim=True))
                    norm._var.copy_(buffer.state[:n, :obs_dim].var(0, keepdim=True))
                    norm._std.copy_(torch.sqrt(norm._var))
                    actor_target.load_state_dict(actor.state_dict())
            normalized = True
        if normalized and env_steps >= config.critic_warmup_steps:
            update_credit += env.num_envs / config.env_steps_per_update
            while update_credit >= 1.0:
                update_credit -= 1.0
                updates += 1
                s, a, r, s2, term = buffer.sample(config.batch_size, gen)
                with torch.no_grad():
                    noise = (config.target_noise_std * torch.randn(a.shape, generator=gen)).clamp(
                        -config.target_noise_clip, config.target_noise_clip)
                    a2 = actor_target(TensorDict({"policy": s2[:, :obs_dim]}, batch_size=[s2.shape[0]]))
                    a2 = (a2 + noise).clamp(-1.0, 1.0)
                    q1_t, q2_t = critic_target(s2, a2)
                    target = r + gamma * (1.0 - term) * torch.minimum(q1_t, q2_t)
                q1, q2 = critic(s, a)
                critic_loss = ((q1 - target) ** 2).mean() + ((q2 - target) ** 2).mean()
                critic_opt.zero_grad()
                critic_loss.backward()
                critic_opt.step()
                if env_steps >= config.actor_warmup_steps and updates % config.policy_delay == 0:
                    pi = actor(TensorDict({"policy": s[:, :obs_dim]}, batch_size=[s.shape[0]]))
                    out_of_range = torch.relu(pi.abs() - 1.0)
                    actor_loss = -critic(s, pi)[0].mean() + config.action_bound_penalty * (
                        out_of_range ** 2).sum(-1).mean()
                    actor_opt.zero_grad()
                    actor_loss.backward()
                    actor_opt.step()
                    with torch.no_grad():
                        for p, pt in zip(actor.parameters(), actor_target.parameters(), strict=True):
                            pt.mul_(config.polyak).add_((1.0 - config.polyak) * p)
                        for p, pt in zip(critic.parameters(), critic_target.parameters(), strict=True):
                            pt.mul_(config.polyak).add_((1.0 - config.polyak) * p)
        updated = time.perf_counter()
        time_s["update"] += updated - collected

        if next_validation is not None and env_steps >= next_validation:
            next_validation += validator.interval * config.env_steps_per_iteration
            actor.eval()
            score = validator.score(actor, iteration_of(env_steps))
            actor.train()
            time_s["validation"] += time.perf_counter() - updated
            history.append(score)
            if score.better_than(best):
                best = score
                _save(actor, critic, run_dir / BEST_CHECKPOINT_NAME, iteration_of(env_steps), env_steps,
                      updates, time_s, best, history)
            write_best_record(run_dir, best, history)
            bar.set_postfix(updates=updates, last=score.label(), best=best.label())
        if env_steps >= next_save:
            next_save += config.save_interval * config.env_steps_per_iteration
            _save(actor, critic, checkpoint_path(run_dir, iteration_of(env_steps)), iteration_of(env_steps),
                  env_steps, updates, time_s, best, history)
    bar.close()
    last = _save(actor, critic, checkpoint_path(run_dir, iteration_of(env_steps)), iteration_of(env_steps),
                 env_steps, updates, time_s, best, history)
    return TD3Result(env_steps, updates, last, time_s, best)


def _save(
    actor: nn.Module, critic: nn.Module, path: Path, it: int, env_steps: int, updates: int,
    time_s: dict[str, float], best: AnyValidationScore | None, history: list[AnyValidationScore],
) -> Path:
    return save_actor_checkpoint(
        path, actor.state_dict(), it, "td3", {"td3_critic_state_dict": critic.state_dict()},
        {"env_steps": env_steps, "updates": updates, "time_s": dict(time_s),
         "best": None if best is None else vars(best), "validation_history": [vars(v) for v in history]},
    )
