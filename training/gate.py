"""The quadrotor-hover quality gate, measured in MuJoCo with domain randomization.

A policy passes when, over GATE_EPISODES randomized episodes of one
evaluation seed, its success rate is at least GATE_SUCCESS_RATE, its crash
rate at most GATE_MAX_CRASH_RATE and its mean final position error at most
GATE_MAX_FINAL_POS_ERR_M. The shipped policy must pass for every seed in
GATE_SEEDS. The PID baseline flies the very same episodes and the report
gives the policy's error as a ratio to the PID's: matching the PID is the
next target, not yet the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.evaluation import config_for_policy, evaluate, pid_factory, policy_factory

GATE_EPISODES = 200
GATE_SUCCESS_RATE = 0.99
GATE_MAX_CRASH_RATE = 0.005
GATE_MAX_FINAL_POS_ERR_M = 0.02
GATE_SEED = 0
#: Evaluation seeds a shipped policy must pass on (distinct episode sets).
GATE_SEEDS = (0, 23)


def gate_verdict(report: dict[str, Any]) -> bool:
    """Whether an evaluation report (training.evaluation.evaluate) meets the gate's thresholds."""
    return (
        report["success_rate"] >= GATE_SUCCESS_RATE
        and report["crash_rate"] <= GATE_MAX_CRASH_RATE
        and report["final_pos_err_m_mean"] <= GATE_MAX_FINAL_POS_ERR_M
    )


def describe_thresholds() -> str:
    return (
        f"success ≥ {GATE_SUCCESS_RATE}, crash ≤ {GATE_MAX_CRASH_RATE}, "
        f"final error ≤ {GATE_MAX_FINAL_POS_ERR_M * 100:.1f} cm"
    )


@dataclass
class GateResult:
    passed: bool
    policy: dict[str, Any]
    pid: dict[str, Any]

    @property
    def error_ratio_to_pid(self) -> float:
        """Policy's mean final error / PID's on the same episodes (inf when the PID's is 0)."""
        pid = self.pid["final_pos_err_m_mean"]
        return self.policy["final_pos_err_m_mean"] / pid if pid > 0 else float("inf")

    def describe(self) -> str:
        p, b = self.policy, self.pid
        verdict = "PASSED" if self.passed else "not passed"
        return (
            f"gate {verdict} ({describe_thresholds()}): success {p['success_rate']:.3f}, crash "
            f"{p['crash_rate']:.3f}, final error {p['final_pos_err_m_mean'] * 100:.2f} cm "
            f"({self.error_ratio_to_pid:.1f}× PID's {b['final_pos_err_m_mean'] * 100:.2f} cm) "
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
    """Evaluate the policy (and the PID baseline, unless its report is given) and apply the gate.
    A collective thrust + body rate policy flies the ctbr task (same episodes drawing, same
    thresholds), and so does the PID baseline (its outer loops through the modelled rate loop)."""
    config = config_for_policy(policy_path)
    policy, _ = evaluate(
        policy_factory(str(policy_path)),
        Path(policy_path).name,
        engine=engine,
        episodes=episodes,
        seed=seed,
        randomize=True,
        progress=progress,
        config=config,
    )
    if pid_report is None:
        pid_report, _ = evaluate(
            pid_factory, "pid", engine=engine, episodes=episodes, seed=seed, randomize=True,
            progress=progress, config=config,
        )  # fmt: skip
    return GateResult(gate_verdict(policy), policy, pid_report)
