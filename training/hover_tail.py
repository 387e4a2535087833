"""Where a hover policy's final error comes from: the tail over time, the offset, the integral.

    python -m training.hover_tail POLICY.onnx [--episodes 100] [--seed 0] [--engine mujoco]
                                  [--task-config FILE.yaml] [--json OUT.json]

Flies randomized hover episodes (as `tether eval --randomize`) and prints, over
the episodes that did not crash:

- the mean distance to the target at each whole second of the episode (a slow
  tail still falling in the last second means the approach, not noise, sets
  the gate's final error);
- the per-episode offset over the success window (the mean error vector) and
  the oscillation around it;
- the cosine between that offset and the start offset (negative: the vehicle
  settles on the far side of the target, as a wound-up integrator makes it);
- the share of episodes whose integral observation is still at its clip at the
  end of the episode (it cannot unwind within the episode).

`--task-config` evaluates a policy trained on another task file (env.task_config
of its training config); its contract must match that file.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from deploy.policy_file import PolicyFile
from deploy.robot_state import RobotState
from sim.tasks.quadrotor_hover import HoverConfig, QuadrotorHoverEnv
from training.evaluation import OnnxController, evaluate

INTEGRAL_TERM = "position_error_integral_m_s"


class _Recorder:
    """Wraps a controller and keeps the position error (m) and observation of every step."""

    def __init__(self, inner: OnnxController) -> None:
        self.inner = inner
        self.pos_err_m: list[np.ndarray] = []
        self.obs: list[np.ndarray] = []

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        self.inner.reset(env_ids)

    def act(self, state: RobotState, observation: np.ndarray | None = None) -> np.ndarray:
        self.pos_err_m.append(state.base_pos_m - state.command[:, 0:3])
        self.obs.append(np.array(observation, dtype=np.float64))
        return self.inner.act(state, observation)


def analyse(
    policy_path: str, episodes: int = 100, seed: int = 0, engine: str = "mujoco",
    task_config: str | None = None,
) -> dict[str, Any]:
    """Fly `episodes` randomized episodes in one batch and return the figures described above."""
    config = HoverConfig.from_yaml(task_config) if task_config else HoverConfig.from_yaml()
    policy = PolicyFile(policy_path)
    recorders: list[_Recorder] = []

    def factory(env: QuadrotorHoverEnv) -> _Recorder:
        policy.check_matches(env.contract)
        recorders.append(_Recorder(OnnxController(policy, env.num_envs)))
        return recorders[-1]

    report, _ = evaluate(
        factory, "policy", engine=engine, episodes=episodes, seed=seed, randomize=True,
        batch_size=episodes, config=config, progress=False,
    )
    rec = recorders[0]
    err = np.stack(rec.pos_err_m, axis=1)  # (episodes, steps, 3)
    obs = np.stack(rec.obs, axis=1)
    by_index = sorted(report["per_episode"], key=lambda e: e["episode_index"])
    flown = ~np.array([e["crashed"] for e in by_index])
    if not flown.any():
        raise ValueError(f"every one of the {episodes} episodes crashed; nothing to analyse")
    rate_hz = config.control_rate_hz
    window = int(round(config.success["window_s"] * rate_hz))
    dist = np.linalg.norm(err[flown], axis=2)
    per_second = {
        f"{t:g}": float(dist[:, min(int(round(t * rate_hz)), dist.shape[1]) - 1].mean() * 100)
        for t in np.arange(1.0, config.episode_length_s + 0.5, 1.0)
    }
    last = err[flown, -window:, :]
    offset = last.mean(axis=1)
    oscillation = np.linalg.norm(last - offset[:, None, :], axis=2).mean(axis=1)
    start = err[flown, 0, :]
    cos = (offset * start).sum(1) / np.maximum(
        np.linalg.norm(offset, axis=1) * np.linalg.norm(start, axis=1), 1e-12
    )
    out: dict[str, Any] = {
        "policy": policy_path, "engine": engine, "seed": seed, "episodes": episodes,
        "success_rate": report["success_rate"], "crash_rate": report["crash_rate"],
        "final_pos_err_m_mean": report["final_pos_err_m_mean"],
        "mean_distance_cm_at_s": per_second,
        "offset_cm_mean": float(np.linalg.norm(offset, axis=1).mean() * 100),
        "oscillation_cm_mean": float(oscillation.mean() * 100),
        "offset_vs_start_cosine_median": float(np.median(cos)),
    }
    slices = policy.contract.observation_slices()
    if INTEGRAL_TERM in slices:
        end = np.abs(obs[flown, -1, slices[INTEGRAL_TERM]])
        term = next(t for t in policy.contract.observations if t.name == INTEGRAL_TERM)
        clip = term.clip if term.clip is not None else np.inf
        out["integral_at_clip_at_end_share"] = float((end >= 0.999 * clip).any(axis=1).mean())
    return out


def format_report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['policy']} on {r['engine']}, {r['episodes']} randomized episodes (seed {r['seed']}): "
        f"success {r['success_rate']:.3f}, crash {r['crash_rate']:.3f}, "
        f"final error {r['final_pos_err_m_mean'] * 100:.2f} cm (crashed episodes included)",
        "mean distance to the target, episodes that did not crash: "
        + ", ".join(f"{v:.2f} cm at {k} s" for k, v in r["mean_distance_cm_at_s"].items()),
        f"offset over the success window {r['offset_cm_mean']:.2f} cm, oscillation around it "
        f"{r['oscillation_cm_mean']:.2f} cm",
        f"cosine between that offset and the start offset: median {r['offset_vs_start_cosine_median']:+.2f} "
        "(negative: settles on the far side, as after integrator wind-up)",
    ]
    if "integral_at_clip_at_end_share" in r:
        lines.append(
            f"integral observation still at its clip at the end: {r['integral_at_clip_at_end_share']:.0%} "
            "of the episodes"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("policy", help="exported hover policy (.onnx)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", default="mujoco", choices=["mujoco", "pybullet", "analytic"])
    parser.add_argument("--task-config", default=None, help="task YAML the policy was trained on")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be ≥ 1, found {args.episodes}")
    result = analyse(args.policy, args.episodes, args.seed, args.engine, args.task_config)
    print(format_report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
