"""Which simulation task a training run uses, by name.

The training code never hard-codes a task class: a run names its task (the
contract's task name) and this registry builds the environment for it.
"""

from __future__ import annotations

from pathlib import Path

from sim.randomization.quadrotor import DEFAULT_CONFIG as DEFAULT_RANDOMIZATION
from sim.randomization.quadrotor import QuadrotorRandomization
from sim.tasks.quadrotor_hover import TASK_NAME as HOVER_TASK
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv

KNOWN_TASKS = (HOVER_TASK,)


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
) -> QuadrotorHoverEnv:
    """The vector environment of `task` with `num_envs` copies."""
    if task != HOVER_TASK:
        raise ValueError(f"unknown task '{task}'; known tasks: {list(KNOWN_TASKS)}")
    path = resolve_randomization_path(randomization)
    rand = None if path is None else QuadrotorRandomization.from_yaml(path)
    return QuadrotorHoverEnv(num_envs, randomization=rand, engine=engine, seed=seed, autoreset=autoreset)
