"""Environment-steps per second of the batched engines (MuJoCo, PyBullet, analytic) vs. a plain Python loop.

For each engine, the baseline steps single-environment engines one after
another (what a naive implementation does: one rollout call, or one PyBullet
world, per environment per control step). Everything runs in the same
process, back to back, on the same vehicle and hover command, so the ratios
(batched vs. naive, PyBullet vs. MuJoCo) are meaningful on a noisy machine.
Rates are wall-clock: the MuJoCo engine steps on two threads, PyBullet and
the analytic engine (numpy, training only) on the calling thread.
Run: `tether bench sim-throughput [--engines mujoco,pybullet,analytic] [--env-counts 1,64,1024] [--json FILE]`
or `python -m bench.sim_throughput`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deploy.robot_state import RobotState
from sim.engines.base import Engine
from sim.engines.mujoco_engine import MujocoQuadrotorEngine
from sim.tasks.quadrotor_hover import HoverConfig

ENGINES = ("mujoco", "pybullet", "analytic")
ENV_COUNTS = (1, 64, 1024)
#: Single-environment engines in the naive baseline. PyBullet's are fewer because every
#: PyBullet client allocates about 35 MB (sim/engines/pybullet_engine.py): 8 keep the
#: baseline under 300 MB while training runs beside it.
NAIVE_ENVS = {"mujoco": 64, "pybullet": 8, "analytic": 64}
#: Display names in the ratio lines.
ENGINE_LABELS = {"mujoco": "MuJoCo", "pybullet": "PyBullet", "analytic": "analytic"}


def _hover_state(n: int) -> RobotState:
    return RobotState(
        base_pos_m=np.tile([0.0, 0.0, 2.0], (n, 1)),
        base_quat_wxyz=np.tile([1.0, 0, 0, 0], (n, 1)),
        base_lin_vel_m_s=np.zeros((n, 3)),
        base_ang_vel_rad_s=np.zeros((n, 3)),
        last_action=np.zeros((n, 0)),
        command=np.zeros((n, 0)),
    )


def _engine_class(engine: str) -> type[Engine]:
    if engine == "mujoco":
        return MujocoQuadrotorEngine
    if engine == "pybullet":
        from sim.engines.pybullet_engine import PybulletQuadrotorEngine

        return PybulletQuadrotorEngine
    if engine == "analytic":
        from sim.engines.analytic_engine import AnalyticQuadrotorEngine

        return AnalyticQuadrotorEngine
    raise ValueError(f"unknown engine '{engine}'; expected some of {list(ENGINES)}, comma-separated")


def _batched(engine: str, n: int, steps: int, config: HoverConfig) -> float:
    p = config.nominal_params()
    with _engine_class(engine)([p] * n, config.control_dt_s, config.physics_dt_s) as eng:
        eng.reset(np.arange(n), [p] * n, _hover_state(n), p.hover_command)
        cmd = np.full((n, p.num_motors), p.hover_command)
        eng.step(cmd)  # warm-up (thread pool start)
        t0 = time.perf_counter()
        for _ in range(steps):
            eng.step(cmd)
        return n * steps / (time.perf_counter() - t0)


def _naive(engine: str, n: int, steps: int, config: HoverConfig) -> float:
    p = config.nominal_params()
    cls = _engine_class(engine)
    threads = {} if engine == "analytic" else {"nthread": 1}  # the analytic engine has no thread pool
    engines = [cls([p], config.control_dt_s, config.physics_dt_s, **threads) for _ in range(n)]
    try:
        for e in engines:
            e.reset(np.arange(1), [p], _hover_state(1), p.hover_command)
        cmd = np.full((1, p.num_motors), p.hover_command)
        t0 = time.perf_counter()
        for _ in range(steps):
            for e in engines:
                e.step(cmd)
        return n * steps / (time.perf_counter() - t0)
    finally:
        for e in engines:
            e.close()


def machine_description() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def _measure_engine(
    engine: str, env_counts: Sequence[int], seconds_per_case: float, config: HoverConfig
) -> dict[str, Any]:
    """One engine's figures: batched at each environment count, then the naive loop."""
    figures: dict[str, Any] = {"env_steps_per_s": {}}
    print(f"  {engine}:")
    for n in env_counts:
        probe = max(5, int(200 / n))
        rate = _batched(engine, n, probe, config)
        steps = max(10, int(seconds_per_case * rate / n))
        rate = _batched(engine, n, steps, config)
        figures["env_steps_per_s"][str(n)] = rate
        print(f"    batched, {n:5d} envs: {rate:12,.0f} env-steps/s")
    naive_envs = NAIVE_ENVS[engine]
    rate = _naive(engine, naive_envs, 20, config)
    rate = _naive(engine, naive_envs, max(10, int(seconds_per_case * rate / naive_envs)), config)
    figures["naive_env_steps_per_s"] = rate
    figures["naive_envs"] = naive_envs
    print(f"    naive Python loop of single-env steps ({naive_envs} envs): {rate:12,.0f} env-steps/s")
    for n in env_counts:
        print(f"    speed-up at {n:5d} envs: {figures['env_steps_per_s'][str(n)] / rate:6.1f}×")
    return figures


def run(
    json_path: str | None = None,
    seconds_per_case: float = 2.0,
    engines: Sequence[str] = ENGINES,
    env_counts: Sequence[int] = ENV_COUNTS,
) -> dict[str, Any]:
    """Measure each engine in turn in this process; print the figures and return them (JSON-ready).

    The JSON keeps its original top-level keys for MuJoCo (`env_steps_per_s`,
    `naive_env_steps_per_s`, `naive_envs`, present when MuJoCo is measured) and
    holds every engine's figures, in the same structure, under `engines`.
    """
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise ValueError(
            f"--engines: expected some of {list(ENGINES)}, comma-separated, found {list(engines)}"
        )
    if not env_counts or min(env_counts) < 1:
        raise ValueError(f"--env-counts: expected positive environment counts, found {list(env_counts)}")
    config = HoverConfig.from_yaml()
    result: dict[str, Any] = {
        "machine": machine_description(),
        "physics_substeps": round(config.control_dt_s / config.physics_dt_s),
        "engines": {},
    }
    print(
        f"sim-throughput: quadrotor hover, {', '.join(engines)}, {result['physics_substeps']} physics "
        f"substeps per control step, on {result['machine']}"
    )
    for engine in engines:
        result["engines"][engine] = _measure_engine(engine, env_counts, seconds_per_case, config)
    if "mujoco" in result["engines"]:
        result.update(result["engines"]["mujoco"])
        mj = result["engines"]["mujoco"]["env_steps_per_s"]
        for other in (e for e in result["engines"] if e != "mujoco"):
            rates = result["engines"][other]["env_steps_per_s"]
            for n in env_counts:
                ratio = rates[str(n)] / mj[str(n)]
                print(f"  {ENGINE_LABELS[other]} / MuJoCo at {n:5d} envs: {ratio:5.2f}×")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {json_path}")
    return result


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, found '{text}'") from exc


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench sim-throughput", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated engines to measure, in this order (default: %(default)s)",
    )
    ap.add_argument(
        "--env-counts",
        type=_int_list,
        default=list(ENV_COUNTS),
        help=f"comma-separated batch sizes (default: {','.join(map(str, ENV_COUNTS))})",
    )
    ap.add_argument(
        "--seconds-per-case", type=float, default=2.0, help="timed seconds per figure (default: %(default)s)"
    )
    ap.add_argument("--json", help="write the figures to this JSON file")
    args = ap.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    run(args.json, args.seconds_per_case, engines, args.env_counts)


if __name__ == "__main__":
    main()
