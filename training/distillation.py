"""Teacher-student distillation (DAgger): a privileged teacher labels the states a student visits.

Why (RAPTOR's recipe, ../README "Hover training"): a hover policy that only
sees the robot's observations must infer an unknown mass, thrust or constant
wind from its recent history and integral, and PPO learns that inference
slowly through a 1-s discount horizon. A teacher whose actor also sees the
simulation-only state (vehicle parameters, disturbance, rotor speeds, delay
queue; `policy.actor_sees_privileged`) can compensate directly. The student
is the contract actor, the one exported; it learns by supervised regression
onto the teacher's action in the states the student itself reaches (DAgger:
the teacher would never show it how to recover from its own mistakes).

Each iteration collects `steps_per_iteration` control steps from every
environment, acting with the teacher with probability β (falling linearly
from `teacher_action_fraction_start` to 0 over `teacher_action_iterations`)
and with the student otherwise, appends (student observation, teacher
action) to a buffer of the last `buffer_iterations` iterations, and fits the
student for `epochs` passes of mean-squared error. The student is validated
like a PPO actor and checkpointed in the same format, so `tether export`,
`tether eval` and the gate treat it like any other run.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tensordict import TensorDict
from tqdm import tqdm

from training.checkpoints import checkpoint_path, save_actor_checkpoint
from training.config import DistillationConfig
from training.policy import DeterministicPolicy
from training.rsl_rl_env import RslRlHoverEnv
from training.validation import BEST_CHECKPOINT_NAME, AnyValidationScore, Validator, write_best_record


@dataclass
class DistillationResult:
    iterations_done: int
    env_steps: int
    checkpoint: Path
    time_s: dict[str, float]
    best: AnyValidationScore | None
    final_loss: float


class TeacherPolicy(torch.nn.Module):
    """A privileged actor as a function of the full observation TensorDict (policy + critic)."""

    def __init__(self, actor: torch.nn.Module) -> None:
        super().__init__()
        self.policy = DeterministicPolicy(actor)

    def forward(self, obs: TensorDict) -> torch.Tensor:
        return self.policy(torch.cat([obs["policy"], obs["critic"]], dim=-1))


def distill(
    env: RslRlHoverEnv,
    teacher: TeacherPolicy,
    student: torch.nn.Module,
    config: DistillationConfig,
    run_dir: Path,
    validator: Validator | None,
    seed: int,
    progress: bool = True,
) -> DistillationResult:
    """Fit `student` (an rsl_rl MLPModel over the "policy" group) to `teacher` by DAgger."""
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(student.parameters(), lr=config.learning_rate)
    buffer_obs: deque[torch.Tensor] = deque(maxlen=config.buffer_iterations)
    buffer_act: deque[torch.Tensor] = deque(maxlen=config.buffer_iterations)
    time_s = {"collection": 0.0, "update": 0.0, "validation": 0.0}
    best: AnyValidationScore | None = None
    history: list[AnyValidationScore] = []
    env_steps, loss_value = 0, float("nan")
    obs = env.get_observations()
    teacher.eval()
    bar = tqdm(total=config.iterations, unit="it", disable=not progress, desc="distill")
    for it in range(1, config.iterations + 1):
        started = time.perf_counter()
        beta = config.teacher_action_fraction(it - 1)
        student.train()
        new_obs, new_act = [], []
        with torch.inference_mode():
            for _ in range(config.steps_per_iteration):
                student.update_normalization(obs)
                target = teacher(obs)
                own = student(obs)
                use_teacher = torch.from_numpy(rng.random(env.num_envs) < beta)[:, None]
                new_obs.append(obs["policy"].clone())
                new_act.append(target.clone())
                obs, _, _, _ = env.step(torch.where(use_teacher, target, own))
        buffer_obs.append(torch.cat(new_obs))
        buffer_act.append(torch.cat(new_act))
        env_steps += config.steps_per_iteration * env.num_envs
        collected = time.perf_counter()
        loss_value = _fit(student, optimizer, torch.cat(list(buffer_obs)), torch.cat(list(buffer_act)),
                          config, rng)
        updated = time.perf_counter()
        time_s["collection"] += collected - started
        time_s["update"] += updated - collected
        if validator is not None and (it % validator.interval == 0 or it == config.iterations):
            student.eval()
            score = validator.score(student, it)
            time_s["validation"] += time.perf_counter() - updated
            history.append(score)
            if score.better_than(best):
                best = score
                _save(student, optimizer, run_dir / BEST_CHECKPOINT_NAME, it, env_steps, time_s, best,
                      history)
            write_best_record(run_dir, best, history)
        if it % config.save_interval == 0:
            _save(student, optimizer, checkpoint_path(run_dir, it), it, env_steps, time_s, best,
                  history)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.2e}", beta=f"{beta:.2f}",
                        best="-" if best is None else best.label())
    bar.close()
    last = _save(student, optimizer, checkpoint_path(run_dir, config.iterations), config.iterations,
                 env_steps, time_s, best, history)
    return DistillationResult(config.iterations, env_steps, last, time_s, best, loss_value)


def _fit(
    student: torch.nn.Module, optimizer: torch.optim.Optimizer, obs: torch.Tensor, act: torch.Tensor,
    config: DistillationConfig, rng: np.random.Generator,
) -> float:
    """`config.epochs` passes of minibatch MSE between the student's mean action and the teacher's."""
    n = obs.shape[0]
    total, batches = 0.0, 0
    for _ in range(config.epochs):
        order = torch.from_numpy(rng.permutation(n))
        for start in range(0, n, config.minibatch_size):
            idx = order[start : start + config.minibatch_size]
            batch = TensorDict({"policy": obs[idx]}, batch_size=[idx.numel()])
            loss = torch.mean((student(batch) - act[idx]) ** 2)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), config.max_grad_norm)
            optimizer.step()
            total += float(loss.detach())
            batches += 1
    return total / max(batches, 1)


def _save(
    student: torch.nn.Module, optimizer: torch.optim.Optimizer, path: Path, it: int, env_steps: int,
    time_s: dict[str, float], best: AnyValidationScore | None, history: list[AnyValidationScore],
) -> Path:
    return save_actor_checkpoint(
        path, student.state_dict(), it, "distillation",
        {"student_optimizer_state_dict": optimizer.state_dict()},
        {"env_steps": env_steps, "time_s": dict(time_s), "best": None if best is None else vars(best),
         "validation_history": [vars(v) for v in history]},
    )
