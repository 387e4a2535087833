"""The real-time loop with the policy in it: period jitter, compute time, deadline misses, CPU use.

Each cycle is the robot runtime's full cycle (deploy.runtime.Runtime.step):
a fresh odometry sample and command are published (a hovering vehicle with
sensor-like noise), inputs are checked for staleness and finiteness, limits
are checked, the contract observation is built by the same code as
training, the ONNX policy runs through preallocated buffers, and the
command is clipped and rate-limited. No simulator: the figures are the
runtime's own. The loop runs at --rate-hz whatever the policy's contract
rate, to measure the loop; loop options (spin margin, SCHED_FIFO, affinity,
mlockall, GC) come from deploy/runtime/runtime.yaml and the flags below.

Jitter is how late each cycle started relative to its absolute deadline
(cyclictest's latency). With --compare-sleep the same workload runs again
with sleeping only (no spin phase), as a baseline measured in the same run.

Run: `tether bench loop --rate-hz R --seconds S [--policy FILE] [--json FILE]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.sim_throughput import machine_description
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.input_store import Command, Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, QuadrotorStarting, RobotProfile
from deploy.runtime.rt_loop import CycleInfo, LoopStatsSnapshot, RealtimeLoop
from deploy.runtime.runtime import Runtime, RuntimeOutput
from deploy.runtime.safety import State

#: The shipped policy, found from the repository root whatever the working directory.
DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "policies" / "quadrotor_hover.onnx"


def _fallback_policy(directory: Path) -> tuple[Path, str]:
    """A random-weight MLP with the hover task's contract (for when no trained policy exists yet),
    and its description. The loop's timing does not depend on what the weights are."""
    from sim.tasks.quadrotor_hover import HoverConfig
    from training.random_policy import describe, write_random_policy

    contract = HoverConfig.from_yaml().contract()
    return write_random_policy(directory / "random_mlp.onnx", contract), describe(contract)


def _bench_profile(profile: RobotProfile) -> RobotProfile:
    q = profile.quadrotor
    if q is None:
        return profile
    start = QuadrotorStarting(idle_command=q.starting.idle_command, idle_s=0.0, spinup_s=0.0)
    return dataclasses.replace(profile, quadrotor=dataclasses.replace(q, starting=start))


def measure(
    policy: Path, rate_hz: float, seconds: float, config: RuntimeConfig, realtime: bool = True
) -> tuple[LoopStatsSnapshot, dict[str, int]]:
    profile = _bench_profile(RobotProfile.from_yaml(DEFAULT_PROFILE))
    runtime = Runtime(PolicyRunner(policy, profile), config)
    rng = np.random.default_rng(0)
    target = np.array([0.0, 0.0, 2.0])
    command = Command(np.concatenate([target, np.zeros(3)]))
    noise = rng.standard_normal((4096, 13)) * 0.01

    def publish(now_s: float, k: int) -> None:
        n = noise[k % len(noise)]
        quat = np.array([1.0, n[3], n[4], n[5]])
        runtime.put(
            "odometry",
            Odometry(target + n[0:3], quat / np.linalg.norm(quat), n[6:9], n[9:12]),
            now_s,
        )
        runtime.put("command", command, now_s)

    loop = RealtimeLoop(rate_hz, config.loop)
    now = time.monotonic()  # the loop's clock
    publish(now, 0)
    runtime.arm(now)
    sources: dict[str, int] = {}

    def cycle(info: CycleInfo) -> None:
        publish(info.now_s, info.index)
        out: RuntimeOutput = runtime.step(info.now_s, 0)
        sources[out.source] = sources.get(out.source, 0) + 1

    stats = loop.run(cycle, seconds=seconds, realtime=realtime)
    if runtime.state is not State.RUNNING:
        logging.getLogger("tether.bench").warning(
            "the runtime left RUNNING during the benchmark: %s", sources
        )
    return stats, sources


def run(
    rate_hz: float,
    seconds: float,
    policy: str | None = None,
    json_path: str | None = None,
    config_path: str | None = None,
    sched_fifo: int | None = None,
    cpu: list[int] | None = None,
    lock_memory: bool = False,
    compare_sleep: bool = False,
) -> dict[str, Any]:
    config = RuntimeConfig.from_yaml(config_path) if config_path else RuntimeConfig.from_yaml()
    loop_opts = config.loop
    if sched_fifo is not None:
        loop_opts = dataclasses.replace(loop_opts, sched_fifo_priority=sched_fifo)
    if cpu:
        loop_opts = dataclasses.replace(loop_opts, cpu_affinity=tuple(cpu))
    if lock_memory:
        loop_opts = dataclasses.replace(loop_opts, lock_memory=True)
    config = dataclasses.replace(config, loop=loop_opts)
    with tempfile.TemporaryDirectory() as tmp:
        if policy is None and DEFAULT_POLICY.exists():
            policy = str(DEFAULT_POLICY)
        fallback = None
        if policy is None:
            path, fallback = _fallback_policy(Path(tmp))
            print(f"note: {DEFAULT_POLICY} not found and no --policy given: using a {fallback}")
        else:
            path = Path(policy)
        stats, sources = measure(path, rate_hz, seconds, config)
        baseline = None
        if compare_sleep:
            sleep_only = dataclasses.replace(config, loop=dataclasses.replace(config.loop, spin_margin_s=0.0))
            baseline, _ = measure(path, rate_hz, seconds, sleep_only)
    result: dict[str, Any] = {
        "policy": str(policy) if policy else fallback,
        "rate_hz": rate_hz,
        "seconds": seconds,
        "machine": machine_description(),
        "jitter_us_p50": stats.jitter_us_p50,
        "jitter_us_p99": stats.jitter_us_p99,
        "jitter_us_max": stats.jitter_us_max,
        "deadline_misses": stats.deadline_misses,
        "cycles": stats.cycles,
        "cpu_percent": stats.cpu_percent,
        "compute_us_p50": stats.compute_us_p50,
        "compute_us_p99": stats.compute_us_p99,
        "compute_us_max": stats.compute_us_max,
        "max_miss_streak": stats.max_miss_streak,
        "cycles_by_source": sources,
        "loop_options": dataclasses.asdict(config.loop),
    }
    print(f"loop: {rate_hz:g} Hz for {seconds:g} s, policy {result['policy']}, on {result['machine']}")
    print(
        f"  jitter     p50 {stats.jitter_us_p50:8.1f} µs   p99 {stats.jitter_us_p99:8.1f} µs   "
        f"max {stats.jitter_us_max:8.1f} µs"
    )
    print(
        f"  compute    p50 {stats.compute_us_p50:8.1f} µs   p99 {stats.compute_us_p99:8.1f} µs   "
        f"max {stats.compute_us_max:8.1f} µs"
    )
    print(
        f"  deadline misses {stats.deadline_misses} of {stats.cycles} cycles "
        f"(longest streak {stats.max_miss_streak}); CPU {stats.cpu_percent:.1f} % of one core"
    )
    if baseline is not None:
        result["sleep_only"] = baseline.to_dict()
        ratio = baseline.jitter_us_p99 / max(stats.jitter_us_p99, 1e-9)
        print(
            f"  sleep-only baseline: jitter p50 {baseline.jitter_us_p50:.1f} µs, "
            f"p99 {baseline.jitter_us_p99:.1f} µs, max {baseline.jitter_us_max:.1f} µs, "
            f"{baseline.deadline_misses} misses, CPU "
            f"{baseline.cpu_percent:.1f} %; p99 ratio sleep-only / sleep+spin: {ratio:.1f}×"
        )
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {json_path}")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench loop", description=__doc__.splitlines()[0])
    ap.add_argument("--rate-hz", type=float, default=500.0, help="loop rate (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration (default: %(default)s)")
    ap.add_argument("--policy", help=f"ONNX policy (default: {DEFAULT_POLICY}, else a random MLP)")
    ap.add_argument("--json", help="write the figures to this JSON file")
    ap.add_argument("--config", help="runtime YAML (default: deploy/runtime/runtime.yaml)")
    ap.add_argument("--sched-fifo", type=int, metavar="PRIO", help="request SCHED_FIFO at this priority")
    ap.add_argument("--cpu", type=int, action="append", help="pin the loop to this CPU (repeatable)")
    ap.add_argument("--lock-memory", action="store_true", help="mlockall before the loop")
    ap.add_argument(
        "--compare-sleep", action="store_true", help="also run a sleep-only loop as a same-run baseline"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run(
        args.rate_hz,
        args.seconds,
        args.policy,
        args.json,
        args.config,
        args.sched_fifo,
        args.cpu,
        args.lock_memory,
        args.compare_sleep,
    )


if __name__ == "__main__":
    main()
