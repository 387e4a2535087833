"""Closed-loop evaluation of a controller (PID baseline or ONNX policy) on a task.

Episode k of an evaluation is drawn from (seed, k) alone, so two controllers
evaluated with the same seed fly exactly the same vehicles from the same
initial states, and any single episode can be replayed with --episode-index.
Every episode's sampled parameters are written to the JSON report.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from deploy.robot_state import RobotState
from sim.randomization.quadrotor import QuadrotorRandomization
from sim.tasks.quadrotor_hover import HoverConfig, QuadrotorHoverEnv

TASKS = ("quadrotor-hover",)
ENGINES = ("mujoco", "pybullet")
#: Besides ENGINES, evaluate() also accepts the analytic training engine, for in-training
#: validation (training/validation.py); reported gates use ENGINES only.
_EVALUATE_ENGINES = (*ENGINES, "analytic")


class Controller(Protocol):
    """Anything that maps (observation, RobotState) batches to actions in [-1, 1]."""

    name: str

    def reset(self, env_ids: np.ndarray | None = None) -> None: ...

    def act(self, state: RobotState, observation: np.ndarray | None = None) -> np.ndarray: ...


ControllerFactory = Callable[[QuadrotorHoverEnv], Controller]


@dataclass
class Trajectories:
    """Per-step records of the first few episodes, for plots: (episodes, steps, ...)."""

    time_s: np.ndarray
    pos_m: np.ndarray
    target_pos_m: np.ndarray
    pos_err_m: np.ndarray
    action: np.ndarray
    episode_index: np.ndarray


def evaluate(
    controller_factory: ControllerFactory,
    controller_name: str,
    task: str = "quadrotor-hover",
    engine: str = "mujoco",
    episodes: int = 100,
    seed: int = 0,
    randomize: bool = False,
    episode_indices: Sequence[int] | None = None,
    batch_size: int = 256,
    config: HoverConfig | None = None,
    randomization: QuadrotorRandomization | None = None,
    record_episodes: int = 0,
    scenario: str = "hover",
    progress: bool = True,
) -> tuple[dict[str, Any], Trajectories | None]:
    """Run the episodes; return the JSON-ready report and (optionally) trajectories."""
    if task not in TASKS:
        raise ValueError(f"unknown task '{task}'; available tasks: {list(TASKS)}")
    if engine not in _EVALUATE_ENGINES:
        raise ValueError(f"unknown engine '{engine}'; available engines: {list(_EVALUATE_ENGINES)}")
    indices = np.arange(episodes) if episode_indices is None else np.asarray(episode_indices, dtype=np.int64)
    if len(indices) == 0:
        raise ValueError("nothing to evaluate: need at least one episode")
    if randomize and randomization is None:
        randomization = QuadrotorRandomization.from_yaml()
    rand = randomization if randomize else None
    config = config or HoverConfig.from_yaml()
    reference = config.reference(scenario)
    settle_s = float(config.scenarios.get(scenario, {}).get("settle_s", config.success["window_s"]))
    results: dict[int, dict[str, Any]] = {}
    traj_batches: list[Trajectories] = []
    started = time.perf_counter()
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    total_steps = None
    bar = None
    for batch in batches:
        env = QuadrotorHoverEnv(
            len(batch),
            config=config,
            randomization=rand,
            engine=engine,
            seed=seed,
            autoreset=False,
            reference=reference,
        )
        try:
            if bar is None:
                total_steps = env.config.episode_steps * len(batches)
                bar = tqdm(
                    total=total_steps,
                    desc=f"eval {controller_name} on {engine}",
                    unit="step",
                    disable=not progress,
                    leave=False,
                )
            controller = controller_factory(env)
            record = min(record_episodes - sum(len(t.episode_index) for t in traj_batches), len(batch))
            results.update(_run_batch(env, controller, batch, record, traj_batches, bar, settle_s))
        finally:
            env.close()
    if bar is not None:
        bar.close()
    wall_s = time.perf_counter() - started

    ordered = [results[int(k)] for k in indices]
    success = np.array([r["success"] for r in ordered])
    crashed = np.array([r["crashed"] for r in ordered])
    err = np.array([r["final_pos_err_m"] for r in ordered])
    sq_sum = sum(r.pop("_sq_err_sum") for r in ordered)
    sq_count = sum(r.pop("_sq_err_count") for r in ordered)
    report: dict[str, Any] = {
        "task": task,
        "engine": engine,
        "controller": controller_name,
        "episodes": len(ordered),
        "seed": seed,
        "randomize": bool(randomize),
        "success_rate": float(success.mean()),
        "crash_rate": float(crashed.mean()),
        "final_pos_err_m_mean": float(np.mean(err)),
        "final_pos_err_m_p95": float(np.percentile(err, 95)),
        "scenario": scenario,
        "tracking_rmse_m": float(np.sqrt(sq_sum / sq_count)) if sq_count else None,
        "tracking_settle_s": settle_s,
        "wall_time_s": wall_s,
        "per_episode": ordered,
    }
    trajectories = _concat(traj_batches) if traj_batches else None
    return report, trajectories


def _run_batch(
    env: QuadrotorHoverEnv,
    controller: Controller,
    batch: np.ndarray,
    record: int,
    traj_batches: list[Trajectories],
    bar: tqdm,
    settle_s: float,
) -> dict[int, dict[str, Any]]:
    obs, _ = env.reset(seed=env.seed, options={"episode_indices": batch})
    controller.reset(None)
    out: dict[int, dict[str, Any]] = {}
    steps = env.config.episode_steps
    rec = {k: [] for k in ("time_s", "pos_m", "target_pos_m", "pos_err_m", "action")}
    sq_sum = np.zeros(env.num_envs)
    sq_count = np.zeros(env.num_envs, dtype=np.int64)
    for _ in range(steps):
        state = env.robot_state()
        action = controller.act(state, obs)
        if record > 0:
            # finished (crashed) episodes are recorded as NaN from then on, so plots end at the crash
            gone = env.finished[:record]
            pos = np.where(gone[:, None], np.nan, state.base_pos_m[:record])
            rec["time_s"].append(np.full(record, state.time_s.max()))
            rec["pos_m"].append(pos)
            rec["target_pos_m"].append(state.command[:record, 0:3].copy())
            rec["pos_err_m"].append(np.linalg.norm(pos - state.command[:record, 0:3], axis=1))
            rec["action"].append(
                np.where(gone[:, None], np.nan, np.asarray(action[:record], dtype=np.float64))
            )
        active = ~env.finished
        obs, _, _, _, info = env.step(action)
        bar.update(1)
        counted = active & (env.robot_state().time_s >= settle_s)
        sq_sum += np.where(counted, info["pos_err_m"] ** 2, 0.0)
        sq_count += counted
        if "episode" in info:
            ep = info["episode"]
            for k, i in enumerate(info["done_env_ids"]):
                out[int(ep["episode_index"][k])] = {
                    "episode_index": int(ep["episode_index"][k]),
                    "success": bool(ep["success"][k]),
                    "crashed": bool(ep["crashed"][k]),
                    "final_pos_err_m": float(ep["final_pos_err_m"][k]),
                    "steps": int(ep["length"][k]),
                    "sample": env.samples[i].to_dict(),
                    "_sq_err_sum": float(sq_sum[i]),
                    "_sq_err_count": int(sq_count[i]),
                }
        if env.finished.all():
            break
    if record > 0:
        traj_batches.append(
            Trajectories(
                **{k: np.stack(v, axis=1) for k, v in rec.items()}, episode_index=np.asarray(batch[:record])
            )
        )
    missing = set(int(b) for b in batch) - set(out)
    if missing:
        raise RuntimeError(f"episodes {sorted(missing)} did not finish within {steps} steps")
    return out


def _concat(parts: list[Trajectories]) -> Trajectories:
    return Trajectories(
        **{
            f: np.concatenate([getattr(p, f) for p in parts])
            for f in ("time_s", "pos_m", "target_pos_m", "pos_err_m", "action", "episode_index")
        }
    )


def pid_factory(env: QuadrotorHoverEnv) -> Controller:
    """The cascaded PID, configured with the task's nominal vehicle (not the sampled one); on a
    collective thrust + body rate task, its outer loops through the modelled rate loop."""
    from deploy.pid import QuadrotorCtbrPid, QuadrotorPid

    if env.config.action_mode == "ctbr":
        return QuadrotorCtbrPid(env.nominal, env.num_envs, env.config.control_dt_s, env.contract)
    return QuadrotorPid(env.nominal, env.num_envs, env.config.control_dt_s)


#: The task file a collective thrust + body rate (ctbr) hover policy is evaluated and gated on.
CTBR_TASK_CONFIG = Path(__file__).resolve().parents[1] / "sim" / "tasks" / "quadrotor_hover_ctbr.yaml"


def config_for_policy(path: str | Path) -> HoverConfig | None:
    """The hover task file an exported policy flies: the ctbr task for a ctbr contract, else None
    (the default task). Its contract must still equal the task's (policy_factory checks)."""
    from deploy.policy_file import PolicyFile

    if PolicyFile(path).contract.action_mode == "ctbr":
        return HoverConfig.from_yaml(CTBR_TASK_CONFIG)
    return None


def policy_factory(path: str) -> ControllerFactory:
    """Controller factory for an exported ONNX policy, run in ONNX Runtime.

    The file's embedded contract must equal the task's; otherwise the policy
    would read a differently laid out observation, and evaluation is refused.
    """
    from deploy.policy_file import PolicyFile

    policy = PolicyFile(path)

    def make(env: QuadrotorHoverEnv) -> Controller:
        policy.check_matches(env.contract)
        return OnnxController(policy, env.num_envs)

    return make


class OnnxController:
    name = "onnx"

    def __init__(self, policy: Any, num_envs: int) -> None:
        self.policy = policy
        self.num_envs = num_envs

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        self.policy.reset(self.num_envs, env_ids)

    def act(self, state: RobotState, observation: np.ndarray | None = None) -> np.ndarray:
        if observation is None:
            raise ValueError("a policy needs the contract observation, found None")
        return self.policy.run(observation)


def summary_line(report: dict[str, Any]) -> str:
    tracking = (
        f", tracking RMSE {report['tracking_rmse_m'] * 100:.1f} cm"
        if report.get("scenario", "hover") != "hover"
        else ""
    )
    return (
        f"{report['task']} · {report['controller']} on {report['engine']} · {report['episodes']} episodes "
        f"(seed {report['seed']}, randomize={'on' if report['randomize'] else 'off'}): "
        f"success {report['success_rate']:.3f}, crash {report['crash_rate']:.3f}, "
        f"final position error mean {report['final_pos_err_m_mean'] * 100:.2f} cm, "
        f"p95 {report['final_pos_err_m_p95'] * 100:.2f} cm{tracking}  [{report['wall_time_s']:.1f} s]"
    )


def run_cli(args: Any) -> int:
    """`tether eval --task quadrotor-hover ...` (the arguments of tether.cli's eval subcommand)."""
    if args.plot_tracking or args.render_strip:
        flag = "--plot-tracking" if args.plot_tracking else "--render-strip"
        print(
            f"error: {flag} is for --task quadruped-walk; quadrotor plots and strips come from `tether demo`",
            file=sys.stderr,
        )
        return 2
    config = None
    if args.policy:
        factory, name = policy_factory(args.policy), Path(args.policy).name
        config = config_for_policy(args.policy)
    elif args.controller == "pid":
        factory, name = pid_factory, "pid"
    else:
        print(
            f"error: unknown controller '{args.controller}'; use --controller pid or --policy FILE.onnx",
            file=sys.stderr,
        )
        return 2
    indices = [args.episode_index] if args.episode_index is not None else None
    report, _ = evaluate(
        factory,
        name,
        task=args.task,
        engine=args.engine,
        episodes=args.episodes,
        seed=args.seed,
        randomize=args.randomize,
        episode_indices=indices,
        scenario=args.scenario,
        progress=not args.quiet,
        config=config,
    )
    print(summary_line(report))
    if args.episode_index is not None:
        ep = report["per_episode"][0]
        print(json.dumps(ep, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    return 0
