"""`tether demo` / `make demo`: the whole path on the embedded default vehicle.

train a hover policy (short budget) → export it to ONNX with its contract →
evaluate it in closed loop (ONNX Runtime, MuJoCo, randomized) against the
PID baseline on the same episodes → write a report folder with the metrics,
plots and a rendered image strip → fly the policy once more in a short
hardware-in-the-loop run (policy node and simulator bridge as separate
processes over DDS). `--pretrained` skips training and uses a shipped policy.

The demo's training budget (150 s by default, so the whole job fits in about
five minutes on two cores) is shorter than the recipe's full schedule. When
the freshly trained policy does not pass the gate on the demo's episodes, the
evaluation, plots, image strip and HIL flight use a shipped policy
(SHIPPED_POLICIES, first present: the motor-level one, else the collective
thrust + body rate one), labelled as such, and the freshly trained one is
reported beside it. Each policy flies its own task (the ctbr task for a ctbr
contract, training.evaluation.config_for_policy) against the PID baseline on
the same episodes of that task, as `tether gate` does. A ctbr policy's HIL
flight goes through the PX4 emulator (`tether hil --vehicle px4`): PX4's
VehicleRatesSetpoint is the interface that takes rate setpoints.

Exit status 1 (after the whole report is written, with the reasons on stderr) when the flown
policy misses the gate on the demo's episodes or its HIL flight fails or disagrees with
`tether eval`; metrics.json `passed` says the same.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sim.tasks.quadrotor_hover import DEFAULT_CONFIG
from training.evaluation import (
    CTBR_TASK_CONFIG,
    config_for_policy,
    evaluate,
    pid_factory,
    policy_factory,
    summary_line,
)
from training.gate import GATE_EPISODES, GATE_SEEDS, describe_thresholds, gate_verdict

POLICIES = Path(__file__).resolve().parent.parent / "policies"
#: The shipped motor-level hover policy (the demo's own recipe, trained for its full schedule).
PRETRAINED = POLICIES / "quadrotor_hover.onnx"
#: The shipped collective thrust + body rate (ctbr) hover policy.
PRETRAINED_CTBR = POLICIES / "quadrotor_hover_ctbr.onnx"
#: What the demo flies when its freshly trained policy does not pass the gate: the first present.
SHIPPED_POLICIES = (PRETRAINED, PRETRAINED_CTBR)
TASK = "quadrotor-hover"
#: Roughly how long the default hover recipe trains on a 2-core machine (README, hover training).
RECIPE_MINUTES = 25
#: Figures of the closing HIL run copied into metrics.json (the whole report is hil.json).
HIL_SUMMARY_FIELDS = (
    "success",
    "pos_rmse_m",
    "latency_us_p50",
    "latency_us_p99",
    "jitter_us_p99",
    "deadline_misses",
    "messages_dropped",
)
#: How the closing HIL flight reaches the vehicle, by the flown policy's action mode: motor commands
#: on Tether's own topics, rate setpoints through PX4's uXRCE-DDS protocol (the PX4 emulator).
HIL_VEHICLE = {"actuators": None, "ctbr": "px4"}


def shipped_policy(candidates: Sequence[Path] | None = None) -> Path | None:
    """The first shipped hover policy present (SHIPPED_POLICIES by default), or None."""
    for path in SHIPPED_POLICIES if candidates is None else candidates:
        if Path(path).is_file():
            return Path(path)
    return None


def choose_flown_policy(
    trained: Path | None, trained_passed: bool, candidates: Sequence[Path] | None = None
) -> tuple[Path | None, str]:
    """(file, source) that the evaluation, plots, image strip and HIL flight use: the freshly
    trained policy when it passed the gate, else the first shipped one present ("shipped"), else
    the freshly trained one anyway (None when there is neither)."""
    if trained is not None and trained_passed:
        return trained, "trained"
    shipped = shipped_policy(candidates)
    if shipped is not None:
        return shipped, "shipped"
    return trained, "trained"


def action_mode(path: str | Path) -> str:
    """The action mode of an exported policy's contract: "actuators" (motors) or "ctbr"."""
    from deploy.policy_file import PolicyFile

    return PolicyFile(path).contract.action_mode


def _task_words(mode: str) -> str:
    return "ctbr task" if mode == "ctbr" else "motor-level task"


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"Tether demo → {out}/")
    trained: Path | None = None
    if args.pretrained:
        if shipped_policy() is None:
            raise FileNotFoundError(
                "--pretrained needs a shipped hover policy ("
                + " or ".join(str(p) for p in SHIPPED_POLICIES)
                + "), and none is present; run the demo without --pretrained to train one"
            )
        print(f"[1/5] using the shipped policy {shipped_policy()} (training skipped)")
        print("[2/5] export skipped")
    else:
        from training.export import export
        from training.train import train

        run_dir = out / "run"
        if run_dir.exists() and any(run_dir.glob("model_*.pt")):
            raise FileExistsError(f"{run_dir} holds an earlier demo run; remove it or pass --out elsewhere")
        print(
            f"[1/5] training {TASK} with rsl_rl PPO, domain randomization on, for {args.train_seconds:.0f} s"
        )
        train(TASK, run_dir, seed=args.seed, max_seconds=args.train_seconds, max_iterations=10**9)
        print("[2/5] exporting to ONNX (contract embedded, parity-checked against PyTorch)")
        trained = Path(export(run_dir))
        print(f"      {trained}")

    print(
        f"[3/5] evaluating in closed loop (ONNX Runtime) against the PID baseline on the same "
        f"{args.episodes} randomized episodes in MuJoCo"
    )
    pid_reports: dict[str, tuple[dict, object]] = {}  # by action mode: the PID on that task's episodes

    def run_eval(factory: object, name: str, mode: str, config: object) -> tuple[dict, object]:
        report, traj = evaluate(
            factory, name, episodes=args.episodes, seed=args.seed, randomize=True,
            record_episodes=args.plot_episodes, config=config,
        )  # fmt: skip
        report["action_mode"] = mode
        print("      " + summary_line(report))
        return report, traj

    def evaluate_with_pid(path: Path, name: str) -> tuple[dict, object, str]:
        """The policy on its own task, and the PID on the same episodes of it (once per task)."""
        mode, config = action_mode(path), config_for_policy(path)
        if mode not in pid_reports:
            pid_reports[mode] = run_eval(pid_factory, f"pid ({_task_words(mode)})", mode, config)
        report, traj = run_eval(policy_factory(str(path)), name, mode, config)
        return report, traj, mode

    reports, trajectories = {}, {}
    trained_passed = False
    if trained is not None:
        fresh = f"freshly trained ({args.train_seconds:.0f} s)"
        reports["trained"], trajectories["trained"], trained_mode = evaluate_with_pid(trained, fresh)
        trained_passed = gate_verdict(reports["trained"])
    policy, source = choose_flown_policy(trained, trained_passed)
    assert policy is not None  # --pretrained checked that a shipped policy is present
    mode = action_mode(policy)
    if trained is not None and not trained_passed:
        if source == "shipped":
            print(
                f"      the freshly trained policy does not pass the gate after {args.train_seconds:.0f} s "
                f"of training (the recipe needs ~{RECIPE_MINUTES} min); the rest of the demo flies the "
                f"shipped policy {policy.name}"
                + (
                    " (collective thrust + body rates, on the ctbr task with its own PID baseline)"
                    if mode == "ctbr"
                    else ", trained with the same recipe for its full schedule"
                )
            )
        else:
            print(
                "      the freshly trained policy does not pass the gate, and no shipped hover policy is "
                f"present ({', '.join(p.name for p in SHIPPED_POLICIES)}); the rest of the demo flies it"
            )
    if source == "shipped":
        reports["policy"], trajectories["policy"], _ = evaluate_with_pid(policy, f"shipped {policy.name}")
    else:
        reports["policy"], trajectories["policy"] = reports["trained"], trajectories["trained"]
    reports["pid"], trajectories["pid"] = pid_reports[mode]
    if trained is not None and trained_mode != mode:
        # the freshly trained policy's own baseline: the PID on the episodes of its task
        reports["trained_pid"], trajectories["trained_pid"] = pid_reports[trained_mode]
    gate = gate_verdict(reports["policy"])

    print("[4/5] writing the report")
    from sim.randomization.quadrotor import QuadrotorRandomization
    from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
    from training.report import plot_position_error, plot_trajectories, render_episode_strip

    mode_words = " (ctbr)" if mode == "ctbr" else ""
    kind = "ctbr policy" if mode == "ctbr" else "policy"
    flown_label = f"shipped {kind}" if source == "shipped" else f"learned {kind}"
    pid_label = "PID baseline" + (" (ctbr task)" if mode == "ctbr" else "")
    runs = {flown_label: trajectories["policy"], pid_label: trajectories["pid"]}
    if source == "shipped" and trained is not None:
        runs[f"freshly trained ({args.train_seconds:.0f} s)"] = trajectories["trained"]
    artefacts = {
        "trajectories": str(plot_trajectories(runs, out / "trajectories.png")),
        "position_error": str(plot_position_error(runs, out / "position_error.png")),
    }
    flown_config = config_for_policy(policy)

    def make_env() -> QuadrotorHoverEnv:
        return QuadrotorHoverEnv(
            1, config=flown_config, randomization=QuadrotorRandomization.from_yaml(), seed=args.seed,
            autoreset=False,
        )  # fmt: skip

    probe = make_env()
    controller = policy_factory(str(policy))(probe)
    probe.close()
    strip = render_episode_strip(make_env, controller, 0, out / "episode_strip.png")
    if isinstance(strip, Path):
        artefacts["episode_strip"] = str(strip)
    else:
        print(f"      rendering skipped: {strip}")
        artefacts["episode_strip"] = None
    metrics = {
        "policy_file": str(policy),
        "policy_source": {
            "source": source,
            "file": str(policy),
            "action_mode": mode,
            "task_config": str(CTBR_TASK_CONFIG if mode == "ctbr" else DEFAULT_CONFIG),
        },
        "gate": {
            "passed": gate,
            "episodes": args.episodes,
            "thresholds": describe_thresholds(),
            "note": f"the official gate uses {GATE_EPISODES} episodes for each seed in {list(GATE_SEEDS)}",
        },
        "policy": _without_episodes(reports["policy"]),
        "pid": _without_episodes(reports["pid"]),
        "artefacts": artefacts,
    }
    if trained is not None:
        metrics["trained"] = {
            "policy_file": str(trained),
            "action_mode": trained_mode,
            "train_seconds": args.train_seconds,
            "gate_passed": trained_passed,
            **_without_episodes(reports["trained"]),
        }
        if "trained_pid" in reports:
            metrics["trained"]["pid"] = _without_episodes(reports["trained_pid"])
    hil_vehicle = HIL_VEHICLE.get(mode)
    hil_words = (
        "through the PX4 emulator (PX4's uXRCE-DDS protocol: VehicleRatesSetpoint, the interface that "
        "takes rate setpoints, as `tether hil --vehicle px4`)"
        if hil_vehicle == "px4"
        else "on Tether's topics"
    )
    if args.hil_seconds > 0:
        from tether.hil.run import run_hil
        from tether.hil.run import summary as hil_summary

        print(
            f"[5/5] hardware-in-the-loop: {args.hil_seconds:g} s over DDS (policy node + simulator bridge) "
            f"{hil_words}, {flown_label} {Path(policy).name}"
        )
        hil = run_hil(
            seconds=args.hil_seconds, policy=policy, work_dir=out / "hil", progress=False, vehicle=hil_vehicle
        )
        (out / "hil.json").write_text(json.dumps(hil, indent=2, default=str))
        metrics["hil"] = {k: hil.get(k) for k in HIL_SUMMARY_FIELDS}
        metrics["hil"]["vehicle"] = hil_vehicle
        metrics["hil"]["eval_agreement"] = (hil.get("eval_agreement") or {}).get("agree")
        if hil.get("px4") is not None:
            metrics["hil"]["px4_protocol_met"] = hil["px4"]["met"]
        print("      " + hil_summary(hil).replace("\n", "\n      "))
        if hil_vehicle == "px4" and mode == "ctbr" and hil.get("latency_us_p50") is None:
            print(
                "      (sensor-to-command latency not measured: PX4's VehicleRatesSetpoint carries no "
                "timestamp_sample, so the emulator cannot match a setpoint to the odometry it answers)"
            )
    else:
        print("[5/5] hardware-in-the-loop run skipped (--hil-seconds 0)")
    metrics["wall_time_s"] = time.perf_counter() - started
    failures = demo_failures(metrics)
    metrics["passed"] = not failures
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for name in reports:
        (out / f"eval_{name}.json").write_text(json.dumps(reports[name], indent=2))
    rows = [(f"{flown_label} (ONNX)", reports["policy"]), (pid_label, reports["pid"])]
    if source == "shipped" and trained is not None:
        rows.append((f"freshly trained ({args.train_seconds:.0f} s)", reports["trained"]))
        if "trained_pid" in reports:
            rows.append(("PID baseline (motor-level task)", reports["trained_pid"]))
    width = max(30, 2 + max(len(label) for label, _ in rows))
    print()
    print(f"{'':{width}s}{'success':>9s}{'crash':>8s}{'final err mean':>16s}{'p95':>10s}")
    for label, r in rows:
        print(
            f"{label:{width}s}{r['success_rate']:9.3f}{r['crash_rate']:8.3f}"
            f"{r['final_pos_err_m_mean'] * 100:13.2f} cm{r['final_pos_err_m_p95'] * 100:7.2f} cm"
        )
    print(
        f"report: {out}/ (metrics.json, trajectories.png, position_error.png"
        f"{', episode_strip.png' if artefacts['episode_strip'] else ''}) in {metrics['wall_time_s']:.0f} s"
    )
    flown = f"{'shipped' if source == 'shipped' else 'freshly trained'} {Path(policy).name}{mode_words}"
    verdict = f"flown policy {flown}: gate ({describe_thresholds()}) {'PASSED' if gate else 'not passed'}"
    if "hil" in metrics:
        where = "PX4 emulator" if hil_vehicle == "px4" else "Tether's topics"
        flight = "SUCCESS" if metrics["hil"]["success"] else "FAILURE"
        verdict += f"; hardware-in-the-loop flight ({where}): {flight}"
    else:
        verdict += "; hardware-in-the-loop flight skipped"
    print(verdict)
    if failures:
        print("demo FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


def demo_failures(metrics: dict) -> list[str]:
    """Why the demo did not end with a passing result (empty: it did): the flown policy misses the
    gate on the demo's episodes, or its hardware-in-the-loop flight failed or disagreed with
    `tether eval`."""
    out = []
    if not metrics["gate"]["passed"]:
        out.append(f"the flown policy does not pass the gate ({metrics['gate']['thresholds']})")
    hil = metrics.get("hil")
    if hil is not None:
        if not hil.get("success"):
            out.append("its hardware-in-the-loop flight failed (see hil.json)")
        elif hil.get("eval_agreement") is False:
            out.append("its hardware-in-the-loop flight disagrees with `tether eval` (see hil.json)")
    return out


def _without_episodes(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "per_episode"}
