"""Which simulation task a training run uses, by name.

The training code never hard-codes a task class: a run names its task (the
contract's task name) and this registry builds the environment for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.randomization.quadrotor import DEFAULT_CONFIG as DEFAULT_RANDOMIZATION
from sim.randomization.quadrotor import QuadrotorRandomization
from sim.tasks.quadrotor_hover import TASK_NAME as HOVER_TASK
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
from sim.tasks.quadruped_walk import QuadrupedWalkEnv

KNOWN_TASKS = (HOVER_TASK, "quadruped-walk")


def resolve_randomization_path(spec: str | None) -> Path | None:
    """'default' → the shipped default ranges, None → randomization off, else a YAML path."""
    if spec is None:
        return None
    if spec == "default":
        return DEFAULT_RANDOMIZATION
    return Path(spec)


def make_env(
    task: str,
    num_envs: int,
    randomization: str | None = "default",
    engine: str = "mujoco",
    seed: int = 0,
    autoreset: bool = True,
    start_at_target_fraction: float = 0.0,
) -> QuadrotorHoverEnv | QuadrupedWalkEnv:
    """The vector environment of `task` with `num_envs` copies.

    `start_at_target_fraction` (training only) is the share of episodes that start at the
    hover target at rest; the quadruped has no target and refuses anything but 0.
    """
    if task == "quadruped-walk":
        if start_at_target_fraction != 0.0:
            raise ValueError(
                "env.start_at_target_fraction applies to quadrotor-hover only; set it to 0 (or leave "
                f"it out) for quadruped-walk, found {start_at_target_fraction}"
            )
        return _make_quadruped_env(num_envs, randomization, engine, seed, autoreset)
    if task != HOVER_TASK:
        raise ValueError(f"unknown task '{task}'; known tasks: {list(KNOWN_TASKS)}")
    path = resolve_randomization_path(randomization)
    rand = None if path is None else QuadrotorRandomization.from_yaml(path)
    return QuadrotorHoverEnv(
        num_envs, randomization=rand, engine=engine, seed=seed, autoreset=autoreset,
        start_at_target_fraction=start_at_target_fraction,
    )


def _make_quadruped_env(
    num_envs: int, randomization: str | None, engine: str, seed: int, autoreset: bool
) -> QuadrupedWalkEnv:
    from sim.randomization.quadruped import DEFAULT_CONFIG as QUADRUPED_RANDOMIZATION
    from sim.randomization.quadruped import QuadrupedRandomization

    if randomization == "default":
        path: Path | None = QUADRUPED_RANDOMIZATION
    else:
        path = resolve_randomization_path(randomization)
    rand = None if path is None else QuadrupedRandomization.from_yaml(path)
    return QuadrupedWalkEnv(num_envs, randomization=rand, engine=engine, seed=seed, autoreset=autoreset)


def make_rsl_rl_env(env: Any, seed: int = 0, first_episode: int = 0) -> Any:
    """The rsl_rl VecEnv adapter for a task's environment (quadrotor or quadruped)."""
    if isinstance(env, QuadrupedWalkEnv):
        from training.rsl_rl_env_quadruped import RslRlQuadrupedEnv

        return RslRlQuadrupedEnv(env, seed=seed, first_episode=first_episode)
    from training.rsl_rl_env import RslRlHoverEnv

    return RslRlHoverEnv(env, seed=seed, first_episode=first_episode)
