"""Train a policy with rsl_rl PPO: `train(task, run_dir, ...)` or `python -m training.train`.

A run directory holds everything about one run:
  config.yaml          the resolved configuration (hyperparameters, seed, engine)
  model_<k>.pt         checkpoints after k iterations (the last one is always written)
  events.out.tfevents* TensorBoard logs (rewards, success rate, losses, steps/s)
  model.txt            the actor and critic architecture
  summary.yaml         iterations, env steps, seconds (collection / update / validation) and the
                       last episodes' figures
  model_best.pt        the best checkpoint by validation (when the config has a validation
  best.yaml            section) and every validation score
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from deploy.actions import actuator_to_action
from training.checkpoints import latest_checkpoint, list_checkpoints, load_checkpoint
from training.config import ConfigError, RunRecord, TrainConfig, default_config_path
from training.policy import init_actor_output, previous_action_index
from training.rsl_rl_task_env import RslRlTaskEnv
from training.runner import LearnResult, TetherRunner
from training.tasks import make_env, make_rsl_rl_env, task_spec, tasks_supporting
from training.validation import Validator


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (the environment is seeded by its own seed argument).

    Tether's own numpy code uses seeded Generators; the legacy global seed is
    for third-party code that still draws from numpy's global RNG.
    """
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    torch.manual_seed(seed)


def train(
    task: str,
    run_dir: str | Path,
    config_path: str | Path | None = None,
    seed: int = 0,
    max_iterations: int | None = None,
    max_seconds: float | None = None,
    resume: bool = False,
    engine: str | None = None,
    *,
    num_envs: int | None = None,
    progress: bool = True,
) -> Path:
    """Train `task` into `run_dir`; returns the path of the final checkpoint.

    Stops after `max_iterations` iterations in total (default: the config's
    runner.max_iterations) or before `max_seconds` of wall-clock time since
    the call, whichever comes first, and always writes a checkpoint then.
    With resume=True the run continues from its latest checkpoint with the
    configuration, seed and engine recorded in run_dir/config.yaml
    (`max_iterations` may raise the total). `num_envs` overrides the
    config's env.num_envs (tests, small machines).
    """
    t_start = time.monotonic()
    deadline = None if max_seconds is None else t_start + float(max_seconds)
    run_dir = Path(run_dir)
    record, checkpoint = _prepare_run(task, run_dir, config_path, seed, engine, resume)
    overrides: dict[str, dict] = {}
    if max_iterations is not None:
        overrides["runner"] = {"max_iterations": int(max_iterations)}
    if num_envs is not None:
        overrides["env"] = {"num_envs": int(num_envs)}
    if overrides:
        record = RunRecord(record.config.with_overrides(**overrides), record.seed, record.engine,
                           record.source_config)
    run_dir.mkdir(parents=True, exist_ok=True)
    record.save(run_dir)
    if record.config.distillation is not None:
        return _train_teacher_student(task, run_dir, record, deadline, progress)
    if record.config.td3 is not None:
        return _train_td3(task, run_dir, record, deadline, progress)
    return _train_ppo(task, run_dir, record, checkpoint, deadline, progress, t_start)


def _train_ppo(
    task: str, run_dir: Path, record: RunRecord, checkpoint: Path | None, deadline: float | None,
    progress: bool, t_start: float,
) -> Path:
    """PPO on the run's config (a privileged teacher when policy.actor_sees_privileged)."""
    cfg = record.config
    seed_everything(record.seed)
    torch.set_num_threads(cfg.runner.torch_threads)
    infos = (load_checkpoint(checkpoint).get("infos") or {}) if checkpoint is not None else {}
    env, vec_env = _make_envs(task, record, record.seed, int(infos.get("next_episode_index", 0)))
    try:
        runner = TetherRunner(vec_env, cfg.to_rsl_rl(previous_action_index(env.contract)), run_dir)
        if checkpoint is not None:
            runner.load_checkpoint(checkpoint)
        elif cfg.policy.init_action_at_hover:
            _init_at_hover(runner.alg.get_policy(), env, cfg)
        runner.validator = _make_validator(task, record, env)
        (run_dir / "model.txt").write_text(runner.model_summary)
        result = runner.learn_until(
            cfg.runner.max_iterations, deadline, progress, cfg.algorithm.schedule,
            cfg.algorithm.lr_anneal_iterations,
        )
        _write_summary(run_dir, result, vec_env, runner, time.monotonic() - t_start)
    finally:
        vec_env.close()
    return result.checkpoint


def _init_at_hover(actor: torch.nn.Module, env: Any, cfg: TrainConfig) -> None:
    # each motor at the hover command; a ctbr task: the collective thrust that hovers, zero rates
    hover = env.config.hover_actuator_command()[None]
    mean = torch.as_tensor(actuator_to_action(env.contract, hover)[0], dtype=torch.float32)
    # With action feedback λ the fixed point of a = λ·a + bias is bias / (1 − λ).
    bias = mean * (1.0 - cfg.policy.action_feedback)
    init_actor_output(actor, bias, cfg.policy.last_layer_init_gain)


TEACHER_DIR_NAME = "teacher"


def teacher_record(record: RunRecord) -> RunRecord:
    """The record of a distillation run's teacher: the same config with a privileged actor."""
    config = record.config.with_overrides(policy={"actor_sees_privileged": True}, distillation=None)
    return RunRecord(config, record.seed, record.engine, record.source_config)


def _train_teacher_student(
    task: str, run_dir: Path, record: RunRecord, deadline: float | None, progress: bool
) -> Path:
    """Phase 1: PPO teacher into run_dir/teacher (continued if it stopped early, kept if done);
    phase 2: DAgger student into run_dir (always from scratch: it takes minutes)."""
    from training.distillation import TeacherPolicy, distill
    from training.policy import load_policy_module

    _require_trainer(task, "distillation")
    cfg = record.config
    teacher_dir = run_dir / TEACHER_DIR_NAME
    expected = teacher_record(record)
    if list_checkpoints(teacher_dir):
        found = RunRecord.load(teacher_dir)
        if found.config != expected.config or found.seed != expected.seed:
            raise ConfigError(
                f"{teacher_dir} holds a teacher trained with another config or seed than this run "
                f"asks for; remove it or choose a new run_dir"
            )
        checkpoint: Path | None = latest_checkpoint(teacher_dir)
    else:
        teacher_dir.mkdir(parents=True, exist_ok=True)
        expected.save(teacher_dir)
        checkpoint = None
    done = checkpoint is not None and int(load_checkpoint(checkpoint)["iter"]) >= cfg.runner.max_iterations
    if not done:
        _train_ppo(task, teacher_dir, expected, checkpoint, deadline, progress, time.monotonic())
    if deadline is not None and time.monotonic() >= deadline:
        raise TimeoutError(
            f"the time limit ended while the teacher trained ({teacher_dir}); resume to continue"
        )

    seed_everything(record.seed)
    torch.set_num_threads(cfg.runner.torch_threads)
    env, vec_env = _make_envs(task, record, record.seed + 1)
    try:
        teacher = TeacherPolicy(load_policy_module(teacher_dir, vec_env.get_observations(), env.contract))
        student = _new_actor(cfg, vec_env, env)
        started = time.monotonic()
        result = distill(vec_env, teacher, student, cfg.distillation, run_dir,
                         _make_validator(task, record, env), record.seed, progress)
        _write_actor_trainer_summary(
            run_dir, {"teacher": str(teacher_dir.name), "iterations": result.iterations_done,
                      "env_steps": result.env_steps},
            result.checkpoint, result.best, result.time_s, time.monotonic() - started,
            final_loss=result.final_loss,
        )
    finally:
        vec_env.close()
    return result.checkpoint


def _train_td3(task: str, run_dir: Path, record: RunRecord, deadline: float | None, progress: bool) -> Path:
    """TD3 from scratch (a resumed TD3 run starts again: its replay buffer is not checkpointed)."""
    from training.td3 import train_td3

    _require_trainer(task, "td3")
    cfg = record.config
    seed_everything(record.seed)
    torch.set_num_threads(cfg.runner.torch_threads)
    env, vec_env = _make_envs(task, record, record.seed)
    try:
        actor = _new_actor(cfg, vec_env, env)
        started = time.monotonic()
        result = train_td3(
            vec_env, actor, cfg.td3, cfg.policy.critic_hidden_dims, cfg.algorithm.gamma, run_dir,
            _make_validator(task, record, env), record.seed, progress, deadline,
        )
        _write_actor_trainer_summary(
            run_dir, {"trainer": "td3", "env_steps": result.env_steps, "updates": result.updates},
            result.checkpoint, result.best, result.time_s, time.monotonic() - started,
        )
    finally:
        vec_env.close()
    return result.checkpoint


def _make_envs(task: str, record: RunRecord, seed: int, first_episode: int = 0) -> tuple[Any, RslRlTaskEnv]:
    """The task's training environment (the run's env section, engine and `seed`) and its adapter."""
    env_cfg = record.config.env
    env = make_env(
        task, env_cfg.num_envs, env_cfg.randomization, record.engine, seed,
        start_at_target_fraction=env_cfg.start_at_target_fraction, task_config=env_cfg.task_config,
    )
    return env, make_rsl_rl_env(env, seed=seed, first_episode=first_episode)


def _make_validator(task: str, record: RunRecord, env: Any) -> Validator | None:
    """The run's best-checkpoint validator (None without a validation section)."""
    cfg = record.config
    if cfg.validation is None:
        return None
    validator_cls = task_spec(task).validator(cfg.policy.actor_sees_privileged)
    return validator_cls(
        cfg.validation.episodes, cfg.validation.seed, record.engine, env.randomization,
        cfg.validation.interval, task_config=env.config,
    )


def _new_actor(cfg: TrainConfig, vec_env: RslRlTaskEnv, env: Any) -> torch.nn.Module:
    """An untrained contract actor for the actor-only trainers, started at hover when configured."""
    from training.policy import build_actor

    actor = build_actor(cfg, vec_env.get_observations(), env.contract)
    if cfg.policy.init_action_at_hover:
        _init_at_hover(actor, env, cfg)
    return actor


def _write_actor_trainer_summary(
    run_dir: Path, fields: dict[str, Any], checkpoint: Path, best: Any, time_s: dict[str, float],
    wall_s: float, **extra: Any,
) -> None:
    """summary.yaml of a distillation or TD3 run (the PPO runner writes its own, _write_summary)."""
    summary = {
        **fields,
        "wall_clock_s_this_call": round(wall_s, 2),
        "checkpoint": checkpoint.name,
        "best": None if best is None else vars(best),
        "time_s": {k: round(v, 2) for k, v in time_s.items()},
        **extra,
    }
    (run_dir / "summary.yaml").write_text(yaml.safe_dump(summary, sort_keys=False))


def _require_trainer(task: str, trainer: str) -> None:
    if trainer not in task_spec(task).trainers:
        raise ConfigError(
            f"{trainer} is implemented for {', '.join(tasks_supporting(trainer))} only, not '{task}'"
        )


def _prepare_run(
    task: str, run_dir: Path, config_path: str | Path | None, seed: int, engine: str | None, resume: bool
) -> tuple[RunRecord, Path | None]:
    """The run's record and the checkpoint to resume from (None for a fresh run)."""
    if resume:
        record = RunRecord.load(run_dir)
        if record.config.task != task:
            raise ConfigError(f"cannot resume: {run_dir} trained task '{record.config.task}', not '{task}'")
        if config_path is not None and TrainConfig.from_yaml(config_path) != _without_overrides(record):
            raise ConfigError(
                f"cannot resume {run_dir} with {config_path}: its hyperparameters differ from the run's "
                f"config.yaml; resume without config_path, or start a new run_dir"
            )
        if record.config.distillation is not None or record.config.td3 is not None:
            # distillation: the teacher continues from its own checkpoints, the student restarts;
            # td3: starts again (the replay buffer is not checkpointed)
            return record, None
        checkpoint = latest_checkpoint(run_dir)
        load_checkpoint(checkpoint)  # a damaged file is refused here, before the run directory is touched
        return record, checkpoint
    if list_checkpoints(run_dir):
        raise FileExistsError(
            f"{run_dir} already holds checkpoints of a run; pass resume=True to continue it, "
            "or choose a new run_dir"
        )
    path = Path(config_path) if config_path is not None else default_config_path(task)
    config = TrainConfig.from_yaml(path)
    if config.task != task:
        raise ConfigError(f"{path} configures task '{config.task}', but training was asked for '{task}'")
    return RunRecord(config, int(seed), engine or config.env.engine, str(path)), None


def _without_overrides(record: RunRecord) -> TrainConfig:
    """The run's config with the fields train() may override reset to the source file's values."""
    source = Path(record.source_config)
    if not source.exists():
        return record.config
    original = TrainConfig.from_yaml(source)
    return record.config.with_overrides(
        runner={"max_iterations": original.runner.max_iterations},
        env={"num_envs": original.env.num_envs},
    )


def _write_summary(
    run_dir: Path, result: LearnResult, vec_env: RslRlTaskEnv, runner: TetherRunner, wall_s: float
) -> None:
    episodes = vec_env.recent_episodes()
    summary = {
        "iterations": result.iterations_done,
        "env_steps": result.env_steps,
        "stopped_by": result.stopped_by,
        "wall_clock_s_this_call": round(wall_s, 2),
        "checkpoint": result.checkpoint.name,
        "best": None if runner.best is None else vars(runner.best),
        # summed over the whole run, resumed calls included
        "time_s": {k: round(v, 2) for k, v in runner.time_s.items()},
        "recent_episodes": None if episodes is None else {
            k: (round(v, 5) if isinstance(v, float) else v) for k, v in vars(episodes).items()
        },
    }
    (run_dir / "summary.yaml").write_text(yaml.safe_dump(summary, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a Tether policy with rsl_rl PPO.")
    parser.add_argument("--task", default="quadrotor-hover")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--config", type=Path, default=None, help="training YAML (default: the task's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iterations", type=int, default=None)
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--num-envs", type=int, default=None)
    parser.add_argument("--engine", default=None, help="default: the config's env.engine")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    path = train(
        args.task, args.run_dir, args.config, seed=args.seed, max_iterations=args.max_iterations,
        max_seconds=args.max_seconds, resume=args.resume, engine=args.engine,
        num_envs=args.num_envs, progress=not args.no_progress,
    )
    print(f"checkpoint: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
