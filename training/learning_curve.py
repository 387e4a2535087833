"""Learning curves of training runs from their validation records (best.yaml), one line per run.

Run: `python -m training.learning_curve RUN_DIR[=LABEL] ... --out curves.png`.
Three panels over training iterations with the gate's thresholds drawn in:
quadrotor-hover: validation success rate, crash rate and mean final position
error; quadruped-walk: fall rate, linear- and yaw-velocity tracking errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from training.gate import GATE_MAX_CRASH_RATE, GATE_MAX_FINAL_POS_ERR_M, GATE_SUCCESS_RATE
from training.validation import BEST_RECORD_NAME


def load_history(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / BEST_RECORD_NAME
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: the run kept no validation record (its config has no validation section, "
            "or it stopped before the first check)"
        )
    return list(yaml.safe_load(path.read_text())["history"])


def plot_learning_curves(runs: dict[str, list[dict]], path: str | Path) -> Path:
    """One line per run in each of three panels; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("no runs to plot")
    first = next(iter(runs.values()))
    walking = bool(first) and "fall_rate" in first[0]
    if any(bool(h) and ("fall_rate" in h[0]) != walking for h in runs.values()):
        raise ValueError("cannot plot hover and walking runs together: their validation figures differ")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    if walking:
        gate = first[0]["gate"]
        panels = (
            ("fall_rate", "fall rate", 1.0, gate["max_fall_rate"]),
            ("lin_vel_err_m_s_mean", "linear-velocity error (m/s)", 1.0, gate["max_lin_vel_err_m_s"]),
            ("yaw_rate_err_rad_s_mean", "yaw-rate error (rad/s)", 1.0, gate["max_yaw_rate_err_rad_s"]),
        )
    else:
        panels = (
            ("success_rate", "success rate", 1.0, GATE_SUCCESS_RATE),
            ("crash_rate", "crash rate", 1.0, GATE_MAX_CRASH_RATE),
            ("final_pos_err_m_mean", "mean final error (cm)", 100.0, GATE_MAX_FINAL_POS_ERR_M),
        )
    for ax, (key, label, scale, threshold) in zip(axes, panels, strict=True):
        for name, history in runs.items():
            its = [h["iteration"] for h in history]
            ax.plot(its, [h[key] * scale for h in history], lw=1.5, label=name)
        ax.axhline(threshold * scale, color="k", ls="--", lw=1, label="gate")
        ax.set(xlabel="PPO iteration", ylabel=label)
        if key in ("final_pos_err_m_mean", "lin_vel_err_m_s_mean", "yaw_rate_err_rad_s_mean"):
            ax.set(yscale="log")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle("Validation during training (randomized validation episodes, deterministic actor)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories, each optionally RUN_DIR=LABEL")
    ap.add_argument("--out", required=True, type=Path, help="PNG file to write")
    args = ap.parse_args(argv)
    runs = {}
    for spec in args.runs:
        run_dir, _, label = spec.partition("=")
        runs[label or Path(run_dir).name] = load_history(run_dir)
    print(f"wrote {plot_learning_curves(runs, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
