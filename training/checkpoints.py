"""Checkpoint files of a run: model_<iterations done>.pt, written atomically."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

_PATTERN = re.compile(r"^model_(\d+)\.pt$")


def checkpoint_path(run_dir: str | Path, iterations_done: int) -> Path:
    return Path(run_dir) / f"model_{iterations_done}.pt"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """All checkpoints of a run, oldest (fewest iterations) first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := _PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint with the most iterations; a clear error when the run has none."""
    found = list_checkpoints(run_dir)
    if not found:
        raise FileNotFoundError(
            f"no checkpoint (model_<iteration>.pt) in {run_dir}; train first "
            "(training.train.train) or point to the run directory that holds them"
        )
    return found[-1]


def save_atomic(data: dict[str, Any], path: Path) -> None:
    """torch.save through a temporary file, so a crash never leaves a truncated checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read back (truncated, corrupt, or not a Tether checkpoint)."""


#: What every checkpoint written by the PPO runner holds.
REQUIRED_KEYS = ("actor_state_dict", "critic_state_dict", "optimizer_state_dict", "iter")
#: What checkpoints of the other trainers hold at least (infos["trainer"]: "distillation", "td3").
REQUIRED_KEYS_ACTOR_ONLY = ("actor_state_dict", "iter")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint's contents; CheckpointError names the file and what is wrong with it."""
    path = Path(path)
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")  # tensors and plain data only
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises several types for damaged files
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc}); it is truncated or corrupt. "
            "Delete it to resume from the previous checkpoint of the run, or start a new run directory"
        ) from exc
    trainer = (data.get("infos") or {}).get("trainer", "ppo") if isinstance(data, dict) else "ppo"
    required = REQUIRED_KEYS if trainer == "ppo" else REQUIRED_KEYS_ACTOR_ONLY
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if missing:
        raise CheckpointError(
            f"{path} is not a training checkpoint: it lacks {missing}; expected a model_<iteration>.pt "
            "written by `tether train`"
        )
    return data


def save_actor_checkpoint(
    path: Path, actor_state: dict[str, Any], iteration: int, trainer: str, extra_state: dict[str, Any],
    infos: dict[str, Any],
) -> Path:
    """A checkpoint of a trainer other than PPO (REQUIRED_KEYS_ACTOR_ONLY): the actor, the trainer's
    own state under its own keys, and infos["trainer"] naming it. Written atomically."""
    data: dict[str, Any] = {
        "actor_state_dict": actor_state, "iter": iteration, **extra_state,
        "infos": {"trainer": trainer, **infos},
    }
    save_atomic(data, path)
    return path
