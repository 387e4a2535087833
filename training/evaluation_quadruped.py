"""Closed-loop evaluation on quadruped-walk: the PD stand baseline or an exported ONNX policy.

Episode k is drawn from (seed, k) alone (robot, pushes, command schedule,
initial state), so two controllers evaluated with the same seed face exactly
the same episodes, and any single one can be replayed with --episode-index.
Every episode's sampled robot is written to the JSON report.

Figures: success_rate (no fall in the episode), fall_rate, and the tracking
errors lin_vel_err_m_s_mean (‖v_xy − cmd_xy‖, body frame) and
yaw_rate_err_rad_s_mean (|ω_z − cmd_yaw|): per episode the mean over the
steps at least metrics.settle_s after a command change, then the mean over
episodes (episodes that fell count with what they ran). gate_passed compares
them with the task config's gate.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from deploy.robot_state import RobotState
from sim.randomization.quadruped import QuadrupedRandomization
from sim.tasks.quadruped_walk import ENGINES, TASK_NAME, QuadrupedWalkEnv, WalkConfig
from training.evaluation import Controller, OnnxController

WalkControllerFactory = Callable[[QuadrupedWalkEnv], Controller]


class StandController:
    """The PD stand baseline: action 0, i.e. every joint held at the default pose by the PD loop.

    It ignores the velocity command, so its tracking errors are those of
    standing still; its fall rate shows what the randomization alone does.
    """

    name = "stand"

    def __init__(self, num_envs: int, action_size: int) -> None:
        self._action = np.zeros((num_envs, action_size))

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        """Stateless; nothing to reset."""

    def act(self, state: RobotState, observation: np.ndarray | None = None) -> np.ndarray:
        return self._action[: state.num_envs].copy()


def stand_factory(env: QuadrupedWalkEnv) -> Controller:
    return StandController(env.num_envs, env.contract.action_size)


def policy_factory(path: str | Path) -> WalkControllerFactory:
    """An exported ONNX policy, refused unless its embedded contract equals the task's."""
    from deploy.policy_file import PolicyFile

    policy = PolicyFile(path)

    def make(env: QuadrupedWalkEnv) -> Controller:
        policy.check_matches(env.contract)
        return OnnxController(policy, env.num_envs)

    return make


def evaluate_walk(
    controller_factory: WalkControllerFactory,
    controller_name: str,
    engine: str = "mujoco",
    episodes: int = 100,
    seed: int = 0,
    randomize: bool = False,
    episode_indices: Sequence[int] | None = None,
    batch_size: int = 100,
    config: WalkConfig | None = None,
    randomization: QuadrupedRandomization | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the episodes; return the JSON-ready report."""
    if engine not in ENGINES:
        raise ValueError(f"engine '{engine}' has no quadruped model; available engines: {list(ENGINES)}")
    indices = np.arange(episodes) if episode_indices is None else np.asarray(episode_indices, dtype=np.int64)
    if len(indices) == 0:
        raise ValueError("nothing to evaluate: need at least one episode")
    config = config or WalkConfig.from_yaml()
    if randomize and randomization is None:
        randomization = QuadrupedRandomization.from_yaml()
    rand = randomization if randomize else None
    started = time.perf_counter()
    results: dict[int, dict[str, Any]] = {}
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    bar = tqdm(
        total=config.episode_steps * len(batches), desc=f"eval {controller_name} on {engine}", unit="step",
        disable=not progress, leave=False,
    )
    try:
        for batch in batches:
            env = QuadrupedWalkEnv(len(batch), config=config, randomization=rand, engine=engine, seed=seed,
                                   autoreset=False)
            try:
                results.update(_run_batch(env, controller_factory(env), batch, bar))
            finally:
                env.close()
    finally:
        bar.close()
    ordered = [results[int(k)] for k in indices]
    fell = np.array([r["fell"] for r in ordered])
    lin = np.array([r["lin_vel_err_m_s"] for r in ordered], dtype=np.float64)
    yaw = np.array([r["yaw_rate_err_rad_s"] for r in ordered], dtype=np.float64)
    gate = config.gate
    report: dict[str, Any] = {
        "task": TASK_NAME,
        "engine": engine,
        "controller": controller_name,
        "episodes": len(ordered),
        "seed": seed,
        "randomize": bool(randomize),
        "success_rate": float(1.0 - fell.mean()),
        "fall_rate": float(fell.mean()),
        "crash_rate": float(fell.mean()),
        "lin_vel_err_m_s_mean": _nanmean(lin),
        "lin_vel_err_m_s_p95": float(np.nanpercentile(lin, 95)) if np.isfinite(lin).any() else None,
        "yaw_rate_err_rad_s_mean": _nanmean(yaw),
        "gate": dict(gate),
        "wall_time_s": time.perf_counter() - started,
        "per_episode": ordered,
    }
    report["gate_passed"] = bool(
        report["fall_rate"] <= gate["max_fall_rate"]
        and report["lin_vel_err_m_s_mean"] is not None
        and report["lin_vel_err_m_s_mean"] <= gate["max_lin_vel_err_m_s"]
        and report["yaw_rate_err_rad_s_mean"] <= gate["max_yaw_rate_err_rad_s"]
    )
    return report


def _nanmean(x: np.ndarray) -> float | None:
    return float(np.nanmean(x)) if np.isfinite(x).any() else None


def _run_batch(
    env: QuadrupedWalkEnv, controller: Controller, batch: np.ndarray, bar: tqdm
) -> dict[int, dict[str, Any]]:
    obs, _ = env.reset(seed=env.seed, options={"episode_indices": batch})
    controller.reset(None)
    out: dict[int, dict[str, Any]] = {}
    steps = env.config.episode_steps
    for _ in range(steps):
        action = controller.act(env.robot_state(), obs)
        obs, _, _, _, info = env.step(action)
        bar.update(1)
        if "episode" in info:
            ep = info["episode"]
            for k, i in enumerate(info["done_env_ids"]):
                lin, yaw = float(ep["lin_vel_err_m_s"][k]), float(ep["yaw_rate_err_rad_s"][k])
                sample = env.samples[i]
                out[int(ep["episode_index"][k])] = {
                    "episode_index": int(ep["episode_index"][k]),
                    "success": bool(ep["success"][k]),
                    "fell": bool(ep["fell"][k]),
                    "lin_vel_err_m_s": lin,  # NaN when it fell before any step counted
                    "yaw_rate_err_rad_s": yaw,
                    "steps": int(ep["length"][k]),
                    "commands": env.command_schedule()[i].tolist(),
                    "sample": None if sample is None else sample.to_dict(),
                }
        if env.finished.all():
            break
    missing = set(int(b) for b in batch) - set(out)
    if missing:
        raise RuntimeError(f"episodes {sorted(missing)} did not finish within {steps} steps")
    return out


def summary_line(report: dict[str, Any]) -> str:
    def fmt(x: float | None, unit: str) -> str:
        return "n/a" if x is None else f"{x:.3f} {unit}"

    return (
        f"{report['task']} · {report['controller']} on {report['engine']} · {report['episodes']} episodes "
        f"(seed {report['seed']}, randomize={'on' if report['randomize'] else 'off'}): "
        f"success {report['success_rate']:.3f}, fall {report['fall_rate']:.3f}, "
        f"lin vel err {fmt(report['lin_vel_err_m_s_mean'], 'm/s')}, "
        f"yaw rate err {fmt(report['yaw_rate_err_rad_s_mean'], 'rad/s')}, "
        f"gate {'passed' if report['gate_passed'] else 'not passed'}  [{report['wall_time_s']:.1f} s]"
    )


def run_cli(args: argparse.Namespace) -> int:
    """`tether eval --task quadruped-walk ...` (the arguments of tether.cli's eval subcommand)."""
    if args.policy:
        factory, name = policy_factory(args.policy), Path(args.policy).name
    elif args.controller == "stand":
        factory, name = stand_factory, "stand"
    else:
        raise ValueError(
            f"controller '{args.controller}' does not drive a quadruped; use --controller stand or "
            "--policy FILE.onnx"
        )
    indices = [args.episode_index] if args.episode_index is not None else None
    report = evaluate_walk(
        factory, name, engine=args.engine, episodes=args.episodes, seed=args.seed,
        randomize=args.randomize, episode_indices=indices, progress=not args.quiet,
    )
    print(summary_line(report))
    if getattr(args, "plot_tracking", None):
        from training.walk_tracking import plot_velocity_tracking, record_tracking

        episode = args.episode_index if args.episode_index is not None else 0
        record = record_tracking(
            factory, episode, seed=args.seed, randomize=args.randomize, engine=args.engine
        )
        randomized = "on" if args.randomize else "off"
        title = f"{name} · episode {episode} (seed {args.seed}, randomize={randomized})"
        print(f"wrote {plot_velocity_tracking(record, args.plot_tracking, title)}")
    if getattr(args, "render_strip", None):
        from training.report import render_episode_strip
        from training.tasks import make_env

        episode = args.episode_index if args.episode_index is not None else 0
        rand = "default" if args.randomize else None
        out = render_episode_strip(
            lambda: make_env(TASK_NAME, 1, rand, args.engine, args.seed, autoreset=False),
            factory(make_env(TASK_NAME, 1, rand, args.engine, args.seed, autoreset=False)),
            episode, Path(args.render_strip),
        )
        print(f"wrote {out}" if isinstance(out, Path) else f"no image strip: {out}")
    if args.episode_index is not None:
        print(json.dumps(_json_safe(report["per_episode"][0]), indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(_json_safe(report), f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _json_safe(x: Any) -> Any:
    """NaN → None (strict JSON), recursively."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x
