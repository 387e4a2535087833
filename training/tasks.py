"""Which simulation task a training run uses, by name: one registry of tasks.

The training code never hard-codes a task: a run names its task (the
contract's task name) and this registry gives everything task-specific that
training, validation, export and evaluation need. A new task registers one
TaskSpec here (its env factory with its default randomization, its rsl_rl
adapter, its validator, its `tether eval` entry point and the trainers it
supports); train.py, export and eval then work for it unchanged.

The adapters, validators and evaluators are imported when asked for, so
importing this module stays light and free of import cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.randomization.quadrotor import DEFAULT_CONFIG as DEFAULT_RANDOMIZATION
from sim.randomization.quadrotor import QuadrotorRandomization
from sim.tasks.quadrotor_hover import TASK_NAME as HOVER_TASK
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
from sim.tasks.quadruped_walk import TASK_NAME as WALK_TASK
from sim.tasks.quadruped_walk import QuadrupedWalkEnv


@dataclass(frozen=True)
class TaskSpec:
    """What a training run needs to know about one task."""

    name: str
    #: (num_envs, randomization spec, engine, seed, autoreset, start_at_target_fraction,
    #:  task_config path or None) → env
    make_env: Callable[..., Any]
    #: () → the rsl_rl adapter class (training.rsl_rl_task_env.RslRlTaskEnv subclass)
    adapter: Callable[[], type]
    #: (actor_sees_privileged) → the validator class (training.validation)
    validator: Callable[[bool], type]
    #: () → `tether eval --task <name>`'s entry point, run_cli(args) → exit code
    eval_cli: Callable[[], Callable[[Any], int]]
    #: trainers besides PPO this task supports ("distillation", "td3")
    trainers: frozenset[str] = frozenset()


def task_config_path(spec: str) -> Path:
    """The task YAML a training config names (env.task_config); a clear error when it is missing."""
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(
            f"env.task_config: no task file at '{spec}' (resolved {path.resolve()}); give a path to a "
            "task YAML such as sim/tasks/quadrotor_hover.yaml, or leave the key out for the task's default"
        )
    return path


def resolve_randomization_path(spec: str | None) -> Path | None:
    """'default' → the shipped default ranges, None → randomization off, else a YAML path."""
    if spec is None:
        return None
    if spec == "default":
        return DEFAULT_RANDOMIZATION
    return Path(spec)


def _make_hover_env(
    num_envs: int, randomization: str | None, engine: str, seed: int, autoreset: bool,
    start_at_target_fraction: float, task_config: str | None,
) -> QuadrotorHoverEnv:
    from sim.tasks.quadrotor_hover import HoverConfig

    path = resolve_randomization_path(randomization)
    rand = None if path is None else QuadrotorRandomization.from_yaml(path)
    config = None if task_config is None else HoverConfig.from_yaml(task_config_path(task_config))
    return QuadrotorHoverEnv(
        num_envs, config=config, randomization=rand, engine=engine, seed=seed, autoreset=autoreset,
        start_at_target_fraction=start_at_target_fraction,
    )


def _make_quadruped_env(
    num_envs: int, randomization: str | None, engine: str, seed: int, autoreset: bool,
    start_at_target_fraction: float, task_config: str | None,
) -> QuadrupedWalkEnv:
    from sim.randomization.quadruped import DEFAULT_CONFIG as QUADRUPED_RANDOMIZATION
    from sim.randomization.quadruped import QuadrupedRandomization
    from sim.tasks.quadruped_walk import WalkConfig

    if start_at_target_fraction != 0.0:
        raise ValueError(
            "env.start_at_target_fraction applies to quadrotor-hover only; set it to 0 (or leave "
            f"it out) for quadruped-walk, found {start_at_target_fraction}"
        )
    if randomization == "default":
        path: Path | None = QUADRUPED_RANDOMIZATION
    else:
        path = resolve_randomization_path(randomization)
    rand = None if path is None else QuadrupedRandomization.from_yaml(path)
    config = None if task_config is None else WalkConfig.from_yaml(task_config_path(task_config))
    return QuadrupedWalkEnv(
        num_envs, config=config, randomization=rand, engine=engine, seed=seed, autoreset=autoreset
    )


def _hover_adapter() -> type:
    from training.rsl_rl_env import RslRlHoverEnv

    return RslRlHoverEnv


def _walk_adapter() -> type:
    from training.rsl_rl_env_quadruped import RslRlQuadrupedEnv

    return RslRlQuadrupedEnv


def _hover_validator(actor_sees_privileged: bool) -> type:
    from training.validation import PrivilegedValidator, Validator

    return PrivilegedValidator if actor_sees_privileged else Validator


def _walk_validator(actor_sees_privileged: bool) -> type:
    from training.validation import WalkValidator

    return WalkValidator


def _hover_eval_cli() -> Callable[[Any], int]:
    from training.evaluation import run_cli

    return run_cli


def _walk_eval_cli() -> Callable[[Any], int]:
    from training.evaluation_quadruped import run_cli

    return run_cli


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(HOVER_TASK, _make_hover_env, _hover_adapter, _hover_validator, _hover_eval_cli,
                 trainers=frozenset({"distillation", "td3"})),
        TaskSpec(WALK_TASK, _make_quadruped_env, _walk_adapter, _walk_validator, _walk_eval_cli),
    )
}
KNOWN_TASKS = tuple(TASKS)


def task_spec(task: str) -> TaskSpec:
    """The registered task `task`; a clear error naming the known tasks otherwise."""
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task '{task}'; known tasks: {list(KNOWN_TASKS)}") from None


def tasks_supporting(trainer: str) -> list[str]:
    """Names of the tasks that can be trained with `trainer` ("distillation", "td3")."""
    return [name for name, spec in TASKS.items() if trainer in spec.trainers]


def make_env(
    task: str,
    num_envs: int,
    randomization: str | None = "default",
    engine: str = "mujoco",
    seed: int = 0,
    autoreset: bool = True,
    start_at_target_fraction: float = 0.0,
    task_config: str | None = None,
) -> Any:
    """The vector environment of `task` with `num_envs` copies.

    `start_at_target_fraction` (training only) is the share of episodes that start at the
    hover target at rest; the quadruped has no target and refuses anything but 0.
    `task_config` is a task YAML to use instead of the task's default file (None).
    """
    spec = task_spec(task)
    return spec.make_env(
        num_envs, randomization, engine, seed, autoreset, start_at_target_fraction, task_config
    )


def make_rsl_rl_env(env: Any, seed: int = 0, first_episode: int = 0) -> Any:
    """The rsl_rl VecEnv adapter for a task's environment (by its contract's task name)."""
    return task_spec(env.contract.task).adapter()(env, seed=seed, first_episode=first_episode)
