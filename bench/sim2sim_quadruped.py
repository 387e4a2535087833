"""The quadruped sim2sim table: walking policies trained in one physics engine, evaluated in both.

`tether bench sim2sim --task quadruped-walk`. Rows are where a controller
was trained (the shipped MuJoCo-trained policies/quadruped_walk.onnx, a
PyBullet-trained policy when one is given or present, and the PD stand
baseline as a reference that was trained nowhere), columns the engine it is
evaluated in, cells its fall rate and mean linear-velocity and yaw-rate
tracking errors. Every cell is one training.evaluation_quadruped.evaluate_walk()
run, exactly what `tether eval --task quadruped-walk` does: the policy in
ONNX Runtime, the same episodes (drawn from (seed, k)), domain randomization
on by default, so the cells of one column walk the same robots through the
same commands and pushes.

Below the table, each policy is checked in the engine it was NOT trained in
against the sim2sim bounds of bench/sim2sim_quadruped.yaml (fall rate and
linear-velocity error).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from bench.sim2sim import ENGINES, ROOT, select_policies
from bench.sim_throughput import machine_description

TASK = "quadruped-walk"
STAND_ROW = "stand"
BOUNDS_FILE = Path(__file__).with_name("sim2sim_quadruped.yaml")
DEFAULT_POLICIES = {
    "mujoco": ROOT / "policies" / "quadruped_walk.onnx",
    "pybullet": ROOT / "policies" / "quadruped_walk_pybullet.onnx",
}
HOW_TO_MAKE = {
    "mujoco": "tether train quadruped-walk --run-dir runs/walk && "
    "tether export runs/walk -o policies/quadruped_walk.onnx",
    "pybullet": "tether train quadruped-walk --run-dir runs/walk_pb --engine pybullet && "
    "tether export runs/walk_pb -o policies/quadruped_walk_pybullet.onnx",
}
CELL_KEYS = (
    "fall_rate", "success_rate", "lin_vel_err_m_s_mean", "lin_vel_err_m_s_p95", "yaw_rate_err_rad_s_mean",
    "wall_time_s",
)


def load_bounds(path: str | Path = BOUNDS_FILE) -> dict[str, float]:
    """The sim2sim bounds: max_fall_rate and max_lin_vel_err_m_s."""
    with open(path) as f:
        d = yaml.safe_load(f) or {}
    keys = {"max_fall_rate", "max_lin_vel_err_m_s"}
    if set(d) != keys:
        raise ValueError(f"sim2sim bounds {path}: expected keys {sorted(keys)}, found {sorted(d)}")
    return {k: float(v) for k, v in d.items()}


def within_bounds(cell: dict[str, Any], bounds: dict[str, float]) -> bool:
    lin = cell["lin_vel_err_m_s_mean"]
    falls_ok = cell["fall_rate"] <= bounds["max_fall_rate"]
    return bool(falls_ok and lin is not None and lin <= bounds["max_lin_vel_err_m_s"])


def _format_cell(cell: dict[str, Any]) -> str:
    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    return (
        f"fall {cell['fall_rate']:.3f} · {num(cell['lin_vel_err_m_s_mean'])} m/s · "
        f"{num(cell['yaw_rate_err_rad_s_mean'])} rad/s"
    )


def _row_label(row: str, controller: str) -> str:
    return "PD stand baseline (reference)" if row == STAND_ROW else f"{row} (`{Path(controller).name}`)"


def format_table(result: dict[str, Any]) -> str:
    """The table as Markdown, then one line per policy in the engine it was not trained in."""
    engines = result["engines"]
    lines = [
        "| trained in ↓ · evaluated in → | " + " | ".join(engines) + " |",
        "|---|" + "---|" * len(engines),
    ]
    for row, entry in result["rows"].items():
        cells = " | ".join(_format_cell(entry["evaluated_in"][e]) for e in engines)
        lines.append(f"| {_row_label(row, entry['controller'])} | {cells} |")
    b = result["bounds"]
    lines.append(
        f"cells: fall rate · mean linear-velocity error · mean yaw-rate error; sim2sim bounds: fall rate ≤ "
        f"{b['max_fall_rate']}, linear-velocity error ≤ {b['max_lin_vel_err_m_s']} m/s"
    )
    for row, checks in result["sim2sim"].items():
        for engine, passed in checks.items():
            verdict = "within" if passed else "OUTSIDE"
            lines.append(f"{row}-trained policy in {engine}: {verdict} the sim2sim bounds")
    return "\n".join(lines)


def run(
    policy_mujoco: str | None = None,
    policy_pybullet: str | None = None,
    episodes: int = 200,
    seed: int = 0,
    randomize: bool = True,
    json_path: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate every row in every engine; print the table and return the figures (JSON-ready)."""
    from deploy.policy_file import PolicyFile
    from sim.tasks.quadruped_walk import WalkConfig
    from training.evaluation_quadruped import evaluate_walk, policy_factory, stand_factory

    if episodes < 1:
        raise ValueError(f"--episodes must be at least 1, found {episodes}")
    bounds = load_bounds()
    policies, omitted = select_policies(
        {"mujoco": policy_mujoco, "pybullet": policy_pybullet}, DEFAULT_POLICIES, HOW_TO_MAKE
    )
    for reason in omitted.values():
        print(f"note: row left out: {reason}")
    contract = WalkConfig.from_yaml().contract()
    for path in policies.values():  # refuse a wrong policy before minutes of evaluation
        PolicyFile(path).check_matches(contract)
    rows = [(engine, str(path)) for engine, path in policies.items()] + [(STAND_ROW, STAND_ROW)]
    result: dict[str, Any] = {
        "task": TASK, "episodes": episodes, "seed": seed, "randomize": randomize,
        "machine": machine_description(), "engines": list(ENGINES), "bounds": bounds,
        "rows": {}, "sim2sim": {}, "omitted": omitted,
    }  # fmt: skip
    total = len(rows) * len(ENGINES)
    print(
        f"sim2sim: {TASK}, {episodes} episodes per cell (seed {seed}, randomize "
        f"{'on' if randomize else 'off'}), {total} evaluations; cells: fall rate · mean linear-velocity "
        "error · mean yaw-rate error"
    )
    started = time.perf_counter()
    done = 0
    for row, controller in rows:
        entry: dict[str, Any] = {"controller": controller, "evaluated_in": {}}
        for engine in ENGINES:
            if row == STAND_ROW:
                factory, name = stand_factory, STAND_ROW
            else:
                factory, name = policy_factory(controller), Path(controller).name
            report = evaluate_walk(
                factory, name, engine=engine, episodes=episodes, seed=seed, randomize=randomize,
                progress=progress,
            )
            entry["evaluated_in"][engine] = {k: report[k] for k in CELL_KEYS}
            done += 1
            if progress:
                print(
                    f"  [{done}/{total}] {_row_label(row, controller)}, evaluated in {engine}: "
                    f"{_format_cell(entry['evaluated_in'][engine])}  [{report['wall_time_s']:.1f} s]",
                    flush=True,
                )
        result["rows"][row] = entry
        if row != STAND_ROW:
            result["sim2sim"][row] = {
                e: within_bounds(entry["evaluated_in"][e], bounds) for e in ENGINES if e != row
            }
    result["wall_time_s"] = time.perf_counter() - started
    print(format_table(result))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {json_path}")
    return result
