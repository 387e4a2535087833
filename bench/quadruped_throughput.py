"""Quadruped simulation throughput: batched MuJoCo engine and the full quadruped-walk task.

Prints, for each environment count, control steps per second (50 Hz policy
steps, 4 physics steps each) of (1) the batched engine alone, (2) the whole
task step (randomized robots, observations, rewards, pushes, resets), (3) the
whole training loop (`tether train quadruped-walk` with the default config at
that environment count for a few iterations: rollouts with the policy's
inference, then the PPO update), with the split of an iteration between
collection and update, and (4) the naive baseline: single-environment engines
stepped one after another in a Python loop, measured in the same run so the
ratio is meaningful on a shared machine. Actions are zeros (the PD stand) for
(1) and (2), so robots stay up and every step costs the same as in training.
Run: `tether bench quadruped-throughput [--env-counts 256,1024] [--seconds 5]
[--loop-iterations 5] [--config YAML] [--json FILE]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deploy.robot_state import RobotState
from sim.engines.mujoco_quadruped_engine import MujocoQuadrupedEngine
from sim.randomization.quadruped import QuadrupedRandomization
from sim.robots.quadruped import JOINT_NAMES, QuadrupedParams
from sim.tasks.quadruped_walk import QuadrupedWalkEnv, WalkConfig

NAIVE_ENVS = 16


def _standing(params: QuadrupedParams, n: int) -> RobotState:
    return RobotState(
        base_pos_m=np.tile([0.0, 0.0, params.standing_height_m()], (n, 1)),
        base_quat_wxyz=np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)),
        base_lin_vel_m_s=np.zeros((n, 3)),
        base_ang_vel_rad_s=np.zeros((n, 3)),
        last_action=np.zeros((n, 0)),
        command=np.zeros((n, 0)),
        joint_names=JOINT_NAMES,
        joint_pos_rad=np.tile(params.default_joint_pos_rad, (n, 1)),
        joint_vel_rad_s=np.zeros((n, len(JOINT_NAMES))),
    )


def _rate(step: Any, envs_per_call: int, seconds: float) -> float:
    """Environment (control) steps per second of `step()` over about `seconds`."""
    step()  # warm-up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        calls += 1
    return calls * envs_per_call / (time.perf_counter() - start)


def engine_rate(config: WalkConfig, n: int, seconds: float) -> float:
    params = config.nominal_params()
    with MujocoQuadrupedEngine([params] * n, config.control_dt_s, config.physics_dt_s) as eng:
        eng.reset(np.arange(n), [params] * n, _standing(params, n))
        target = np.tile(params.default_joint_pos_rad, (n, 1))
        return _rate(lambda: eng.step(target), n, seconds)


def naive_rate(config: WalkConfig, seconds: float) -> float:
    params = config.nominal_params()
    engines = [MujocoQuadrupedEngine([params], config.control_dt_s, config.physics_dt_s, nthread=1)
               for _ in range(NAIVE_ENVS)]
    try:
        target = np.asarray(params.default_joint_pos_rad)[None]
        for eng in engines:
            eng.reset(np.array([0]), [params], _standing(params, 1))

        def step_all() -> None:
            for eng in engines:
                eng.step(target)

        return _rate(step_all, NAIVE_ENVS, seconds)
    finally:
        for eng in engines:
            eng.close()


def task_rate(config: WalkConfig, n: int, seconds: float) -> float:
    env = QuadrupedWalkEnv(n, config=config, randomization=QuadrupedRandomization.from_yaml(), seed=0)
    try:
        env.reset(seed=0)
        zeros = np.zeros((n, env.contract.action_size))
        return _rate(lambda: env.step(zeros), n, seconds)
    finally:
        env.close()


def loop_rate(n: int, iterations: int, config_path: str | Path | None = None) -> dict[str, float]:
    """The training loop at `n` environments: env steps per second of collection + update (the
    time `tether train` spends outside set-up and checkpoints), and the per-iteration split."""
    from training.config import default_config_path
    from training.train import train

    source = Path(config_path) if config_path is not None else default_config_path("quadruped-walk")
    cfg = yaml.safe_load(source.read_text())
    cfg["env"]["num_envs"] = n
    with tempfile.TemporaryDirectory(prefix="tether-qbench-") as tmp:
        path = Path(tmp) / "ppo.yaml"
        path.write_text(yaml.safe_dump(cfg))
        train("quadruped-walk", Path(tmp) / "run", path, seed=0, max_iterations=iterations, progress=False)
        summary = yaml.safe_load((Path(tmp) / "run" / "summary.yaml").read_text())
    t = summary["time_s"]
    busy_s = float(t["collection"]) + float(t["update"])
    return {
        "loop_env_steps_per_s": summary["env_steps"] / busy_s,
        "collection_s_per_iteration": float(t["collection"]) / summary["iterations"],
        "update_s_per_iteration": float(t["update"]) / summary["iterations"],
        "env_steps_per_iteration": summary["env_steps"] / summary["iterations"],
    }


def run(
    env_counts: Sequence[int], seconds: float, loop_iterations: int = 5, config_path: str | None = None
) -> dict[str, Any]:
    config = WalkConfig.from_yaml()
    substeps = round(config.control_dt_s / config.physics_dt_s)
    naive = naive_rate(config, seconds)
    rows = []
    for n in env_counts:
        eng = engine_rate(config, n, seconds)
        task = task_rate(config, n, seconds)
        row = {
            "num_envs": n,
            "engine_env_steps_per_s": eng,
            "engine_physics_steps_per_s": eng * substeps,
            "task_env_steps_per_s": task,
            "engine_vs_naive": eng / naive,
        }
        if loop_iterations > 0:
            row.update(loop_rate(n, loop_iterations, config_path))
        rows.append(row)
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "training_config": str(config_path or "default"),
        "physics_steps_per_env_step": substeps,
        "naive_env_steps_per_s": naive,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env-counts", default="64,256", help="comma-separated (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=5.0, help="per measurement (default: %(default)s)")
    ap.add_argument("--loop-iterations", type=int, default=5,
                    help="training iterations timed per environment count; 0: no loop (default: %(default)s)")
    ap.add_argument("--config", default=None, help="training YAML for the loop (default: the task's)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    if args.loop_iterations < 0:
        ap.error(f"--loop-iterations must be ≥ 0, found {args.loop_iterations}")
    counts = [int(x) for x in args.env_counts.split(",")]
    result = run(counts, args.seconds, args.loop_iterations, args.config)
    print(f"naive loop of {NAIVE_ENVS} single-environment engines: "
          f"{result['naive_env_steps_per_s']:.0f} env steps/s")
    for r in result["rows"]:
        print(
            f"{r['num_envs']:5d} envs: engine {r['engine_env_steps_per_s']:8.0f} env steps/s "
            f"({r['engine_physics_steps_per_s']:.0f} physics steps/s, {r['engine_vs_naive']:.1f}x naive), "
            f"task step {r['task_env_steps_per_s']:8.0f} env steps/s"
            + (
                f", training loop {r['loop_env_steps_per_s']:8.0f} env steps/s "
                f"(per iteration: collection {r['collection_s_per_iteration']:.2f} s, "
                f"update {r['update_s_per_iteration']:.2f} s)"
                if "loop_env_steps_per_s" in r else ""
            )
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
