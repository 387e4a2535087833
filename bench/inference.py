"""Per-call latency of a policy: ONNX Runtime (tuned for latency) vs. PyTorch eager, same run,
and the robot runtime's own per-cycle call.

ONNX Runtime runs as the robot runs it (deploy.policy_file.PolicyFile: one
intra-op thread, no spinning) with a preallocated input and output bound
through IOBinding; PyTorch eager runs the same weights op by op
(bench.onnx_eager) with one thread. Batch of one, as in a control loop.

The runtime row times deploy.runtime.policy_runner.PolicyRunner.act(state),
the call deploy.runtime.runtime.Runtime makes once per cycle: the contract
observation is built from a RobotState by the training code's observation
functions, copied into the bound input, the session runs, and the action is
returned as float64. The states are assembled beforehand by the runtime's
StateAssembler from odometry and command samples of a hovering vehicle, so
only the policy call is timed; its difference to the ONNX Runtime row is the
cost of building the observation. Each row reports p50, p99 and the maximum
per call over the timed calls (after WARMUP_CALLS untimed ones).

Run: `tether bench inference [--policy FILE.onnx] [--calls N] [--json FILE]`; without
--policy the shipped policies/quadrotor_hover.onnx, else a random-weight MLP
with the hover task's contract.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.onnx_eager import EagerGraph
from bench.sim_throughput import machine_description
from deploy.policy_file import ACTION_OUTPUT, OBS_INPUT, PolicyFile
from deploy.robot_state import RobotState
from deploy.runtime.input_store import Command, Odometry, Sample
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, RobotProfile
from deploy.runtime.state_assembly import StateAssembler

WARMUP_CALLS = 200
#: The shipped policy, found from the repository root whatever the working directory.
DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "policies" / "quadrotor_hover.onnx"


def _stats_us(samples_s: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max) in microseconds."""
    a = np.asarray(samples_s) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())


def _runtime_states(runner: PolicyRunner, count: int, rng: np.random.Generator) -> list[RobotState]:
    """Batch-of-one states as the runtime assembles them: a vehicle hovering at its target with
    sensor-like noise, the target as command, and a previous action within the limits."""
    contract = runner.contract
    assembler = StateAssembler(contract, runner.profile)
    target = np.array([0.0, 0.0, 2.0])
    command_value = np.zeros(contract.command_size)
    command_value[: min(3, contract.command_size)] = target[: contract.command_size]
    states = []
    for k in range(count):
        n = rng.standard_normal(12) * 0.01
        quat = np.array([1.0, n[3], n[4], n[5]])
        odometry = Odometry(target + n[0:3], quat / np.linalg.norm(quat), n[6:9], n[9:12])
        now_s = k * 0.01
        samples = {"odometry": Sample(odometry, now_s), "command": Sample(Command(command_value), now_s)}
        last_action = rng.uniform(-0.1, 0.1, contract.action_size)
        assembled = assembler.assemble(samples, now_s, last_action)
        if assembled.state is None or assembled.problem is not None:
            raise RuntimeError(
                f"the runtime could not assemble a state for this policy's contract: {assembled.problem}"
            )
        states.append(assembled.state)
    return states


def _time_runtime(runner: PolicyRunner, states: list[RobotState]) -> list[float]:
    """Seconds per PolicyRunner.act call, warm-up calls excluded."""
    runner.reset()
    times = []
    for k, state in enumerate(states):
        t0 = time.perf_counter()
        action = runner.act(state)
        dt = time.perf_counter() - t0
        if k >= WARMUP_CALLS:
            times.append(dt)
    # the runner's last observation through a plain run() must give the same action
    check = runner.policy.run(runner.bound.obs.copy())[0]
    if not np.allclose(action, check, atol=1e-6):
        raise RuntimeError("PolicyRunner.act differs from a plain run(); the benchmark would be invalid")
    return times


def run(
    policy_path: str | None = None,
    calls: int = 5000,
    json_path: str | None = None,
    profile_path: str | None = None,
) -> dict[str, Any]:
    """Time `calls` single-observation calls per row; print the table and return the figures."""
    if calls < 1:
        raise ValueError(f"--calls must be at least 1, found {calls}")
    with tempfile.TemporaryDirectory() as tmp:
        name = policy_path
        if policy_path is None and DEFAULT_POLICY.exists():
            policy_path = name = str(DEFAULT_POLICY)
        if policy_path is None:
            from sim.tasks.quadrotor_hover import HoverConfig
            from training.random_policy import describe, write_random_policy

            contract = HoverConfig.from_yaml().contract()
            policy_path = str(write_random_policy(Path(tmp) / "random_mlp.onnx", contract))
            name = describe(contract)
            print(f"note: {DEFAULT_POLICY} not found and no --policy given: using a {name}")
        profile = RobotProfile.from_yaml(profile_path or DEFAULT_PROFILE)
        return _measure(policy_path, name or policy_path, calls, json_path, profile)


def _measure(
    policy_path: str, name: str, calls: int, json_path: str | None, profile: RobotProfile
) -> dict[str, Any]:
    policy = PolicyFile(policy_path)
    if policy.is_recurrent:
        raise ValueError(
            "the inference benchmark handles feed-forward policies; this one is recurrent "
            "(its ONNX graph has state inputs): give a feed-forward policy with --policy"
        )
    obs_dim, act_dim = policy.contract.observation_size, policy.contract.action_size
    rng = np.random.default_rng(0)
    observations = rng.standard_normal((calls + WARMUP_CALLS, obs_dim)).astype(np.float32)

    # ONNX Runtime: preallocated input/output bound once; each call copies one observation in.
    obs_buf = np.zeros((1, obs_dim), dtype=np.float32)
    act_buf = np.zeros((1, act_dim), dtype=np.float32)
    binding = policy.session.io_binding()
    binding.bind_cpu_input(OBS_INPUT, obs_buf)
    binding.bind_output(ACTION_OUTPUT, "cpu", 0, np.float32, act_buf.shape, act_buf.ctypes.data)
    ort_times = []
    for k, obs in enumerate(observations):
        obs_buf[0] = obs
        t0 = time.perf_counter()
        policy.session.run_with_iobinding(binding)
        dt = time.perf_counter() - t0
        if k >= WARMUP_CALLS:
            ort_times.append(dt)
    check = policy.run(observations[-1:])
    if not np.allclose(act_buf, check, atol=1e-6):
        raise RuntimeError("IOBinding output differs from a plain run(); the benchmark would be invalid")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        module = EagerGraph(policy_path).eval()
        torch_obs = torch.from_numpy(observations)
        torch_times = []
        with torch.inference_mode():
            for k in range(len(torch_obs)):
                x = torch_obs[k : k + 1]
                t0 = time.perf_counter()
                y = module(x)
                dt = time.perf_counter() - t0
                if k >= WARMUP_CALLS:
                    torch_times.append(dt)
            max_diff = float(np.abs(y.numpy() - policy.run(observations[-1:])).max())
    finally:
        torch.set_num_threads(threads)

    # The runtime's own call path: its PolicyRunner (validated against the robot profile).
    runner = PolicyRunner(policy_path, profile)
    runtime_times = _time_runtime(runner, _runtime_states(runner, calls + WARMUP_CALLS, rng))

    ort = _stats_us(ort_times)
    tor = _stats_us(torch_times)
    rt = _stats_us(runtime_times)
    result: dict[str, Any] = {
        "policy": name,
        "calls": calls,
        "machine": machine_description(),
        "profile": profile.name,
        "ort_us_p50": ort[0],
        "ort_us_p99": ort[1],
        "ort_us_max": ort[2],
        "torch_us_p50": tor[0],
        "torch_us_p99": tor[1],
        "torch_us_max": tor[2],
        "runtime_us_p50": rt[0],
        "runtime_us_p99": rt[1],
        "runtime_us_max": rt[2],
        "max_abs_action_diff": max_diff,
    }
    print(f"inference: {name}, batch 1, {calls} calls each, on {result['machine']}")
    rows = (
        ("ONNX Runtime (1 thread, IOBinding)", ort),
        ("PyTorch eager (1 thread)", tor),
        ("runtime PolicyRunner.act(state)", rt),
    )
    for label, (p50, p99, top) in rows:
        print(f"  {label:36s} p50 {p50:7.1f} µs   p99 {p99:7.1f} µs   max {top:8.1f} µs")
    print(f"  ratio PyTorch / ONNX Runtime at p50: {tor[0] / ort[0]:.1f}×")
    print(f"  runtime call minus ONNX Runtime at p50 (observation from RobotState): {rt[0] - ort[0]:.1f} µs")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {json_path}")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench inference", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--policy", help="ONNX policy (default: policies/quadrotor_hover.onnx, else a random-weight MLP)"
    )
    ap.add_argument("--calls", type=int, default=5000, help="timed calls per row (default: %(default)s)")
    ap.add_argument(
        "--profile", help="robot profile YAML for the runtime row (default: the Crazyflie's, deploy/runtime/)"
    )
    ap.add_argument("--json", help="write the figures to this JSON file")
    args = ap.parse_args(argv)
    run(args.policy, args.calls, args.json, args.profile)


if __name__ == "__main__":
    main()
