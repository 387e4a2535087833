"""How far each randomization range can widen before a hover policy stops flying.

Starting from the default randomization (sim/randomization/quadrotor_default.yaml),
one range at a time (mass, thrust-to-weight, motor time constant, action delay,
disturbance) is widened step by step as listed in training/configs/robustness.yaml,
every other range left at its default. At each step the policy and the PID
baseline fly the same randomized episodes (training.evaluation.evaluate, as
`tether eval` does: episode k is drawn from (seed, k), so both controllers meet
the same vehicles). A controller leaves a range at the first step where its
success rate falls below the threshold (0.9); the range ends when both have
left it. Its reach is the widest step before that; a controller that never
dropped reached the last listed step, so its reach is only a lower bound.

Run: `python -m training.robustness POLICY.onnx [--episodes 200] [--seed 0]
[--engine mujoco] [--ranges mass,thrust_to_weight,...] [--json OUT] [--plot OUT.png]`,
or the same arguments after `tether bench robustness`.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from sim.randomization.quadrotor import DEFAULT_CONFIG as DEFAULT_RANDOMIZATION
from sim.randomization.quadrotor import QuadrotorRandomization

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POLICY = ROOT / "policies" / "quadrotor_hover.onnx"
DEFAULT_SWEEP_CONFIG = Path(__file__).resolve().parent / "configs" / "robustness.yaml"
#: Engines evaluate() flies; reported figures use MuJoCo, the analytic engine is for quick checks.
ENGINES = ("mujoco", "pybullet", "analytic")
#: The controllers of every sweep, in table order.
CONTROLLERS = ("policy", "pid")
_METRICS = ("success_rate", "crash_rate", "final_pos_err_m_mean")

Bounds = tuple[float, float]


@dataclass(frozen=True)
class RangeSweep:
    """One range widened step by step: per step, the [low, high] of each randomization key it sets."""

    name: str
    unit: str
    keys: tuple[str, ...]
    steps: tuple[dict[str, Bounds], ...]
    default: dict[str, Bounds]

    def label(self, bounds: Mapping[str, Bounds]) -> str:
        return " · ".join(f"{bounds[k][0]:g}–{bounds[k][1]:g}" for k in self.keys)

    @property
    def default_label(self) -> str:
        return self.label(self.default)


@dataclass(frozen=True)
class SweepConfig:
    threshold: float
    ranges: dict[str, RangeSweep]


def default_randomization_dict(path: str | Path = DEFAULT_RANDOMIZATION) -> dict[str, Any]:
    """The default randomization config as a plain dict (the base every widening starts from)."""
    return yaml.safe_load(Path(path).read_text()) or {}


def _lookup(d: Mapping[str, Any], dotted: str) -> Any:
    node: Any = d
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def widened_dict(base: Mapping[str, Any], bounds: Mapping[str, Bounds]) -> dict[str, Any]:
    """A copy of the randomization dict with the given dotted keys set; nothing else changes."""
    out = copy.deepcopy(dict(base))
    for dotted, (lo, hi) in bounds.items():
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[leaf] = [lo, hi]
    return out


def widened_randomization(
    sweep: RangeSweep, step: int, base: Mapping[str, Any] | None = None
) -> QuadrotorRandomization:
    """The randomization of one step of one range: that range widened, every other at its default."""
    base = default_randomization_dict() if base is None else base
    return QuadrotorRandomization.from_dict(widened_dict(base, sweep.steps[step]))


def _bounds(where: str, value: Any, integer: bool) -> Bounds:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ValueError(f"{where}: expected [low, high], found {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)):
            kind = "integers" if integer else "numbers"
            raise ValueError(f"{where}: expected [low, high] as {kind}, found {value!r}")
    lo, hi = value
    if not lo <= hi:
        raise ValueError(f"{where}: need low ≤ high, found {value!r}")
    return (int(lo), int(hi)) if integer else (float(lo), float(hi))


def _contains(outer: Bounds, inner: Bounds) -> bool:
    return outer[0] <= inner[0] and outer[1] >= inner[1]


def load_sweep_config(
    path: str | Path = DEFAULT_SWEEP_CONFIG, base: Mapping[str, Any] | None = None
) -> SweepConfig:
    """Read and check the widening steps: keys exist in the randomization config, every step
    contains the default range and the step before it, and each step parses as a randomization."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"robustness config {path} not found (the shipped one: {DEFAULT_SWEEP_CONFIG})"
        )
    raw = yaml.safe_load(path.read_text()) or {}
    base = default_randomization_dict() if base is None else base
    unknown = set(raw) - {"threshold", "ranges"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected 'threshold' and 'ranges'")
    threshold = _threshold(raw.get("threshold", 0.9))
    ranges_raw = raw.get("ranges") or {}
    if not isinstance(ranges_raw, Mapping) or not ranges_raw:
        raise ValueError(f"{path}: 'ranges' must map range names to their steps")
    ranges: dict[str, RangeSweep] = {}
    for name, spec in ranges_raw.items():
        where = f"{path.name}: range '{name}'"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("steps"), Mapping) or not spec["steps"]:
            raise ValueError(
                f"{where}: expected {{unit: ..., steps: {{randomization.key: [[lo, hi], ...]}}}}"
            )
        keys = tuple(str(k) for k in spec["steps"])
        default: dict[str, Bounds] = {}
        per_key: dict[str, list[Bounds]] = {}
        for key in keys:
            try:
                base_value = _lookup(base, key)
            except KeyError:
                raise ValueError(
                    f"{where}: '{key}' is not a [low, high] entry of the randomization config "
                    f"({DEFAULT_RANDOMIZATION.name}); give its dotted path, e.g. vehicle.mass_kg.scale"
                ) from None
            integer = isinstance(base_value, list) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in base_value
            )
            default[key] = _bounds(f"{where}: default of '{key}'", base_value, integer)
            values = spec["steps"][key]
            if not isinstance(values, list) or not values:
                raise ValueError(f"{where}: '{key}' needs a list of [low, high], one per step")
            per_key[key] = [_bounds(f"{where}: '{key}' step {i}", v, integer) for i, v in enumerate(values)]
        lengths = {len(v) for v in per_key.values()}
        if len(lengths) != 1:
            raise ValueError(f"{where}: every key needs the same number of steps, found {sorted(lengths)}")
        steps = tuple({k: per_key[k][i] for k in keys} for i in range(lengths.pop()))
        for i, step in enumerate(steps):
            for key in keys:
                if not _contains(step[key], default[key]):
                    raise ValueError(
                        f"{where}: step {i} of '{key}' {list(step[key])} does not contain the default "
                        f"{list(default[key])}; a widening must contain it"
                    )
                if i and not _contains(step[key], steps[i - 1][key]):
                    raise ValueError(
                        f"{where}: step {i} of '{key}' {list(step[key])} is narrower than step {i - 1} "
                        f"{list(steps[i - 1][key])}; steps must widen"
                    )
            try:
                QuadrotorRandomization.from_dict(widened_dict(base, step))
            except ValueError as e:
                raise ValueError(f"{where}: step {i} is not a valid randomization: {e}") from None
        ranges[str(name)] = RangeSweep(str(name), str(spec.get("unit", "")), keys, steps, default)
    return SweepConfig(threshold, ranges)


def _threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value <= 1.0:
        raise ValueError(f"threshold must be a success rate in (0, 1], found {value!r}")
    return float(value)


def select_ranges(config: SweepConfig, names: str | Sequence[str] | None) -> list[RangeSweep]:
    """The named ranges in the given order (all of them for None); '-' and '_' are interchangeable."""
    if names is None:
        return list(config.ranges.values())
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    wanted = [n.strip().replace("-", "_") for n in names]
    if not wanted or any(not n for n in wanted):
        raise ValueError(
            f"--ranges: expected comma-separated range names from {list(config.ranges)}, found {names!r}"
        )
    for n in wanted:
        if n not in config.ranges:
            raise ValueError(f"unknown range '{n}'; available ranges: {', '.join(config.ranges)}")
    if len(set(wanted)) != len(wanted):
        raise ValueError(f"--ranges: a range is named twice in {wanted}")
    return [config.ranges[n] for n in wanted]


def _check_episodes(episodes: Any) -> int:
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a whole number ≥ 1, found {episodes!r}")
    return episodes


def sweep(
    controllers: Mapping[str, Any],
    ranges: Sequence[RangeSweep],
    episodes: int,
    seed: int = 0,
    engine: str = "mujoco",
    threshold: float = 0.9,
    base: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Widen each range step by step and evaluate every controller (name → evaluate() factory)
    on the same episodes until each has dropped below the threshold or the steps run out."""
    from training.evaluation import evaluate

    _check_episodes(episodes)
    threshold = _threshold(threshold)
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}'; available engines: {list(ENGINES)}")
    base = default_randomization_dict() if base is None else base
    names = list(controllers)
    bar = tqdm(
        total=sum(len(r.steps) for r in ranges) * len(names),
        desc="robustness",
        unit="eval",
        disable=not progress,
    )
    rows: list[dict[str, Any]] = []
    try:
        for rng_sweep in ranges:
            alive = dict.fromkeys(names, True)
            reach: dict[str, str | None] = dict.fromkeys(names)
            dropped_at: dict[str, str | None] = dict.fromkeys(names)
            cells: list[dict[str, Any]] = []
            for i, bounds in enumerate(rng_sweep.steps):
                if not any(alive.values()):
                    bar.total -= len(names) * (len(rng_sweep.steps) - i)
                    bar.refresh()
                    break
                label = rng_sweep.label(bounds)
                rand = widened_randomization(rng_sweep, i, base)
                cell: dict[str, Any] = {"widening": label, "bounds": {k: list(v) for k, v in bounds.items()}}
                for name in names:
                    if not alive[name]:
                        cell[name] = None
                        bar.total -= 1
                        continue
                    bar.set_postfix_str(f"{rng_sweep.name} {label} {name}")
                    report, _ = evaluate(
                        controllers[name], name, engine=engine, episodes=episodes, seed=seed,
                        randomize=True, randomization=rand, progress=False,
                    )  # fmt: skip
                    cell[name] = {k: report[k] for k in _METRICS}
                    bar.update(1)
                    if report["success_rate"] >= threshold:
                        reach[name] = label
                    else:
                        alive[name] = False
                        dropped_at[name] = label
                cells.append(cell)
                if progress:
                    tqdm.write(f"  {rng_sweep.name:20s} {label:18s} " + "  ".join(
                        f"{n} {_cell_text(cell[n])}" for n in names
                    ))  # fmt: skip
            rows.append({
                "range": rng_sweep.name,
                "unit": rng_sweep.unit,
                "default": rng_sweep.default_label,
                "widest": rng_sweep.label(rng_sweep.steps[-1]),
                "steps": cells,
                "reach": reach,
                "dropped_at": dropped_at,
                # never below the threshold up to the widest listed step: the reach is a lower bound
                "max_widening_reached": {n: alive[n] for n in names},
            })  # fmt: skip
    finally:
        bar.close()
    return rows


def _cell_text(cell: Mapping[str, float] | None) -> str:
    if cell is None:
        return "—"
    return (
        f"success {cell['success_rate']:.3f} crash {cell['crash_rate']:.3f} "
        f"error {cell['final_pos_err_m_mean'] * 100:.2f} cm"
    )


def format_table(result: Mapping[str, Any]) -> str:
    """Every evaluated step, then how far each controller reaches per range."""
    names = list(CONTROLLERS)
    header = f"{'range':20s} {'widening':18s}" + "".join(
        f" {n + ' success':>15s} {'crash':>6s} {'error cm':>9s}" for n in names
    )
    lines = [header, "-" * len(header)]
    for row in result["ranges"]:
        for cell in row["steps"]:
            text = f"{row['range']:20s} {cell['widening']:18s}"
            for n in names:
                c = cell.get(n)
                if c is None:
                    text += f" {'—':>15s} {'—':>6s} {'—':>9s}"
                else:
                    text += (
                        f" {c['success_rate']:15.3f} {c['crash_rate']:6.3f} "
                        f"{c['final_pos_err_m_mean'] * 100:9.2f}"
                    )
            lines.append(text)
    lines += ["", f"furthest widening with success ≥ {result['threshold']:g}:"]
    reach_header = f"{'range':20s} {'unit':30s} {'default':18s} {'policy':>26s} {'PID':>26s}"
    lines += [reach_header, "-" * len(reach_header)]
    for row in result["ranges"]:
        shown = [_reach_text(row, n) for n in names]
        lines.append(
            f"{row['range']:20s} {row['unit']:30s} {row['default']:18s} {shown[0]:>26s} {shown[1]:>26s}"
        )
    if any(any(row["max_widening_reached"].values()) for row in result["ranges"]):
        lines.append(
            "(max): never below the threshold up to the widest step listed; the reach is a lower bound"
        )
    return "\n".join(lines)


def _reach_text(row: Mapping[str, Any], name: str) -> str:
    if name not in row["reach"]:
        return "—"
    reach = row["reach"][name]
    if reach is None:
        return "none (below at first step)"
    return reach + (" (max)" if row["max_widening_reached"][name] else "")


def plot(result: Mapping[str, Any], path: str | Path) -> Path:
    """Success rate against widening, one panel per range, policy and PID, threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["ranges"]
    cols = min(3, len(rows))
    nrows = -(-len(rows) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.6 * nrows), squeeze=False)
    styles = {"policy": ("o-", "C0", "policy"), "pid": ("s--", "C1", "PID")}
    for ax, row in zip(axes.flat, rows, strict=False):
        labels = [c["widening"] for c in row["steps"]]
        x = list(range(len(labels)))
        for name, (fmt, color, text) in styles.items():
            y = [c[name]["success_rate"] if c.get(name) else float("nan") for c in row["steps"]]
            ax.plot(x, y, fmt, color=color, label=text)
        ax.axhline(result["threshold"], color="0.5", linestyle=":", linewidth=1)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(f"{row['range']} ({row['unit']})", fontsize=9)
        ax.set_ylabel("success rate")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(rows) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(
        f"{Path(result['policy']).name}: one range widened at a time, {result['episodes']} episodes "
        f"per point ({result['engine']}, seed {result['seed']})",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(
    policy: str | Path = DEFAULT_POLICY,
    episodes: int = 200,
    seed: int = 0,
    engine: str = "mujoco",
    ranges: str | Sequence[str] | None = None,
    threshold: float | None = None,
    config: str | Path = DEFAULT_SWEEP_CONFIG,
    json_path: str | Path | None = None,
    plot_path: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The whole sweep for one ONNX policy and the PID; prints the table, writes JSON / plot if asked."""
    from training.evaluation import pid_factory, policy_factory

    _check_episodes(episodes)
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}'; available engines: {list(ENGINES)}")
    base = default_randomization_dict()
    cfg = load_sweep_config(config, base)
    threshold = cfg.threshold if threshold is None else _threshold(threshold)
    selected = select_ranges(cfg, ranges)
    policy = Path(policy)
    if not policy.is_file():
        raise FileNotFoundError(
            f"policy {policy} not found; pass an exported ONNX policy (`tether export RUN_DIR`), "
            "or produce the shipped one as the README's hover section says"
        )
    print(
        f"robustness: {policy.name} and the PID, {episodes} randomized {engine} episodes per step "
        f"(seed {seed}), success threshold {threshold:g}, ranges: {', '.join(r.name for r in selected)}",
        flush=True,
    )
    started = time.perf_counter()
    rows = sweep(
        {"policy": policy_factory(str(policy)), "pid": pid_factory}, selected, episodes, seed=seed,
        engine=engine, threshold=threshold, base=base, progress=progress,
    )  # fmt: skip
    result: dict[str, Any] = {
        "policy": str(policy),
        "engine": engine,
        "episodes": episodes,
        "seed": seed,
        "threshold": threshold,
        "config": str(config),
        "wall_time_s": time.perf_counter() - started,
        "ranges": rows,
    }
    print()
    print(format_table(result))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(result, indent=2))
        print(f"wrote {json_path}")
    if plot_path:
        print(f"wrote {plot(result, plot_path)}")
    return result


def build_parser(prog: str = "python -m training.robustness") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="Widen one randomization range at a time until a hover policy's success drops "
        "below the threshold; the PID flies the same episodes beside it.",
    )
    ap.add_argument(
        "policy",
        nargs="?",
        default=str(DEFAULT_POLICY),
        help="exported ONNX policy (default: the shipped one)",
    )
    ap.add_argument(
        "--episodes", type=int, default=200, help="episodes per step and controller (default: %(default)s)"
    )
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed: episode k is drawn from (seed, k)")
    ap.add_argument(
        "--engine", default="mujoco", choices=ENGINES, help="physics engine (default: %(default)s)"
    )
    ap.add_argument(
        "--ranges",
        help="comma-separated ranges to sweep, in this order (default: all in the config: "
        "mass,thrust_to_weight,motor_time_constant,action_delay,disturbance)",
    )
    ap.add_argument(
        "--threshold", type=float, help="success rate that counts as flying (default: the config's, 0.9)"
    )
    ap.add_argument("--config", default=str(DEFAULT_SWEEP_CONFIG), help="widening steps (YAML)")
    ap.add_argument("--json", help="write every step and the reaches to this JSON file")
    ap.add_argument("--plot", help="write success against widening, per range, to this PNG")
    ap.add_argument("--quiet", action="store_true", help="no progress bar or per-step lines")
    return ap


def main(argv: list[str] | None = None, prog: str = "python -m training.robustness") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        run(
            args.policy, args.episodes, args.seed, args.engine, args.ranges, args.threshold, args.config,
            args.json, args.plot, progress=not args.quiet,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
