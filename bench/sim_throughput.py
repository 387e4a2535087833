"""Environment-steps per second of the batched MuJoCo engine vs. a plain Python loop.

The baseline steps single-environment engines one after another (what a
naive implementation does: one rollout call per environment per control
step). Both run in the same process, back to back, on the same vehicle and
hover command, so the ratio is meaningful on a noisy machine.
Run: `tether bench sim-throughput [--json FILE]` or `python -m bench.sim_throughput`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np

from deploy.robot_state import RobotState
from sim.engines.mujoco_engine import MujocoQuadrotorEngine
from sim.tasks.quadrotor_hover import HoverConfig

ENV_COUNTS = (1, 64, 1024)
NAIVE_ENVS = 64


def _hover_state(n: int) -> RobotState:
    return RobotState(
        base_pos_m=np.tile([0.0, 0.0, 2.0], (n, 1)),
        base_quat_wxyz=np.tile([1.0, 0, 0, 0], (n, 1)),
        base_lin_vel_m_s=np.zeros((n, 3)),
        base_ang_vel_rad_s=np.zeros((n, 3)),
        last_action=np.zeros((n, 0)),
        command=np.zeros((n, 0)),
    )


def _batched(n: int, steps: int, config: HoverConfig) -> float:
    p = config.nominal_params()
    with MujocoQuadrotorEngine([p] * n, config.control_dt_s, config.physics_dt_s) as eng:
        eng.reset(np.arange(n), [p] * n, _hover_state(n), p.hover_command)
        cmd = np.full((n, p.num_motors), p.hover_command)
        eng.step(cmd)  # warm-up (thread pool start)
        t0 = time.perf_counter()
        for _ in range(steps):
            eng.step(cmd)
        return n * steps / (time.perf_counter() - t0)


def _naive(n: int, steps: int, config: HoverConfig) -> float:
    p = config.nominal_params()
    engines = [
        MujocoQuadrotorEngine([p], config.control_dt_s, config.physics_dt_s, nthread=1) for _ in range(n)
    ]
    for e in engines:
        e.reset(np.arange(1), [p], _hover_state(1), p.hover_command)
    cmd = np.full((1, p.num_motors), p.hover_command)
    t0 = time.perf_counter()
    for _ in range(steps):
        for e in engines:
            e.step(cmd)
    rate = n * steps / (time.perf_counter() - t0)
    for e in engines:
        e.close()
    return rate


def machine_description() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def run(json_path: str | None = None, seconds_per_case: float = 2.0) -> dict[str, Any]:
    config = HoverConfig.from_yaml()
    result: dict[str, Any] = {
        "env_steps_per_s": {},
        "machine": machine_description(),
        "physics_substeps": round(config.control_dt_s / config.physics_dt_s),
    }
    print(
        f"sim-throughput: quadrotor hover, MuJoCo, {result['physics_substeps']} physics substeps per "
        f"control step, on {result['machine']}"
    )
    for n in ENV_COUNTS:
        probe = max(5, int(200 / n))
        rate = _batched(n, probe, config)
        steps = max(10, int(seconds_per_case * rate / n))
        rate = _batched(n, steps, config)
        result["env_steps_per_s"][str(n)] = rate
        print(f"  batched, {n:5d} envs: {rate:12,.0f} env-steps/s")
    rate = _naive(NAIVE_ENVS, 20, config)
    rate = _naive(NAIVE_ENVS, max(10, int(seconds_per_case * rate / NAIVE_ENVS)), config)
    result["naive_env_steps_per_s"] = rate
    result["naive_envs"] = NAIVE_ENVS
    print(f"  naive Python loop of single-env steps ({NAIVE_ENVS} envs): {rate:12,.0f} env-steps/s")
    for n in ENV_COUNTS:
        print(f"  speed-up at {n:5d} envs: {result['env_steps_per_s'][str(n)] / rate:6.1f}×")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {json_path}")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the figures to this JSON file")
    args = ap.parse_args(argv)
    run(args.json)


if __name__ == "__main__":
    main()
