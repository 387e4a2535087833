"""A training config shrunk to a few environments and steps, for tests that train (seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

from training.config import TrainConfig, default_config_path


def tiny_config(
    directory: Path,
    source: str | Path | None = None,
    save_interval: int | None = 1,
    validation_interval: int = 2,
) -> Path:
    """`source` (default: the shipped quadrotor-hover config) with 4 environments × 8 steps, one
    thread, one short PPO epoch and 4 validation episodes every `validation_interval` iterations;
    checkpoints every `save_interval` iterations (None: the source's). Written to DIRECTORY/tiny.yaml."""
    runner = {"num_steps_per_env": 8, "torch_threads": 1}
    if save_interval is not None:
        runner["save_interval"] = save_interval
    cfg = TrainConfig.from_yaml(source or default_config_path("quadrotor-hover")).with_overrides(
        env={"num_envs": 4},
        runner=runner,
        algorithm={"num_mini_batches": 2, "num_learning_epochs": 1},
        validation={"episodes": 4, "interval": validation_interval},
    )
    path = Path(directory) / "tiny.yaml"
    path.write_text(cfg.to_yaml())
    return path
