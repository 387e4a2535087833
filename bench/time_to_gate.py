"""Wall-clock seconds of training from scratch until the exported policy first passes the gate.

Trains quadrotor-hover with the default PPO config in chunks; after each
chunk the latest checkpoint is exported to ONNX and evaluated with the gate
of training.gate (MuJoCo, randomized, 200 episodes, vs. the PID baseline on
the same episodes). The clock counts training calls only (environment
construction included), not export or evaluation.
Run: `tether bench time-to-gate --task quadrotor-hover [--json FILE]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.sim_throughput import machine_description
from training.evaluation import evaluate, pid_factory
from training.export import export
from training.gate import GATE_EPISODES, GATE_SEED, check_gate
from training.train import train


def run(
    task: str = "quadrotor-hover",
    budget_s: float = 600.0,
    eval_every_s: float = 20.0,
    seed: int = 0,
    json_path: str | None = None,
    config: str | None = None,
) -> dict[str, Any]:
    print(
        f"time-to-gate: {task}, training seed {seed}, gate checked every {eval_every_s:.0f} s of training, "
        f"budget {budget_s:.0f} s, on {machine_description()}"
    )
    pid, _ = evaluate(
        pid_factory, "pid", episodes=GATE_EPISODES, seed=GATE_SEED, randomize=True, progress=False
    )
    print(f"  PID baseline: final error {pid['final_pos_err_m_mean'] * 100:.2f} cm")
    trained_s, seconds_to_gate, env_steps, checks = 0.0, None, 0, []
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
            policy = export(run_dir, Path(tmp) / "policy.onnx")
            gate = check_gate(policy, pid_report=pid)
            checks.append(
                {
                    "train_s": trained_s,
                    "iterations": summary["iterations"],
                    "env_steps": env_steps,
                    "success_rate": gate.policy["success_rate"],
                    "final_pos_err_m_mean": gate.policy["final_pos_err_m_mean"],
                }
            )
            print(
                f"  {trained_s:6.1f} s, {summary['iterations']:5d} it, {env_steps:>10,} env steps: "
                f"{gate.describe()}",
                flush=True,
            )
            if gate.passed:
                seconds_to_gate = trained_s
                break
    if seconds_to_gate is None:
        print(f"gate not met within {budget_s:.0f} s of training")
    else:
        print(f"seconds to gate: {seconds_to_gate:.1f} s ({env_steps:,} env steps)")
    result = {
        "task": task,
        "seconds_to_gate": seconds_to_gate,
        "env_steps": env_steps,
        "budget_s": budget_s,
        "eval_every_s": eval_every_s,
        "machine": machine_description(),
        "pid_final_pos_err_m_mean": pid["final_pos_err_m_mean"],
        "checks": checks,
    }
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {json_path}")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench time-to-gate", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--task",
        default="quadrotor-hover",
        choices=["quadrotor-hover"],
        help="the task whose gate is timed (the quadruped's gate check is not wired in yet)",
    )
    ap.add_argument("--budget-s", type=float, default=600.0, help="give up after this much training")
    ap.add_argument("--eval-every-s", type=float, default=20.0, help="training seconds between gate checks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", help="training YAML (default: the task's)")
    ap.add_argument("--json", help="write the figures to this JSON file")
    args = ap.parse_args(argv)
    run(args.task, args.budget_s, args.eval_every_s, args.seed, args.json, args.config)


if __name__ == "__main__":
    main()
