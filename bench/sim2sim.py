"""The sim2sim table: policies trained in one physics engine, evaluated in both.

A policy that only flies in the engine it was trained in has overfit that
engine's integrator and contact model, and will not survive a real airframe;
the second engine (PyBullet) is the cheapest check of that. Rows are where a
controller was trained (the MuJoCo-trained and the PyBullet-trained policy
files, and the PID baseline as a reference that was trained nowhere), columns
the engine it is evaluated in, cells its success rate and mean final position
error. Every cell is one training.evaluation.evaluate() run, exactly what
`tether eval` does: the policy in ONNX Runtime, the same episodes (drawn from
(seed, k)), domain randomization on by default, so cells of one column fly
the same vehicles from the same initial states.

Run: `tether bench sim2sim [--task quadrotor-hover | quadruped-walk] [--policy-mujoco FILE]
[--policy-pybullet FILE] [--episodes N] [--seed S] [--no-randomize] [--json FILE]`;
the quadruped table is bench/sim2sim_quadruped.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.sim_throughput import machine_description

ROOT = Path(__file__).resolve().parents[1]
#: The shipped policies, found from the repository root whatever the working directory.
DEFAULT_POLICIES = {
    "mujoco": ROOT / "policies" / "quadrotor_hover.onnx",
    "pybullet": ROOT / "policies" / "quadrotor_hover_pybullet.onnx",
}
ENGINES = ("mujoco", "pybullet")
TASK = "quadrotor-hover"
PID_ROW = "pid"
CELL_KEYS = ("success_rate", "final_pos_err_m_mean", "final_pos_err_m_p95", "crash_rate", "wall_time_s")
HOW_TO_MAKE = {
    "mujoco": "tether train quadrotor-hover --run-dir runs/mj --engine mujoco && "
    "tether export runs/mj -o policies/quadrotor_hover.onnx",
    "pybullet": "tether train quadrotor-hover --run-dir runs/pb --engine pybullet && "
    "tether export runs/pb -o policies/quadrotor_hover_pybullet.onnx",
}


def select_policies(
    given: dict[str, str | None],
    defaults: dict[str, Path] | None = None,
    how_to_make: dict[str, str] | None = None,
) -> tuple[dict[str, Path], dict[str, str]]:
    """The policy file of each training engine, and why any row is left out.

    A file named on the command line must exist (a typo should not silently
    shrink the table); a default file that does not exist yet leaves its row
    out with a note. At least one policy row is required: a table of the PID
    baseline alone checks nothing about learned policies. `defaults` and
    `how_to_make` are the task's default files and the commands that make
    them (default: the hover task's).
    """
    defaults = DEFAULT_POLICIES if defaults is None else defaults
    how_to_make = HOW_TO_MAKE if how_to_make is None else how_to_make
    chosen: dict[str, Path] = {}
    omitted: dict[str, str] = {}
    for engine in ENGINES:
        name = given.get(engine)
        if name is not None:
            path = Path(name)
            if not path.is_file():
                raise FileNotFoundError(
                    f"--policy-{engine}: expected an exported ONNX policy, found no file at {path}; "
                    f"check the path, or leave the option out to use {defaults[engine]}"
                )
            chosen[engine] = path
        elif defaults[engine].is_file():
            chosen[engine] = defaults[engine]
        else:
            omitted[engine] = (
                f"no {engine}-trained policy: {defaults[engine]} does not exist and "
                f"--policy-{engine} was not given (make one with: {how_to_make[engine]})"
            )
    if not chosen:
        raise FileNotFoundError(
            "no policy to evaluate: expected at least one of --policy-mujoco FILE, --policy-pybullet FILE, "
            f"or the default files {defaults['mujoco']} and {defaults['pybullet']}; "
            "found none of them"
        )
    return chosen, omitted


def _check_contracts(policies: dict[str, Path]) -> None:
    """Refuse a policy whose contract is not the task's before any evaluation starts (minutes of work)."""
    from deploy.policy_file import PolicyFile
    from sim.tasks.quadrotor_hover import HoverConfig

    contract = HoverConfig.from_yaml().contract()
    for path in policies.values():
        PolicyFile(path).check_matches(contract)


def _cell(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in CELL_KEYS}


def _row_label(row: str, controller: str) -> str:
    return "PID baseline (reference)" if row == PID_ROW else f"{row} (`{Path(controller).name}`)"


def _format_cell(cell: dict[str, Any]) -> str:
    return f"{cell['success_rate']:.3f} / {cell['final_pos_err_m_mean'] * 100:.2f} cm"


def format_table(result: dict[str, Any]) -> str:
    """The table as Markdown (readable in a terminal, pasteable into the README)."""
    header = "| trained in ↓ · evaluated in → | " + " | ".join(result["engines"]) + " |"
    lines = [header, "|---|" + "---|" * len(result["engines"])]
    for row, entry in result["rows"].items():
        label = _row_label(row, entry["controller"])
        cells = " | ".join(_format_cell(entry["evaluated_in"][e]) for e in result["engines"])
        lines.append(f"| {label} | {cells} |")
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
    from training.evaluation import evaluate, pid_factory, policy_factory

    if episodes < 1:
        raise ValueError(f"--episodes must be at least 1, found {episodes}")
    policies, omitted = select_policies({"mujoco": policy_mujoco, "pybullet": policy_pybullet})
    for reason in omitted.values():
        print(f"note: row left out: {reason}")
    _check_contracts(policies)
    rows: list[tuple[str, str]] = [(engine, str(path)) for engine, path in policies.items()]
    rows.append((PID_ROW, PID_ROW))
    result: dict[str, Any] = {
        "task": TASK,
        "episodes": episodes,
        "seed": seed,
        "randomize": randomize,
        "machine": machine_description(),
        "engines": list(ENGINES),
        "rows": {},
        "omitted": omitted,
    }
    print(
        f"sim2sim: {TASK}, {episodes} episodes per cell (seed {seed}, randomize "
        f"{'on' if randomize else 'off'}), {len(rows) * len(ENGINES)} evaluations; "
        "cells: success rate / mean final position error"
    )
    started = time.perf_counter()
    done = 0
    for row, controller in rows:
        entry: dict[str, Any] = {"controller": controller, "evaluated_in": {}}
        label = "PID baseline" if row == PID_ROW else f"trained in {row} ({Path(controller).name})"
        for engine in ENGINES:
            factory = pid_factory if row == PID_ROW else policy_factory(controller)
            name = PID_ROW if row == PID_ROW else Path(controller).name
            report, _ = evaluate(
                factory,
                name,
                task=TASK,
                engine=engine,
                episodes=episodes,
                seed=seed,
                randomize=randomize,
                progress=progress,
            )
            entry["evaluated_in"][engine] = _cell(report)
            done += 1
            if progress:
                print(
                    f"  [{done}/{len(rows) * len(ENGINES)}] {label}, evaluated in {engine}: "
                    f"{_format_cell(entry['evaluated_in'][engine])}  [{report['wall_time_s']:.1f} s]",
                    flush=True,
                )
        result["rows"][row] = entry
    result["wall_time_s"] = time.perf_counter() - started
    print(format_table(result))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {json_path}")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench sim2sim", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--task",
        default=TASK,
        choices=[TASK, "quadruped-walk"],
        help="quadrotor-hover (default) or quadruped-walk (bench/sim2sim_quadruped.py)",
    )
    ap.add_argument(
        "--policy-mujoco",
        metavar="FILE",
        help="MuJoCo-trained ONNX policy (default: policies/quadrotor_hover.onnx, or "
        "policies/quadruped_walk.onnx for quadruped-walk; row left out if missing)",
    )
    ap.add_argument(
        "--policy-pybullet",
        metavar="FILE",
        help="PyBullet-trained ONNX policy (default: policies/quadrotor_hover_pybullet.onnx, or "
        "policies/quadruped_walk_pybullet.onnx for quadruped-walk; row left out if missing)",
    )
    ap.add_argument("--episodes", type=int, default=200, help="episodes per cell (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="episode k is drawn from (seed, k) (default: 0)")
    ap.add_argument(
        "--randomize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="domain randomization with the default ranges (default: on)",
    )
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    ap.add_argument("--json", help="write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.task != TASK:
        from bench.sim2sim_quadruped import run as run_quadruped

        run_quadruped(
            args.policy_mujoco, args.policy_pybullet, args.episodes, args.seed, args.randomize, args.json,
            progress=not args.quiet,
        )
        return
    run(
        args.policy_mujoco,
        args.policy_pybullet,
        args.episodes,
        args.seed,
        args.randomize,
        args.json,
        progress=not args.quiet,
    )


if __name__ == "__main__":
    main()
