"""`tether demo` / `make demo`: the pipeline on the embedded default vehicle."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.evaluation import evaluate, pid_factory, summary_line


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("Tether demo: PID baseline on the Crazyflie 2.1 hover task, MuJoCo, domain randomization on")
    report, _ = evaluate(pid_factory, "pid", episodes=args.episodes, seed=args.seed, randomize=True)
    print(summary_line(report))
    path = out / "pid_baseline.json"
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"report: {path}")
    return 0
