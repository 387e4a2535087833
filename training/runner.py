"""The PPO training loop: rsl_rl's OnPolicyRunner with a wall-clock limit and a progress bar.

rsl_rl's own `learn()` prints a full-page report every iteration and only
knows an iteration count. This runner keeps rsl_rl's algorithm, storage and
TensorBoard logger, and replaces the loop so that it can stop on a deadline,
show one tqdm line (ETA, reward, episode length, success rate, env steps/s)
and checkpoint atomically, including when stopped by the deadline or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import torch
from rsl_rl.runners import OnPolicyRunner
from rsl_rl.utils import check_nan
from tensordict import TensorDict
from tqdm import tqdm

from training.checkpoints import checkpoint_path, load_checkpoint, save_atomic
from training.rsl_rl_task_env import RslRlTaskEnv
from training.validation import (
    BEST_CHECKPOINT_NAME,
    AnyValidationScore,
    Validator,
    score_from_dict,
    write_best_record,
)

#: The linear schedule never goes below this fraction of the initial learning rate.
MIN_LR_FRACTION = 0.02


@dataclass
class LearnResult:
    iterations_done: int
    env_steps: int
    checkpoint: Path
    stopped_by: str  # "max_iterations", "max_seconds" or "interrupt"


class TetherRunner(OnPolicyRunner):
    """OnPolicyRunner whose iteration counter counts completed iterations.

    `current_learning_iteration` is the number of iterations done; the
    checkpoint after k iterations is model_k.pt and stores iter = k.
    """

    env: RslRlTaskEnv

    def __init__(self, env: RslRlTaskEnv, train_cfg: dict, log_dir: Path) -> None:
        # rsl_rl prints the model summary on construction; keep it for the record instead.
        with contextlib.redirect_stdout(io.StringIO()) as text:
            super().__init__(env, train_cfg, log_dir=str(log_dir), device="cpu")
        self.model_summary = text.getvalue()
        # rsl_rl's logger would run `git status`/`git diff` on the repository around
        # its own install path; training must not touch the repository's git state.
        self.logger.git_status_repos = []
        self.log_dir = Path(log_dir)
        self.env_steps = 0
        #: Where the training time went, summed over the run (s): rollouts (simulation, task
        #: step and policy inference), PPO updates, and best-checkpoint validation.
        self.time_s = {"collection": 0.0, "update": 0.0, "validation": 0.0}
        self.validator: Validator | None = None
        self.best: AnyValidationScore | None = None
        self.validation_history: list[AnyValidationScore] = []

    def learn_until(
        self,
        max_iterations: int,
        deadline: float | None = None,
        progress: bool = True,
        lr_schedule: str = "fixed",
        lr_anneal_iterations: int | None = None,
    ) -> LearnResult:
        """Train until `max_iterations` iterations are done in total or time.monotonic() ≥ deadline.

        An iteration is started only if it is expected to finish before the
        deadline. A checkpoint is always written at the end. With
        lr_schedule="linear" the learning rate falls linearly from its initial
        value towards 0 over `lr_anneal_iterations` (default: max_iterations);
        it depends on the iteration only, never on the clock, so a seed
        reproduces the same weights.
        """
        anneal_its = lr_anneal_iterations or max_iterations
        lr0 = self.cfg["algorithm"]["learning_rate"]
        n_steps = self.cfg["num_steps_per_env"]
        batch = n_steps * self.env.num_envs
        obs = self.env.get_observations()
        self.alg.train_mode()
        with contextlib.redirect_stdout(io.StringIO()):
            self.logger.init_logging_writer()
        with contextlib.suppress(OSError):  # the logger's empty git/ folder (no repos are logged)
            (self.log_dir / "git").rmdir()
        start_it = self.current_learning_iteration
        recent_iter_s: deque[float] = deque(maxlen=5)
        stopped_by = "max_iterations"
        bar = tqdm(
            total=max_iterations, initial=start_it, unit="it", dynamic_ncols=True,
            disable=not progress, desc="train",
        )
        try:
            while self.current_learning_iteration < max_iterations:
                if deadline is not None:
                    expected_s = max(recent_iter_s) if recent_iter_s else 0.0
                    if time.monotonic() + expected_s > deadline:
                        stopped_by = "max_seconds"
                        break
                if lr_schedule == "linear":
                    fraction = self.current_learning_iteration / anneal_its
                    self._set_learning_rate(lr0 * max(1.0 - fraction, MIN_LR_FRACTION))
                obs, collect_s, learn_s, loss = self._iteration(obs, n_steps)
                recent_iter_s.append(collect_s + learn_s)
                self.current_learning_iteration += 1
                self.env_steps += batch
                self.time_s["collection"] += collect_s
                self.time_s["update"] += learn_s
                it = self.current_learning_iteration
                self._log(it - 1, start_it, max_iterations, collect_s, learn_s, loss, batch)
                if it % self.cfg["save_interval"] == 0:
                    self.save_checkpoint()
                if self.validator is not None and it % self.validator.interval == 0:
                    self.validate()
                self._update_bar(bar, max_iterations, deadline, recent_iter_s, batch)
        except KeyboardInterrupt:
            stopped_by = "interrupt"
        finally:
            bar.close()
        validated = bool(self.validation_history) and (
            self.validation_history[-1].iteration == self.current_learning_iteration
        )
        if self.validator is not None and not validated and stopped_by != "interrupt":
            self.validate()  # before the last checkpoint, so that a resumed run knows this score
        path = self.save_checkpoint()
        if self.logger.writer is not None:
            self.logger.writer.flush()
            self.logger.writer.close()
        return LearnResult(self.current_learning_iteration, self.env_steps, path, stopped_by)

    @property
    def elapsed_s(self) -> float:
        """Seconds of rollouts and PPO updates over the whole run (validation not included)."""
        return self.time_s["collection"] + self.time_s["update"]

    def _set_learning_rate(self, lr: float) -> None:
        self.alg.learning_rate = lr
        for group in self.alg.optimizer.param_groups:
            group["lr"] = lr

    def _iteration(
        self, obs: TensorDict, n_steps: int
    ) -> tuple[TensorDict, float, float, dict[str, float]]:
        """One PPO iteration: collect n_steps per environment, then update."""
        start = time.perf_counter()
        with torch.inference_mode():
            for _ in range(n_steps):
                actions = self.alg.act(obs)
                obs, rewards, dones, extras = self.env.step(actions)
                if self.cfg.get("check_for_nan", True):
                    check_nan(obs, rewards, dones)
                self.alg.process_env_step(obs, rewards, dones, extras)
                self.logger.process_env_step(rewards, dones, extras, None)
            collect_s = time.perf_counter() - start
            start = time.perf_counter()
            self.alg.compute_returns(obs)
        loss = self.alg.update()
        return obs, collect_s, time.perf_counter() - start, loss

    def _log(self, it: int, start_it: int, total_it: int, collect_s: float, learn_s: float,
             loss: dict, batch: int) -> None:
        """TensorBoard scalars via rsl_rl's logger (its console report is discarded)."""
        with contextlib.redirect_stdout(io.StringIO()):
            self.logger.log(
                it=it, start_it=start_it, total_it=total_it, collect_time=collect_s,
                learn_time=learn_s, loss_dict=loss, learning_rate=self.alg.learning_rate,
                action_std=self.alg.get_policy().output_std, rnd_weight=None,
            )
        writer = self.logger.writer
        if writer is not None:
            writer.add_scalar("Perf/env_steps_per_s", batch / max(collect_s, 1e-9), it)
            writer.add_scalar("Perf/total_env_steps", self.env_steps, it)

    def _update_bar(self, bar: tqdm, max_iterations: int, deadline: float | None,
                    recent_iter_s: deque[float], batch: int) -> None:
        it = self.current_learning_iteration
        if deadline is not None and recent_iter_s:
            # When the deadline binds, the bar's total is the iteration it will stop at,
            # so tqdm's ETA is right either way.
            mean_s = statistics.mean(recent_iter_s)
            reachable = it + int(max(deadline - time.monotonic(), 0.0) / mean_s)
            bar.total = max(min(max_iterations, reachable), it)
        bar.update(it - bar.n)
        figures = {}
        if self.logger.rewbuffer:
            figures["reward"] = f"{statistics.mean(self.logger.rewbuffer):.1f}"
            dt_s = self.env.env.config.control_dt_s
            figures["ep_len_s"] = f"{statistics.mean(self.logger.lenbuffer) * dt_s:.2f}"
        summary = self.env.recent_episodes()
        if summary is not None:
            figures["success"] = f"{summary.success_rate:.3f}"
            figures["err_m"] = f"{summary.final_pos_err_m:.3f}"
        if self.best is not None:
            figures["best"] = self.best.label()
        figures["steps/s"] = f"{batch / max(recent_iter_s[-1], 1e-9):.0f}"
        bar.set_postfix(figures, refresh=True)

    # -- best checkpoint --------------------------------------------------------------

    def validate(self) -> AnyValidationScore:
        """Score the current actor on the validation episodes; keep it as model_best.pt if best."""
        actor = self.alg.get_policy()
        was_training = actor.training
        actor.eval()
        started = time.perf_counter()
        try:
            score = self.validator.score(actor, self.current_learning_iteration)
        finally:
            actor.train(was_training)
            self.time_s["validation"] += time.perf_counter() - started
        self.validation_history.append(score)
        writer = self.logger.writer
        if writer is not None:
            it = self.current_learning_iteration
            for name, value in score.scalars().items():
                writer.add_scalar(f"Validation/{name}", value, it)
        if score.better_than(self.best):
            self.best = score
            self.save_checkpoint(self.log_dir / BEST_CHECKPOINT_NAME)
        write_best_record(self.log_dir, self.best, self.validation_history)
        return score

    # -- checkpoints ----------------------------------------------------------------

    def save_checkpoint(self, path: Path | None = None) -> Path:
        path = path or checkpoint_path(self.log_dir, self.current_learning_iteration)
        data = self.alg.save()
        data["iter"] = self.current_learning_iteration
        data["infos"] = {
            "env_steps": self.env_steps,
            "elapsed_s": self.elapsed_s,
            "time_s": dict(self.time_s),
            "next_episode_index": self.env.next_episode_index,
            "torch_rng_state": torch.get_rng_state(),
            "best": None if self.best is None else vars(self.best),
            "validation_history": [vars(v) for v in self.validation_history],
        }
        save_atomic(data, path)
        return path

    def load_checkpoint(self, path: Path) -> None:
        """Restore networks, optimizer, iteration count and the torch RNG from a checkpoint."""
        data = load_checkpoint(path)
        self.alg.load(data, load_cfg=None, strict=True)
        self.current_learning_iteration = int(data["iter"])
        infos = data.get("infos") or {}
        self.env_steps = int(infos.get("env_steps", 0))
        self.time_s.update(infos.get("time_s", {}))
        if "torch_rng_state" in infos:
            torch.set_rng_state(infos["torch_rng_state"])
        if infos.get("best") is not None:
            self.best = score_from_dict(infos["best"])
        self.validation_history = [score_from_dict(v) for v in infos.get("validation_history", [])]
