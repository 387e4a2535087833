"""Keep the best checkpoint by an evaluated gate metric, not the last one.

PPO's last iterate is not its best: a hover policy can gain precision and then
lose it to a few crashes within tens of iterations. Every `interval`
iterations the runner flies the current deterministic actor on a fixed set of
randomized validation episodes and keeps the best one as model_best.pt.

The validation seed differs from the gate's evaluation seeds (0 and 23), so
choosing a checkpoint never looks at the episodes it is judged on. Validation
runs on the training engine (the analytic engine's trajectories equal
MuJoCo's to 1e-5); gates are always measured in MuJoCo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from deploy.robot_state import RobotState
from training.gate import GATE_MAX_CRASH_RATE, GATE_SUCCESS_RATE
from training.policy import DeterministicPolicy

BEST_CHECKPOINT_NAME = "model_best.pt"
#: How many missed episodes one crash is worth when ranking checkpoints (from the gate).
CRASH_WEIGHT = (1.0 - GATE_SUCCESS_RATE) / GATE_MAX_CRASH_RATE
BEST_RECORD_NAME = "best.yaml"


@dataclass(frozen=True)
class ValidationScore:
    """The gate's figures on the validation episodes, ordered so that larger is better."""

    iteration: int
    success_rate: float
    crash_rate: float
    final_pos_err_m_mean: float

    def key(self) -> tuple[float, float]:
        # Success net of crashes first, a crash weighing as much as the gate's ratio of allowed
        # misses to allowed crashes (0.01 / 0.005 = 2), then precision.
        net = self.success_rate - CRASH_WEIGHT * self.crash_rate
        return (round(net, 4), -self.final_pos_err_m_mean)

    def better_than(self, other: AnyValidationScore | None) -> bool:
        return other is None or self.key() > other.key()

    def scalars(self) -> dict[str, float]:
        """TensorBoard scalars (Validation/<name>)."""
        return {
            "success_rate": self.success_rate,
            "crash_rate": self.crash_rate,
            "final_pos_err_m": self.final_pos_err_m_mean,
        }

    def label(self) -> str:
        """Short form for the progress bar."""
        return f"{self.success_rate:.3f}@{self.iteration}"


@dataclass(frozen=True)
class WalkValidationScore:
    """quadruped-walk's gate figures on the validation episodes.

    Ranked by the worst ratio of a figure to its gate threshold (fall rate,
    linear- and yaw-velocity tracking error): a policy that stands still never
    falls but tracks nothing, so the fall rate alone would prefer it; below 1
    every figure is within its gate.
    """

    iteration: int
    fall_rate: float
    lin_vel_err_m_s_mean: float
    yaw_rate_err_rad_s_mean: float
    gate: dict[str, float]

    def gate_ratio(self) -> float:
        g = self.gate
        ratios = [
            self.fall_rate / g["max_fall_rate"],
            self.lin_vel_err_m_s_mean / g["max_lin_vel_err_m_s"],
            self.yaw_rate_err_rad_s_mean / g["max_yaw_rate_err_rad_s"],
        ]
        return float(max(r if np.isfinite(r) else np.inf for r in ratios))

    def key(self) -> tuple[float, ...]:
        return (-round(self.gate_ratio(), 4), -self.fall_rate)

    def better_than(self, other: AnyValidationScore | None) -> bool:
        return other is None or self.key() > other.key()

    def scalars(self) -> dict[str, float]:
        return {
            "fall_rate": self.fall_rate,
            "lin_vel_err_m_s": self.lin_vel_err_m_s_mean,
            "yaw_rate_err_rad_s": self.yaw_rate_err_rad_s_mean,
            "gate_ratio": self.gate_ratio(),
        }

    def label(self) -> str:
        return f"gate×{self.gate_ratio():.2f}@{self.iteration}"


AnyValidationScore = ValidationScore | WalkValidationScore


def score_from_dict(d: dict[str, Any]) -> AnyValidationScore:
    """A score saved in a checkpoint or best.yaml, of whichever task wrote it."""
    return WalkValidationScore(**d) if "fall_rate" in d else ValidationScore(**d)


class _TorchController:
    name = "actor"

    def __init__(self, policy: DeterministicPolicy) -> None:
        self.policy = policy

    def reset(self, env_ids: np.ndarray | None = None) -> None:
        pass

    def act(self, state: RobotState, observation: np.ndarray | None = None) -> np.ndarray:
        with torch.inference_mode():
            return self.policy(torch.from_numpy(np.asarray(observation, dtype=np.float32))).numpy()


class Validator:
    """Flies `episodes` randomized hover episodes (seed `seed`) with the current actor.

    The task config and randomization ranges are the run's own, read once when
    training starts: editing the YAML files during a run changes nothing in it.
    """

    def __init__(
        self, episodes: int, seed: int, engine: str, randomization: Any, interval: int,
        task_config: Any = None,
    ) -> None:
        if episodes < 1 or interval < 1:
            raise ValueError(f"validation needs episodes ≥ 1 and interval ≥ 1, found {episodes}, {interval}")
        self.episodes, self.seed, self.engine, self.interval = episodes, seed, engine, interval
        self.randomization = randomization  # the training env's randomization, or None
        self.task_config = task_config

    def _evaluation_kwargs(self, actor: torch.nn.Module) -> dict[str, Any]:
        policy = DeterministicPolicy(actor)
        return dict(
            controller_factory=lambda env: _TorchController(policy), controller_name="actor",
            engine=self.engine, episodes=self.episodes, seed=self.seed,
            randomize=self.randomization is not None, randomization=self.randomization,
            batch_size=self.episodes, config=self.task_config, progress=False,
        )

    def score(self, actor: torch.nn.Module, iteration: int) -> AnyValidationScore:
        from training.evaluation import evaluate

        report, _ = evaluate(**self._evaluation_kwargs(actor))
        return ValidationScore(
            iteration, report["success_rate"], report["crash_rate"], report["final_pos_err_m_mean"]
        )


class WalkValidator(Validator):
    """Flies `episodes` randomized quadruped-walk episodes (seed `seed`) with the current actor."""

    def score(self, actor: torch.nn.Module, iteration: int) -> AnyValidationScore:
        from training.evaluation_quadruped import evaluate_walk

        report = evaluate_walk(**self._evaluation_kwargs(actor))
        lin, yaw = report["lin_vel_err_m_s_mean"], report["yaw_rate_err_rad_s_mean"]
        return WalkValidationScore(
            iteration, report["fall_rate"], float("inf") if lin is None else lin,
            float("inf") if yaw is None else yaw, dict(report["gate"]),
        )


class PrivilegedValidator(Validator):
    """Validation of a privileged teacher (policy.actor_sees_privileged): its actor needs the
    simulation-only "critic" group, so it flies the validation episodes through the training
    adapter (training engine, the run's randomization) instead of the contract-only evaluator.

    Each of the `episodes` environments flies its first episode (episode indices 0..N−1 of
    `seed`, never started at the target); the score counts those episodes only.
    """

    def score(self, actor: torch.nn.Module, iteration: int) -> AnyValidationScore:
        from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
        from training.rsl_rl_env import RslRlHoverEnv

        task = QuadrotorHoverEnv(
            self.episodes, config=self.task_config, randomization=self.randomization,
            engine=self.engine, seed=self.seed,
        )
        env = RslRlHoverEnv(task, seed=self.seed)
        policy = DeterministicPolicy(actor)
        finished = np.zeros(self.episodes, dtype=bool)
        success = np.zeros(self.episodes, dtype=bool)
        crashed = np.zeros(self.episodes, dtype=bool)
        error_m = np.full(self.episodes, np.nan)
        obs = env.get_observations()
        try:
            with torch.inference_mode():
                for _ in range(task.config.episode_steps + 1):
                    obs, _, done, _ = env.step(policy(torch.cat([obs["policy"], obs["critic"]], -1)))
                    if done.any():
                        ids, ep = env.last_infos["done_env_ids"], env.last_infos["episode"]
                        new = ~finished[ids]
                        success[ids[new]] = ep["success"][new]
                        crashed[ids[new]] = ep["crashed"][new]
                        error_m[ids[new]] = ep["final_pos_err_m"][new]
                        finished[ids[new]] = True
                    if finished.all():
                        break
        finally:
            env.close()
        ok = ~crashed
        mean_err = float(np.mean(error_m[ok])) if ok.any() else float("inf")
        return ValidationScore(iteration, float(success.mean()), float(crashed.mean()), mean_err)


def write_best_record(
    run_dir: Path, best: AnyValidationScore, history: list[AnyValidationScore]
) -> None:
    record: dict[str, Any] = {
        "checkpoint": BEST_CHECKPOINT_NAME,
        "best": dict(vars(best)),
        "history": [dict(vars(s)) for s in history],
    }
    (Path(run_dir) / BEST_RECORD_NAME).write_text(yaml.safe_dump(record, sort_keys=False))
