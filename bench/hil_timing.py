"""Wall-clock figures of hardware-in-the-loop fault handling, between real processes over DDS.

The HIL tests check what must hold whatever the host's load (states, orders, counts, simulated
time); how fast it happens in wall-clock time depends on the machine, so it is measured here:

- freeze: the odometry's age when the policy node failed safe, against its limit and the limit
  plus one control period (what an unloaded host achieves);
- kill: wall time from SIGKILL of the policy process to the bridge's watchdog taking over;
- estop: wall time from publishing the e-stop to the first zero motor command at the bridge;
- latency: end-to-end sensor-to-command latency (p50 / p99) without and with 20 ms added.

Run: `tether bench hil-timing [--policy FILE] [--repeats N] [--domain-id D] [--json FILE]`.
Without --policy it flies the linear fixture policy fitted to the PID near hover.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.sim_throughput import machine_description

#: (label, faults) flown per repeat; each run is a separate pair of node processes.
RUNS: tuple[tuple[str, list[str]], ...] = (
    ("fault-free", []),
    ("freeze", ["freeze@7"]),
    ("kill", ["kill@7"]),
    ("estop", ["estop@8"]),
    ("latency", ["latency"]),
)
SECONDS = 10.0


def _fixture_policy(work: Path) -> Path:
    from tests.runtime_helpers import hover_policy

    return hover_policy(work / "linear_hover.onnx")


def _figures(label: str, report: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "latency_ms_p50": _ms(report.get("latency_us_p50")),
        "latency_ms_p99": _ms(report.get("latency_us_p99")),
        "deadline_misses": report.get("deadline_misses"),
    }
    outcomes = {o["fault"].split("@")[0]: o for o in report.get("fault_outcomes", [])}
    if label == "freeze" and "freeze" in outcomes:
        o = outcomes["freeze"]["observed"]
        out["odometry_age_at_failsafe_ms"] = _ms_s(o.get("odometry_age_at_failsafe_s"))
        out["staleness_limit_ms"] = _ms_s(o.get("staleness_limit_s"))
        out["within_one_period_of_limit"] = o.get("within_one_period_of_limit")
    if label == "kill" and "kill" in outcomes:
        out["kill_to_watchdog_ms"] = outcomes["kill"]["observed"].get("kill_to_watchdog_ms")
    if label == "estop" and "estop" in outcomes:
        out["estop_to_motors_stopped_ms"] = outcomes["estop"]["observed"].get("motors_stopped_ms_after_estop")
    out["outcomes_met"] = all(o["met"] for o in outcomes.values())
    return out


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1e3


def _ms_s(s: float | None) -> float | None:
    return None if s is None else s * 1e3


def _summary(values: list[Any]) -> str:
    vals = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not vals:
        return "—"
    if len(vals) == 1:
        return f"{vals[0]:.1f}"
    return f"{np.median(vals):.1f} (min {min(vals):.1f}, max {max(vals):.1f})"


def main(argv: list[str] | None = None) -> None:
    from tether.hil.run import run_hil

    ap = argparse.ArgumentParser(prog="tether bench hil-timing", description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default=None, help="ONNX policy (default: the linear fixture policy)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each scenario (default 1)")
    ap.add_argument("--domain-id", type=int, default=171, help="first DDS domain id (one per run)")
    ap.add_argument("--json", default=None, help="write every run's figures here")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, found {args.repeats}")

    rows: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in RUNS}
    with tempfile.TemporaryDirectory(prefix="tether-hil-timing-") as tmp:
        work = Path(tmp)
        policy = Path(args.policy) if args.policy else _fixture_policy(work)
        domain = args.domain_id
        for r in range(args.repeats):
            for label, faults in RUNS:
                print(f"[{r + 1}/{args.repeats}] {label} ...", flush=True)
                report = run_hil(
                    seconds=SECONDS, domain_id=domain, faults=faults, policy=policy,
                    work_dir=work / f"{label}-{r}", progress=False,
                )
                domain += 1
                rows[label].append(_figures(label, report))

    print(f"\nHIL wall-clock figures · {machine_description()} · policy {args.policy or 'linear fixture'}")
    print(f"{'run':<11} {'figure':<32} value (median over {args.repeats} run(s))")
    for label, runs in rows.items():
        keys = [k for k in runs[0] if k != "outcomes_met"]
        for k in keys:
            vals = [run.get(k) for run in runs]
            shown = str(vals[0]) if isinstance(vals[0], bool) or vals[0] is None else _summary(vals)
            print(f"{label:<11} {k:<32} {shown}")
        print(f"{label:<11} {'outcomes met':<32} {sum(run['outcomes_met'] for run in runs)}/{len(runs)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine_description(), "runs": rows}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
