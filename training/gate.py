"""The quadrotor-hover quality gate, measured in MuJoCo with domain randomization.

A policy passes when, over GATE_EPISODES randomized episodes, its success
rate is at least GATE_SUCCESS_RATE and its mean final position error is at
or below the PID baseline's on the very same episodes (same seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.evaluation import evaluate, pid_factory, policy_factory

GATE_EPISODES = 200
GATE_SUCCESS_RATE = 0.99
GATE_SEED = 0


@dataclass
class GateResult:
    passed: bool
    policy: dict[str, Any]
    pid: dict[str, Any]

    def describe(self) -> str:
        p, b = self.policy, self.pid
        verdict = "PASSED" if self.passed else "not passed"
        return (
            f"gate {verdict}: success {p['success_rate']:.3f} (need ≥ {GATE_SUCCESS_RATE}), final error "
            f"{p['final_pos_err_m_mean'] * 100:.2f} cm vs PID {b['final_pos_err_m_mean'] * 100:.2f} cm "
            f"over {p['episodes']} randomized episodes (seed {p['seed']}, {p['engine']})"
        )


def check_gate(
    policy_path: str | Path,
    episodes: int = GATE_EPISODES,
    seed: int = GATE_SEED,
    engine: str = "mujoco",
    pid_report: dict[str, Any] | None = None,
    progress: bool = False,
) -> GateResult:
    """Evaluate the policy (and the PID baseline, unless its report is given) and apply the gate."""
    policy, _ = evaluate(
        policy_factory(str(policy_path)),
        Path(policy_path).name,
        engine=engine,
        episodes=episodes,
        seed=seed,
        randomize=True,
        progress=progress,
    )
    if pid_report is None:
        pid_report, _ = evaluate(
            pid_factory, "pid", engine=engine, episodes=episodes, seed=seed, randomize=True, progress=progress
        )
    passed = (
        policy["success_rate"] >= GATE_SUCCESS_RATE
        and policy["final_pos_err_m_mean"] <= pid_report["final_pos_err_m_mean"]
    )
    return GateResult(passed, policy, pid_report)
