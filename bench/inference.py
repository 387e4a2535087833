"""Per-call latency of a policy: ONNX Runtime (tuned for latency) vs. PyTorch eager, same run.

ONNX Runtime runs as the robot runs it (deploy.policy_file.PolicyFile: one
intra-op thread, no spinning) with a preallocated input and output bound
through IOBinding; PyTorch eager runs the same weights op by op
(bench.onnx_eager) with one thread. Batch of one, as in a control loop.
Run: `tether bench inference --policy FILE.onnx [--json FILE]`.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

from bench.onnx_eager import EagerGraph
from bench.sim_throughput import machine_description
from deploy.policy_file import ACTION_OUTPUT, OBS_INPUT, PolicyFile

WARMUP_CALLS = 200


def _percentiles_us(samples_s: list[float]) -> tuple[float, float]:
    a = np.asarray(samples_s) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def run(policy_path: str, calls: int = 5000, json_path: str | None = None) -> dict[str, Any]:
    policy = PolicyFile(policy_path)
    if policy.is_recurrent:
        raise ValueError("the inference benchmark handles feed-forward policies; this one is recurrent")
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

    ort_p50, ort_p99 = _percentiles_us(ort_times)
    torch_p50, torch_p99 = _percentiles_us(torch_times)
    result = {
        "policy": str(policy_path),
        "calls": calls,
        "machine": machine_description(),
        "ort_us_p50": ort_p50,
        "ort_us_p99": ort_p99,
        "torch_us_p50": torch_p50,
        "torch_us_p99": torch_p99,
        "max_abs_action_diff": max_diff,
    }
    print(f"inference: {policy_path}, batch 1, {calls} calls each, on {result['machine']}")
    print(f"  ONNX Runtime (1 thread, IOBinding): p50 {ort_p50:7.1f} µs   p99 {ort_p99:7.1f} µs")
    print(f"  PyTorch eager (1 thread):           p50 {torch_p50:7.1f} µs   p99 {torch_p99:7.1f} µs")
    print(f"  ratio PyTorch / ONNX Runtime at p50: {torch_p50 / ort_p50:.1f}×")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {json_path}")
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--policy", default="policies/quadrotor_hover.onnx", help="ONNX policy (default: %(default)s)"
    )
    ap.add_argument("--calls", type=int, default=5000, help="timed calls per runtime (default: %(default)s)")
    ap.add_argument("--json", help="write the figures to this JSON file")
    args = ap.parse_args(argv)
    run(args.policy, args.calls, args.json)


if __name__ == "__main__":
    main()
