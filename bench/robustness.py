"""How far each randomization range can widen before the hover policy stops flying.

Starting from the default ranges (sim/randomization/quadrotor_default.yaml),
one range at a time is widened step by step, every other range left at its
default, and the policy and the PID baseline fly the same randomized MuJoCo
episodes at each step (training.evaluation.evaluate, as `tether eval` does).
For each range the table reports the widest step at which success stays at or
above the threshold (0.9 by default) for each controller. A controller is no
longer evaluated on a range once it has dropped below the threshold there.

Run: `tether bench robustness [--policy FILE] [--episodes N] [--seed S]
[--threshold X] [--json FILE]`.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.sim_throughput import machine_description

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POLICY = ROOT / "policies" / "quadrotor_hover.onnx"


@dataclass(frozen=True)
class Sweep:
    """One range, widened step by step: `steps` are (label, YAML fragment) applied on the defaults."""

    name: str
    unit: str
    steps: tuple[tuple[str, dict[str, Any]], ...]


def _scale(key: str, lo: float, hi: float) -> dict[str, Any]:
    return {"vehicle": {key: {"scale": [lo, hi]}}}


#: The first step of each sweep is the default range.
SWEEPS: tuple[Sweep, ...] = (
    Sweep("mass", "× nominal", tuple(
        (f"{1 - w:.2f}–{1 + w:.2f}", _scale("mass_kg", 1 - w, 1 + w)) for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    )),
    Sweep("thrust-to-weight", "× nominal", tuple(
        (f"{1 - w:.2f}–{1 + w:.2f}", _scale("thrust_to_weight", 1 - w, 1 + w))
        for w in (0.1, 0.2, 0.3, 0.4, 0.5)
    )),
    Sweep("motor time constant", "× nominal", tuple(
        (f"{1 / f:.2f}–{f:.2f}", _scale("motor_time_constant_s", 1 / f, f))
        for f in (1.25, 1.5, 2.0, 2.5, 3.0)
    )),
    Sweep("action delay", "control steps (10 ms)", tuple(
        (f"0–{d}", {"action_delay_steps": [0, d]}) for d in (2, 3, 4, 5, 6)
    )),
    Sweep("disturbance force", "m/s² (per unit mass)", tuple(
        (f"0–{a:g}", {"disturbance": {"force_accel_m_s2": [0.0, a]}}) for a in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    )),
)  # fmt: skip


def widened(base: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """The default randomization dict with one fragment merged in (nested mappings merged)."""
    out = copy.deepcopy(base)
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def run(
    policy: str | Path = DEFAULT_POLICY,
    episodes: int = 100,
    seed: int = 0,
    threshold: float = 0.9,
    json_path: str | None = None,
    sweeps: tuple[Sweep, ...] = SWEEPS,
    progress: bool = True,
) -> dict[str, Any]:
    from sim.randomization.quadrotor import DEFAULT_CONFIG, QuadrotorRandomization
    from training.evaluation import evaluate, pid_factory, policy_factory

    policy = Path(policy)
    if not policy.is_file():
        raise FileNotFoundError(
            f"policy {policy} not found; pass --policy FILE.onnx or produce the shipped one (README, hover)"
        )
    if episodes < 1:
        raise ValueError(f"--episodes must be ≥ 1, found {episodes}")
    base = yaml.safe_load(Path(DEFAULT_CONFIG).read_text())
    controllers = {"policy": policy_factory(str(policy)), "pid": pid_factory}
    print(
        f"robustness: {policy.name} and the PID, {episodes} randomized MuJoCo episodes per cell "
        f"(seed {seed}), success threshold {threshold}, on {machine_description()}"
    )
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    for sweep in sweeps:
        alive = {name: True for name in controllers}
        reach: dict[str, str | None] = {name: None for name in controllers}
        cells = []
        for label, fragment in sweep.steps:
            rand = QuadrotorRandomization.from_dict(widened(base, fragment))
            cell: dict[str, Any] = {"range": label}
            for name, factory in controllers.items():
                if not alive[name]:
                    continue
                report, _ = evaluate(
                    factory, name, episodes=episodes, seed=seed, randomize=True, randomization=rand,
                    progress=False,
                )
                cell[name] = {k: report[k] for k in ("success_rate", "crash_rate", "final_pos_err_m_mean")}
                if report["success_rate"] >= threshold:
                    reach[name] = label
                else:
                    alive[name] = False
            cells.append(cell)
            if progress:
                figures = "  ".join(
                    f"{n} {cell[n]['success_rate']:.2f}" for n in controllers if n in cell
                )
                print(f"  {sweep.name:20s} {label:12s} {figures}")
            if not any(alive.values()):
                break
        results.append({
            "range": sweep.name, "unit": sweep.unit, "reach": reach, "cells": cells,
            # still above the threshold at the widest step tried: the reach is a lower bound
            "never_dropped": {name: alive[name] for name in controllers},
        })  # fmt: skip
    print()
    print(f"{'range':22s}{'unit':24s}{'policy reaches':>16s}{'PID reaches':>14s}")
    for r in results:
        shown = [
            (r["reach"][n] or "none") + (" or wider" if r["never_dropped"][n] else "")
            for n in ("policy", "pid")
        ]
        print(f"{r['range']:22s}{r['unit']:24s}{shown[0]:>16s}{shown[1]:>14s}")
    out = {
        "policy": str(policy),
        "episodes": episodes,
        "seed": seed,
        "threshold": threshold,
        "machine": machine_description(),
        "wall_time_s": time.perf_counter() - started,
        "sweeps": results,
    }
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=2))
        print(f"wrote {json_path}")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench robustness", description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default=str(DEFAULT_POLICY), help="ONNX policy (default: the shipped one)")
    ap.add_argument("--episodes", type=int, default=100, help="episodes per cell (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.9, help="success rate that counts as flying")
    ap.add_argument("--json", help="write the table to this JSON file")
    args = ap.parse_args(argv)
    run(args.policy, args.episodes, args.seed, args.threshold, args.json)


if __name__ == "__main__":
    main()
