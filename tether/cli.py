"""The `tether` command: one entry point with a subcommand per job."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BENCHMARKS = {
    "sim-throughput": "bench.sim_throughput",
    "inference": "bench.inference",
    "time-to-gate": "bench.time_to_gate",
    "loop": "bench.loop",
    "cycle-choices": "bench.cycle_choices",
    "soak": "bench.soak",
    "sim2sim": "bench.sim2sim",
    "robustness": "bench.robustness",
    "hil-timing": "bench.hil_timing",
    "hil-transports": "bench.hil_transports",
    "quadruped-throughput": "bench.quadruped_throughput",
}


def _cmd_eval(args: argparse.Namespace) -> int:
    from training.tasks import task_spec

    return task_spec(args.task).eval_cli()(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(BENCHMARKS[args.name])
    module.main(args.rest + (["--json", args.json] if args.json else []))
    return 0


def _cmd_gate(args: argparse.Namespace) -> int:
    from training.gate import GATE_EPISODES, GATE_SEEDS, check_gate

    if not Path(args.policy).is_file():
        print(f"error: no policy file at {args.policy}; export one with `tether export RUN_DIR`",
              file=sys.stderr)  # fmt: skip
        return 2
    seeds = args.seeds or list(GATE_SEEDS)
    results = []
    for seed in seeds:
        result = check_gate(args.policy, episodes=GATE_EPISODES, seed=seed, engine=args.engine, progress=True)
        print(result.describe(), flush=True)
        results.append({
            "seed": seed, "passed": result.passed, "error_ratio_to_pid": result.error_ratio_to_pid,
            "policy": _without_episodes(result.policy), "pid": _without_episodes(result.pid),
        })  # fmt: skip
    passed = all(r["passed"] for r in results)
    print(f"{'PASSED' if passed else 'NOT PASSED'} on eval seeds {', '.join(map(str, seeds))}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"passed": passed, "seeds": results}, indent=2))
        print(f"wrote {args.json}")
    return 0 if passed else 1


def _without_episodes(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "per_episode"}


def _cmd_demo(args: argparse.Namespace) -> int:
    from training.demo import run_demo

    return run_demo(args)


def _cmd_train(args: argparse.Namespace) -> int:
    from training.train import train

    path = train(
        args.task,
        args.run_dir,
        args.config,
        seed=args.seed,
        max_iterations=args.max_iterations,
        max_seconds=args.max_seconds,
        resume=args.resume,
        engine=args.engine,
    )
    print(f"checkpoint: {path}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from deploy.policy_file import PolicyFile
    from training.export import export

    path = export(args.run_dir, args.output, sign_key=args.sign)
    # the hash a robot can be commissioned with (policy node parameter expected_contract_sha256)
    print(f"exported: {path} (contract sha256 {PolicyFile(path).contract.sha256()})")
    if args.sign:
        _print_signed(path, args.sign)
    if args.format == "c":  # the C is generated from the ONNX file just written and checked
        from deploy.c_export import generate, summary

        c_policy = generate(path, args.prefix)
        header, source = c_policy.write(path.parent)
        print(f"C99: {source} and {header}: {summary(c_policy)}")
    return 0


def _print_signed(policy: str | Path, key: str | Path) -> None:
    from deploy.provenance import fingerprint, load_private_key, signature_path

    fp = fingerprint(load_private_key(key).public_key())
    print(f"signed: {signature_path(policy)} (Ed25519, key fingerprint {fp}); deploy it beside the policy")


def _cmd_keygen(args: argparse.Namespace) -> int:
    from deploy.provenance import fingerprint, generate_keypair, load_public_key

    private, public = generate_keypair(args.out, args.name, force=args.force)
    print(f"private key: {private} (mode 0600; keep it off the robot, sign with `tether export --sign`)")
    print(f"public key:  {public} (fingerprint {fingerprint(load_public_key(public))}; the robot's "
          "policy node parameter policy_public_key)")  # fmt: skip
    from deploy.transport.command_auth import authorized_line

    print(f"authorized-keys line (command plane: a node's command_auth.authorized_keys file):\n"
          f"{authorized_line(args.name, load_public_key(public))}")  # fmt: skip
    return 0


def _cmd_command(args: argparse.Namespace) -> int:
    from tether.command import CommandFailedError, send

    try:
        print(f"{args.action}: {send(args.action, args.key, args.domain_id, args.wait)}")
    except CommandFailedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from deploy.provenance import sign_policy

    if not Path(args.policy).is_file():
        print(f"error: no policy file at {args.policy}", file=sys.stderr)
        return 2
    sign_policy(args.policy, args.key)
    _print_signed(args.policy, args.key)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from deploy.contract import ContractError
    from deploy.policy_file import PolicyFile
    from deploy.provenance import ProvenanceError, signature_path, verify_bytes

    policy = Path(args.policy)
    if not policy.is_file():
        print(f"error: no policy file at {policy}", file=sys.stderr)
        return 2
    data = policy.read_bytes()  # read once: the bytes verified are the bytes described
    try:
        v = verify_bytes(data, args.public_key, args.signature or signature_path(policy), policy)
    except ProvenanceError as exc:
        print(f"NOT VERIFIED: {exc}", file=sys.stderr)
        return 1
    try:
        contract = f"contract sha256 {PolicyFile(policy, model_bytes=data).contract.sha256()}"
    except ContractError as exc:
        contract = f"but it is not a loadable Tether policy: {exc}"
    print(f"verified: {v.policy} ({v.size_bytes} bytes, sha256 {v.sha256}) is signed by key "
          f"{v.key_fingerprint} ({v.signature}); {contract}")  # fmt: skip
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import logging

    from deploy.runtime.config import DEFAULT_CONFIG, RuntimeConfig
    from deploy.runtime.robot_profile import DEFAULT_PROFILE
    from deploy.runtime.rt_loop import LoopStatsSnapshot
    from deploy.sim_bridge import run_in_sim

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    providers = [p for p in args.providers.split(",") if p] if args.providers else None
    print(
        f"run: {args.policy} through the runtime on a simulated robot ({args.engine}), "
        f"episode {args.episode_index} of seed {args.seed}, {args.seconds:g} s in real time"
    )
    report = run_in_sim(
        args.policy,
        args.seconds,
        engine=args.engine,
        seed=args.seed,
        episode_index=args.episode_index,
        profile=args.profile or DEFAULT_PROFILE,
        config=RuntimeConfig.from_yaml(args.config or DEFAULT_CONFIG),
        providers=providers,
    )
    print(f"loop at {report['rate_hz']:g} Hz: {LoopStatsSnapshot(**report['loop']).summary()}")
    print(
        f"final state {report['final_state']}, position error {report['final_pos_err_m'] * 100:.1f} cm; "
        f"cycles by source {report['cycles_by_source']}"
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _cmd_hil(args: argparse.Namespace) -> int:
    from tether.hil.run import run_hil, summary

    report = run_hil(
        args.scenario,
        seconds=args.seconds,
        domain_id=args.domain_id,
        faults=args.fault,
        record=args.record,
        policy=args.policy,
        seed=args.seed,
        episode_index=args.episode_index,
        work_dir=args.work_dir,
        policy_transport=args.policy_transport or args.transport,
        bridge_transport=args.bridge_transport or args.transport,
        vehicle=args.vehicle,
    )
    print(summary(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)
        print(f"wrote {args.json}")
    return 0 if report["success"] else 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tether", description="Tether: sim → train → ONNX → ROS 2 robot.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ev = sub.add_parser(
        "eval",
        help="evaluate a controller in closed loop and report metrics",
        description="Evaluate a controller in closed loop on a task and engine.",
    )
    ev.add_argument("--task", default="quadrotor-hover", help="task name (default: %(default)s)")
    ev.add_argument(
        "--controller", default="pid",
        help="built-in controller: pid (quadrotor, default) or stand (quadruped-walk: PD stand)",
    )
    ev.add_argument("--policy", help="an exported ONNX policy (run in ONNX Runtime) instead of --controller")
    ev.add_argument("--engine", default="mujoco", choices=["mujoco", "pybullet"])
    ev.add_argument("--scenario", default="hover", help="hover (default) or figure8 (tracking RMSE)")
    ev.add_argument("--episodes", type=int, default=100, help="number of episodes (default: %(default)s)")
    ev.add_argument("--seed", type=int, default=0, help="episode k is drawn from (seed, k)")
    ev.add_argument("--randomize", action="store_true", help="domain randomization on (default ranges)")
    ev.add_argument("--episode-index", type=int, help="replay only this episode of the seed")
    ev.add_argument("--json", help="write the report (with every episode's sampled parameters) here")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.add_argument(
        "--plot-tracking",
        metavar="PNG",
        help="quadruped-walk: also plot commanded vs measured velocity over one episode (--episode-index, "
        "default 0) to this file",
    )
    ev.add_argument(
        "--render-strip",
        metavar="PNG",
        help="quadruped-walk: also render one episode (--episode-index, default 0) as an image strip, "
        "captioned with commanded and measured velocity",
    )
    ev.set_defaults(func=_cmd_eval)

    be = sub.add_parser(
        "bench",
        help="run a benchmark script and print its figures",
        description="Run a benchmark from bench/ and print its figures.",
    )
    be.add_argument("name", choices=sorted(BENCHMARKS))
    be.add_argument("--json", help="also write the figures to this JSON file")
    be.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    be.set_defaults(func=_cmd_bench)

    ga = sub.add_parser(
        "gate",
        help="check an exported hover policy against the gate (policy and PID on the same episodes)",
        description="Evaluate an exported quadrotor-hover policy and the PID baseline on the gate's 200 "
        "randomized episodes per eval seed; exit status 0 only when every seed passes.",
    )
    ga.add_argument("policy", help="an exported ONNX policy")
    ga.add_argument("--seeds", type=int, nargs="+", help="eval seeds (default: the gate's, 0 and 23)")
    ga.add_argument("--engine", default="mujoco", choices=["mujoco", "pybullet"])
    ga.add_argument("--json", help="write the figures (without per-episode data) here")
    ga.set_defaults(func=_cmd_gate)

    de = sub.add_parser(
        "demo",
        help="the main job: train → export → closed-loop evaluation → report",
        description="Train a hover policy (short budget), export it to ONNX, evaluate it against the PID "
        "baseline in MuJoCo with domain randomization, and write a report folder with plots.",
    )
    de.add_argument(
        "--pretrained",
        action="store_true",
        help="skip training; fly the shipped policies/quadrotor_hover.onnx, else quadrotor_hover_ctbr.onnx",
    )
    de.add_argument(
        "--train-seconds", type=float, default=150.0, help="training budget (default: %(default)s)"
    )
    de.add_argument("--episodes", type=int, default=200, help="evaluation episodes (default: %(default)s)")
    de.add_argument("--plot-episodes", type=int, default=24, help="episodes recorded for plots")
    de.add_argument("--seed", type=int, default=0)
    de.add_argument("--out", default="reports/demo", help="report folder (default: %(default)s)")
    de.add_argument(
        "--hil-seconds",
        type=float,
        default=10.0,
        help="closing hardware-in-the-loop flight over DDS, 0 to skip (default: %(default)s)",
    )
    de.set_defaults(func=_cmd_demo)

    tr = sub.add_parser(
        "train",
        help="train a policy with rsl_rl PPO",
        description="Train a policy with rsl_rl PPO (domain randomization on by default).",
    )
    tr.add_argument("task", help="task name, e.g. quadrotor-hover")
    tr.add_argument("--run-dir", required=True, help="run directory (checkpoints, config, TensorBoard)")
    tr.add_argument("--config", help="training YAML (default: the task's, training/configs/)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--max-iterations", type=int, help="total PPO iterations (default: the config's)")
    tr.add_argument("--max-seconds", type=float, help="wall-clock budget for this call")
    tr.add_argument(
        "--engine",
        default=None,
        choices=["mujoco", "pybullet", "analytic"],
        help="physics engine for training (default: the config's env.engine)",
    )
    tr.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    tr.set_defaults(func=_cmd_train)

    ex = sub.add_parser(
        "export",
        help="export a run's policy to ONNX with its contract",
        description="Export a run's latest checkpoint to a self-describing ONNX file; fails "
        "unless ONNX Runtime reproduces the PyTorch policy to 1e-5 on a closed-loop rollout.",
    )
    ex.add_argument("run_dir", help="run directory written by `tether train`")
    ex.add_argument("-o", "--output", help="output file (default: RUN_DIR/exported/policy.onnx)")
    ex.add_argument(
        "--sign", metavar="KEY", help="Ed25519 private key (`tether keygen`): also write OUTPUT.sig, a "
        "detached signature a robot verifies with the public key",
    )  # fmt: skip
    ex.add_argument(
        "--format", choices=["onnx", "c"], default="onnx", help="c: also write PREFIX.c and PREFIX.h "
        "(dependency-free C99 for a microcontroller, deploy/c_export.py) next to the ONNX file",
    )  # fmt: skip
    ex.add_argument("--prefix", default="tether_policy", help="C name prefix for --format c")
    ex.set_defaults(func=_cmd_export)

    kg = sub.add_parser(
        "keygen",
        help="create an Ed25519 key pair for signing policies",
        description="Write a new Ed25519 key pair: OUT/NAME.key (private, PKCS#8 PEM, mode 0600) and "
        "OUT/NAME.pub (public, PEM). Sign with `tether export --sign` or `tether sign`; the robot's policy "
        "node verifies with the public key (parameter policy_public_key). No network involved.",
    )
    kg.add_argument("--out", required=True, help="folder for the key files (created 0700 if absent)")
    kg.add_argument("--name", default="tether_policy", help="file name stem (default: %(default)s)")
    kg.add_argument("--force", action="store_true", help="overwrite existing key files")
    kg.set_defaults(func=_cmd_keygen)

    co = sub.add_parser(
        "command",
        help="send the operator's signed arm / disarm / estop-reset (or an estop) to a policy node",
        description="Publish one operator command on DDS (domain: --domain-id, else ROS_DOMAIN_ID), signed "
        "with --key for the policy node's authenticated command plane (README \"Security\"), and report the "
        "state the node reaches. estop needs no key: anyone may stop the robot.",
    )
    co.add_argument("action", choices=["arm", "disarm", "estop", "estop-reset"])
    co.add_argument("--key", help="the operator's Ed25519 private key (.key from `tether keygen`)")
    co.add_argument("--domain-id", type=int, default=None, help="DDS domain (default: ROS_DOMAIN_ID, else 0)")
    co.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the node, then the result")
    co.set_defaults(func=_cmd_command)

    sg = sub.add_parser(
        "sign",
        help="sign an existing ONNX policy (detached Ed25519 signature POLICY.sig)",
        description="Write POLICY.sig: the raw 64-byte Ed25519 signature over the file's bytes.",
    )
    sg.add_argument("policy", help="an exported ONNX policy")
    sg.add_argument("--key", required=True, help="Ed25519 private key from `tether keygen`")
    sg.set_defaults(func=_cmd_sign)

    ve = sub.add_parser(
        "verify",
        help="check a policy's signature against a public key (what the policy node does at start-up)",
        description="Verify POLICY.sig (or --signature) over the policy file with an Ed25519 public key; "
        "exit status 0 when it verifies, 1 when it does not.",
    )
    ve.add_argument("policy", help="an ONNX policy file")
    ve.add_argument("--public-key", required=True, help="Ed25519 public key (.pub from `tether keygen`)")
    ve.add_argument("--signature", help="detached signature (default: POLICY.sig)")
    ve.set_defaults(func=_cmd_verify)

    ru = sub.add_parser(
        "run",
        help="run a policy through the robot runtime against a simulated robot",
        description="Drive a simulated quadrotor through the robot-side runtime (contract check, real-time "
        "loop at the contract's rate, safety supervisor), as hardware-in-the-loop would, and print the loop "
        "statistics.",
    )
    ru.add_argument("--policy", required=True, help="exported ONNX policy")
    ru.add_argument("--engine", default="mujoco", choices=["mujoco", "pybullet"])
    ru.add_argument("--seconds", type=float, default=10.0, help="how long to run (default: %(default)s)")
    ru.add_argument("--seed", type=int, default=0, help="the episode is drawn from (seed, episode index)")
    ru.add_argument("--episode-index", type=int, default=0, help="which episode (default: %(default)s)")
    ru.add_argument("--profile", help="robot profile YAML (default: the Crazyflie's, deploy/runtime/)")
    ru.add_argument("--config", help="runtime YAML (default: deploy/runtime/runtime.yaml)")
    ru.add_argument("--providers", help="ONNX Runtime providers, comma-separated: cpu, cuda, tensorrt")
    ru.add_argument("--json", help="write the report (loop statistics, diagnostics) here")
    ru.set_defaults(func=_cmd_run)

    hi = sub.add_parser(
        "hil",
        help="hardware-in-the-loop: policy node and simulator bridge as processes over DDS",
        description="Start the simulator bridge and the policy node as separate processes over DDS (ROS 2 "
        "wire format, loopback, private domain), arm, fly the scenario, disarm, and report success, RMSE, "
        "sensor-to-command latency, loop jitter, dropped messages and each injected fault's outcome. "
        "Faults: drop, latency, freeze@T, nan@T, kill@T, estop@T (T in simulation seconds; quadruped-walk: "
        "seconds into the walk).",
    )
    hi.add_argument(
        "--scenario", default="quadrotor-hover",
        help="HIL scenario: quadrotor-hover or quadruped-walk (default: %(default)s)",
    )
    hi.add_argument(
        "--vehicle",
        help="quadruped-walk: ros2_control (default: ROS topics as ros2_control controllers take them) or "
        "go2 (the Unitree Go2's low-level DDS protocol, rt/lowstate and rt/lowcmd with CRC); "
        "quadrotor-hover: px4 (PX4's uXRCE-DDS offboard protocol against an emulated PX4; default: "
        "Tether's ROS topics)",
    )
    hi.add_argument("--seconds", type=float, default=20.0, help="flight time, sim s (default: %(default)s)")
    hi.add_argument("--domain-id", type=int, help="DDS domain id (default: a free one of 100-199, leased)")
    hi.add_argument("--fault", action="append", default=[], help="inject a fault (repeatable)")
    hi.add_argument("--record", help="write every topic to this rosbag2 MCAP file")
    hi.add_argument("--policy", help="ONNX policy (default: the parameter file's policy_file)")
    hi.add_argument("--seed", type=int, help="episode seed (default: the parameter file's)")
    hi.add_argument("--episode-index", type=int, help="episode index (default: the parameter file's)")
    hi.add_argument("--work-dir", help="keep node logs and reports here (default: a temporary folder)")
    hi.add_argument(
        "--transport", choices=["dds", "rclpy"], default="dds",
        help="both nodes on Cyclone DDS (dds, no ROS 2 needed) or on ROS 2's rclpy (default: %(default)s)",
    )
    for node in ("policy", "bridge"):
        hi.add_argument(
            f"--{node}-transport", choices=["dds", "rclpy"], help=f"the {node}'s, if not --transport"
        )
    hi.add_argument("--json", help="write the report here")
    hi.set_defaults(func=_cmd_hil)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except (ValueError, FileNotFoundError) as exc:  # ContractError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
