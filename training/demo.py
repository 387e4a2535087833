"""`tether demo` / `make demo`: the whole path on the embedded default vehicle.

train a hover policy (short budget) → export it to ONNX with its contract →
evaluate it in closed loop (ONNX Runtime, MuJoCo, randomized) against the
PID baseline on the same episodes → write a report folder with the metrics,
plots and a rendered image strip → fly the policy once more in a short
hardware-in-the-loop run (policy node and simulator bridge as separate
processes over DDS). `--pretrained` skips training and uses the shipped policy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from training.evaluation import evaluate, pid_factory, policy_factory, summary_line
from training.gate import GATE_EPISODES, GATE_SUCCESS_RATE

PRETRAINED = Path(__file__).resolve().parent.parent / "policies" / "quadrotor_hover.onnx"
TASK = "quadrotor-hover"
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


def run_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"Tether demo → {out}/")
    if args.pretrained:
        policy = PRETRAINED
        print(f"[1/5] using the shipped policy {policy} (training skipped)")
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
        policy = export(run_dir)
        print(f"      {policy}")

    print(
        f"[3/5] evaluating the policy (ONNX Runtime) and the PID baseline on the same {args.episodes} "
        "randomized episodes in MuJoCo"
    )
    reports, trajectories = {}, {}
    for name, factory in (("policy", policy_factory(str(policy))), ("pid", pid_factory)):
        reports[name], trajectories[name] = evaluate(
            factory,
            Path(policy).name if name == "policy" else "pid",
            episodes=args.episodes,
            seed=args.seed,
            randomize=True,
            record_episodes=args.plot_episodes,
        )
        print("      " + summary_line(reports[name]))
    gate = (
        reports["policy"]["success_rate"] >= GATE_SUCCESS_RATE
        and reports["policy"]["final_pos_err_m_mean"] <= reports["pid"]["final_pos_err_m_mean"]
    )

    print("[4/5] writing the report")
    from sim.randomization.quadrotor import QuadrotorRandomization
    from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
    from training.report import plot_position_error, plot_trajectories, render_episode_strip

    runs = {"learned policy": trajectories["policy"], "PID baseline": trajectories["pid"]}
    artefacts = {
        "trajectories": str(plot_trajectories(runs, out / "trajectories.png")),
        "position_error": str(plot_position_error(runs, out / "position_error.png")),
    }

    def make_env() -> QuadrotorHoverEnv:
        return QuadrotorHoverEnv(
            1, randomization=QuadrotorRandomization.from_yaml(), seed=args.seed, autoreset=False
        )

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
        "gate": {
            "passed": gate,
            "episodes": args.episodes,
            "required_success_rate": GATE_SUCCESS_RATE,
            "note": f"the official gate uses {GATE_EPISODES} episodes",
        },
        "policy": {k: v for k, v in reports["policy"].items() if k != "per_episode"},
        "pid": {k: v for k, v in reports["pid"].items() if k != "per_episode"},
        "artefacts": artefacts,
    }
    if args.hil_seconds > 0:
        from deploy.hil.run import run_hil
        from deploy.hil.run import summary as hil_summary

        print(f"[5/5] hardware-in-the-loop: {args.hil_seconds:g} s over DDS (policy node + simulator bridge)")
        hil = run_hil(seconds=args.hil_seconds, policy=policy, work_dir=out / "hil", progress=False)
        (out / "hil.json").write_text(json.dumps(hil, indent=2, default=str))
        metrics["hil"] = {k: hil.get(k) for k in HIL_SUMMARY_FIELDS}
        print("      " + hil_summary(hil).replace("\n", "\n      "))
    else:
        print("[5/5] hardware-in-the-loop run skipped (--hil-seconds 0)")
    metrics["wall_time_s"] = time.perf_counter() - started
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for name in ("policy", "pid"):
        (out / f"eval_{name}.json").write_text(json.dumps(reports[name], indent=2))
    p, b = reports["policy"], reports["pid"]
    print()
    print(f"{'':18s}{'success':>9s}{'crash':>8s}{'final err mean':>16s}{'p95':>10s}")
    for label, r in (("learned (ONNX)", p), ("PID baseline", b)):
        print(
            f"{label:18s}{r['success_rate']:9.3f}{r['crash_rate']:8.3f}"
            f"{r['final_pos_err_m_mean'] * 100:13.2f} cm{r['final_pos_err_m_p95'] * 100:7.2f} cm"
        )
    print(f"gate (success ≥ {GATE_SUCCESS_RATE}, error ≤ PID): {'PASSED' if gate else 'not passed'}")
    print(
        f"report: {out}/ (metrics.json, trajectories.png, position_error.png"
        f"{', episode_strip.png' if artefacts['episode_strip'] else ''}) in {metrics['wall_time_s']:.0f} s"
    )
    return 0
