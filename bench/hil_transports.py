"""Latency, jitter and CPU of the HIL hover for each transport combination, side by side, one run.

The policy node and the simulator bridge each run on Cyclone DDS (Tether's `dds` transport, no
ROS 2 needed) or on rclpy (ROS 2 on Fast DDS), so four combinations fly the same fault-free hover
episode with the same policy:

    policy node / bridge:  dds / dds,  rclpy / rclpy,  rclpy / dds,  dds / rclpy

Per combination it prints the sensor-to-command latency (odometry sample at the bridge → the
command computed from it received back at the bridge, two DDS hops, p50 / p99), the policy
loop's period jitter (p99) and deadline misses, each node process's CPU use (% of one core,
process time over wall time while its loop ran) and whether the flight succeeded. Combinations
are flown round-robin, `--repeats` times, so a loaded machine's drift spreads over all of them;
figures are medians over the repeats, and latency is also given as a ratio to dds / dds flown
in the same run (the baseline).

Run: `tether bench hil-transports [--seconds S] [--repeats N] [--policy FILE] [--json FILE]`.
Without --policy it flies the linear fixture policy fitted to the PID near hover. Needs the
project's `ros` extra (rclpy); without it only dds / dds can fly and the others are skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.sim_throughput import machine_description

#: (policy node transport, simulator bridge transport); the first is the baseline.
COMBINATIONS: tuple[tuple[str, str], ...] = (
    ("dds", "dds"),
    ("rclpy", "rclpy"),
    ("rclpy", "dds"),
    ("dds", "rclpy"),
)
#: Figures per run, in table order: (key, header, format).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("latency_ms_p50", "latency p50 ms", ".2f"),
    ("latency_ms_p99", "p99 ms", ".2f"),
    ("latency_p50_vs_baseline", "p50 / dds-dds", ".2f"),
    ("jitter_us_p99", "jitter p99 µs", ".0f"),
    ("deadline_misses", "misses", ".0f"),
    ("policy_cpu_percent", "CPU policy %", ".1f"),
    ("bridge_cpu_percent", "CPU bridge %", ".1f"),
)


def label(policy: str, bridge: str) -> str:
    return f"{policy} / {bridge}"


def rclpy_available() -> bool:
    r = subprocess.run([sys.executable, "-c", "import rclpy"], capture_output=True, timeout=60)
    return r.returncode == 0


def figures(report: dict[str, Any], policy_report: dict[str, Any] | None) -> dict[str, Any]:
    """One run's figures from the HIL report and the policy node's own report (its CPU use)."""

    def ms(us: float | None) -> float | None:
        return None if us is None else us / 1e3

    policy_loop = (policy_report or {}).get("loop") or {}
    bridge_loop = (report.get("bridge") or {}).get("loop") or {}
    return {
        "latency_ms_p50": ms(report.get("latency_us_p50")),
        "latency_ms_p99": ms(report.get("latency_us_p99")),
        "jitter_us_p99": report.get("jitter_us_p99"),
        "deadline_misses": report.get("deadline_misses"),
        "policy_cpu_percent": policy_loop.get("cpu_percent"),
        "bridge_cpu_percent": bridge_loop.get("cpu_percent"),
        "success": bool(report.get("success")),
        "why_not": None if report.get("success") else why_not(report),
    }


def why_not(report: dict[str, Any]) -> str:
    """What made a flight fail, from the HIL report (hover, waypoints, landing, crash)."""
    fl = report.get("flight") or {}
    wps = fl.get("waypoints") or []
    rmse = report.get("pos_rmse_m") or 0.0
    parts = [
        f"hover {'ok' if fl.get('hover_success') else 'missed'} (RMSE {rmse:.3f} m)",
        f"waypoints {sum(bool(w.get('reached')) for w in wps)}/{len(wps)}",
        "landed" if fl.get("landed") else "not landed",
    ]
    if fl.get("crash"):
        parts.append(f"crash: {fl['crash'].get('reason')}")
    return ", ".join(parts)


def median(values: list[Any]) -> float | None:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return float(np.median(vals)) if vals else None


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Median of each figure per combination, the latency ratio to the baseline (the first
    combination), and the flights that succeeded."""
    out: dict[str, dict[str, Any]] = {}
    for name, rs in runs.items():
        row = {
            key: median([r.get(key) for r in rs]) for key, _, _ in COLUMNS if key != "latency_p50_vs_baseline"
        }
        row["succeeded"] = f"{sum(r['success'] for r in rs)}/{len(rs)}"
        out[name] = row
    base = out.get(label(*COMBINATIONS[0]), {}).get("latency_ms_p50")
    for row in out.values():
        p50 = row.get("latency_ms_p50")
        row["latency_p50_vs_baseline"] = None if not base or p50 is None else p50 / base
    return out


def table(summary: dict[str, dict[str, Any]]) -> str:
    """The combinations side by side, one row each ("—" where a figure is missing)."""
    head = f"{'policy / bridge':<16}" + "".join(f"{h:>15}" for _, h, _ in COLUMNS) + f"{'flights ok':>12}"
    lines = [head, "-" * len(head)]
    for name, row in summary.items():
        cells = "".join(
            f"{'—' if row.get(key) is None else format(row[key], fmt):>15}" for key, _, fmt in COLUMNS
        )
        lines.append(f"{name:<16}{cells}{row['succeeded']:>12}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from tether.hil.run import HilError, run_hil

    ap = argparse.ArgumentParser(prog="tether bench hil-transports", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="simulated flight per run (default 10)")
    ap.add_argument("--repeats", type=int, default=1, help="rounds over the four combinations (default 1)")
    ap.add_argument("--policy", default=None, help="ONNX policy (default: the linear fixture policy)")
    ap.add_argument("--json", default=None, help="write every run's figures here")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, found {args.repeats}")
    combos = COMBINATIONS if rclpy_available() else COMBINATIONS[:1]
    if len(combos) < len(COMBINATIONS):
        print("rclpy is not importable: only dds / dds flies (install the project's `ros` extra)")
    runs: dict[str, list[dict[str, Any]]] = {label(*c): [] for c in combos}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tether-hil-transports-") as tmp:
        work = Path(tmp)
        if args.policy:
            policy = Path(args.policy)
        else:
            from tests.runtime_helpers import hover_policy

            policy = hover_policy(work / "linear_hover.onnx")
        for r in range(args.repeats):
            for pol, bri in combos:
                name = label(pol, bri)
                print(f"[{r + 1}/{args.repeats}] policy node {pol}, bridge {bri} ...", flush=True)
                run_dir = work / f"{pol}-{bri}-{r}"
                try:
                    report = run_hil(
                        seconds=args.seconds, policy=policy, work_dir=run_dir, progress=False,
                        compare_eval=False, policy_transport=pol, bridge_transport=bri,
                    )  # fmt: skip
                except HilError as exc:
                    failures.append(f"{name} (round {r + 1}) not flown: {str(exc).splitlines()[0][:300]}")
                    continue
                policy_json = run_dir / "policy_node.json"
                policy_report = json.loads(policy_json.read_text()) if policy_json.exists() else None
                runs[name].append(figures(report, policy_report))
                if runs[name][-1]["why_not"]:
                    failures.append(f"{name} (round {r + 1}) flew but failed: {runs[name][-1]['why_not']}")
    summary = summarize({k: v for k, v in runs.items() if v})
    print(
        f"\nHIL hover by transport · {args.seconds:g} s simulated per run · median over {args.repeats} "
        f"round(s) · {machine_description()} · policy {args.policy or 'linear fixture'}"
    )
    print(table(summary))
    for f in failures:
        print(f"not ok: {f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": machine_description(), "runs": runs, "summary": summary}, indent=2)
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
