"""Wall-clock seconds of training from scratch until the exported policy first passes the gate.

Trains the task with its default PPO config in chunks; after each chunk the
run's policy (its best checkpoint by validation when it keeps one, else the
latest) is exported to ONNX and evaluated with the task's gate:
quadrotor-hover with training.gate (MuJoCo, randomized, 200 episodes of seed
0: success, crashes, final error; the PID flies the same episodes for the
ratio), quadruped-walk with the thresholds of its task config (MuJoCo,
randomized, 200 episodes: fall rate, linear-velocity and yaw-rate tracking
error). The clock counts training calls only (environment construction and
in-training validation included), not export or gate evaluation; where the
time went (rollouts, PPO updates, validation, export, gate evaluation) and the
training throughput (env steps per second, PPO updates included) are reported.
Run: `tether bench time-to-gate --task quadrotor-hover|quadruped-walk [--json FILE]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.sim_throughput import machine_description
from training.evaluation import evaluate, pid_factory
from training.export import export
from training.gate import GATE_EPISODES, GATE_SEED, check_gate
from training.train import train

TASKS = ("quadrotor-hover", "quadruped-walk")
#: A gate check: policy file → (passed, figures for the JSON, one line for the log).
GateCheck = Callable[[Path], tuple[bool, dict[str, Any], str]]


def _hover_gate() -> tuple[GateCheck, dict[str, Any]]:
    pid, _ = evaluate(
        pid_factory, "pid", episodes=GATE_EPISODES, seed=GATE_SEED, randomize=True, progress=False
    )
    print(f"  PID baseline: final error {pid['final_pos_err_m_mean'] * 100:.2f} cm")

    def check(policy: Path) -> tuple[bool, dict[str, Any], str]:
        gate = check_gate(policy, pid_report=pid)
        figures = {k: gate.policy[k] for k in ("success_rate", "crash_rate", "final_pos_err_m_mean")}
        return gate.passed, figures, gate.describe()

    return check, {"pid_final_pos_err_m_mean": pid["final_pos_err_m_mean"]}


def _walk_gate() -> tuple[GateCheck, dict[str, Any]]:
    from sim.tasks.quadruped_walk import WalkConfig
    from training.evaluation_quadruped import evaluate_walk, policy_factory, summary_line

    def check(policy: Path) -> tuple[bool, dict[str, Any], str]:
        report = evaluate_walk(
            policy_factory(policy), policy.name, episodes=GATE_EPISODES, seed=GATE_SEED, randomize=True,
            progress=False,
        )  # fmt: skip
        keys = ("fall_rate", "lin_vel_err_m_s_mean", "yaw_rate_err_rad_s_mean")
        return bool(report["gate_passed"]), {k: report[k] for k in keys}, summary_line(report)

    gate = dict(WalkConfig.from_yaml().gate)
    print(f"  gate: {gate}")
    return check, {"gate": gate}


def run(
    task: str = "quadrotor-hover",
    budget_s: float = 600.0,
    eval_every_s: float = 20.0,
    seed: int = 0,
    json_path: str | None = None,
    config: str | None = None,
) -> dict[str, Any]:
    if task not in TASKS:
        raise ValueError(f"--task: expected one of {list(TASKS)}, found '{task}'")
    print(
        f"time-to-gate: {task}, training seed {seed}, gate checked every {eval_every_s:.0f} s of training, "
        f"budget {budget_s:.0f} s, on {machine_description()}"
    )
    check, reference = _hover_gate() if task == "quadrotor-hover" else _walk_gate()
    trained_s, seconds_to_gate, env_steps, checks = 0.0, None, 0, []
    outside = {"export": 0.0, "gate_evaluation": 0.0}  # not counted in trained_s
    breakdown: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        first = True
        while trained_s < budget_s:
            t0 = time.perf_counter()
            train(
                task,
                run_dir,
                config_path=None if not first else config,
                seed=seed,
                max_seconds=min(eval_every_s, budget_s - trained_s),
                max_iterations=10**9,
                resume=not first,
                progress=False,
            )
            trained_s += time.perf_counter() - t0
            first = False
            summary = yaml.safe_load((run_dir / "summary.yaml").read_text())
            if checks and summary["iterations"] == checks[-1]["iterations"]:
                break  # the budget's remainder did not fit one more iteration: nothing new to check
            env_steps = int(summary["env_steps"])
            breakdown = dict(summary.get("time_s") or {})
            t0 = time.perf_counter()
            policy = export(run_dir, Path(tmp) / "policy.onnx")
            t1 = time.perf_counter()
            passed, figures, line = check(policy)
            outside["export"] += t1 - t0
            outside["gate_evaluation"] += time.perf_counter() - t1
            checks.append(
                {"train_s": trained_s, "iterations": summary["iterations"], "env_steps": env_steps, **figures}
            )
            print(f"  {trained_s:6.1f} s, {summary['iterations']:5d} it, {env_steps:>10,} env steps: {line}")
            if passed:
                seconds_to_gate = trained_s
                break
    rate = env_steps / trained_s if trained_s > 0 else 0.0
    if seconds_to_gate is None:
        print(f"gate not met within {budget_s:.0f} s of training")
    else:
        print(f"seconds to gate: {seconds_to_gate:.1f} s ({env_steps:,} env steps)")
    print(f"training throughput: {rate:,.0f} env steps/s (simulation, policy and PPO update together)")
    other = max(trained_s - sum(breakdown.values()), 0.0)
    print(
        "where the time went: training " + ", ".join(f"{k} {v:.0f} s" for k, v in breakdown.items())
        + f", set-up and checkpoints {other:.0f} s; outside the clock: export {outside['export']:.0f} s, "
        f"gate evaluation {outside['gate_evaluation']:.0f} s"
    )
    result = {
        "task": task,
        "seconds_to_gate": seconds_to_gate,
        "env_steps": env_steps,
        "training_env_steps_per_s": rate,
        "budget_s": budget_s,
        "eval_every_s": eval_every_s,
        "training_time_s": {**breakdown, "setup_and_checkpoints": other},
        "outside_clock_s": outside,
        "machine": machine_description(),
        **reference,
        "checks": checks,
    }
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {json_path}")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench time-to-gate", description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="quadrotor-hover", choices=list(TASKS), help="task whose gate is timed")
    ap.add_argument("--budget-s", type=float, default=600.0, help="give up after this much training")
    ap.add_argument("--eval-every-s", type=float, default=20.0, help="training seconds between gate checks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", help="training YAML (default: the task's)")
    ap.add_argument("--json", help="write the figures to this JSON file")
    args = ap.parse_args(argv)
    run(args.task, args.budget_s, args.eval_every_s, args.seed, args.json, args.config)


if __name__ == "__main__":
    main()
