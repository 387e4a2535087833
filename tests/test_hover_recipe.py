"""The hover training recipe's parts: the critic's actuator state, starts at the target,
the action history in the contract, and best-checkpoint selection by validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sim.randomization.quadrotor import QuadrotorRandomization
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
from tests.training_helpers import tiny_config
from training.config import ConfigError, TrainConfig, default_config_path
from training.policy import load_policy
from training.rsl_rl_env import PRIVILEGED_SIZE, RslRlHoverEnv, critic_group_size
from training.train import train
from training.validation import BEST_CHECKPOINT_NAME, BEST_RECORD_NAME, ValidationScore

TASK = "quadrotor-hover"


def _randomized_env(n: int, **kwargs) -> QuadrotorHoverEnv:
    return QuadrotorHoverEnv(n, randomization=QuadrotorRandomization.from_yaml(), seed=3, **kwargs)


def test_pending_actions_are_what_reaches_the_motors_next():
    env = _randomized_env(16, autoreset=False)
    try:
        env.reset(seed=3)
        assert env._delay.max() == 2 and env._delay.min() == 0, "need every delay in the batch"
        applied: list[np.ndarray] = []
        real_step = env.engine.step
        env.engine.step = lambda cmd: (applied.append(np.array(cmd)), real_step(cmd))[1]
        rng = np.random.default_rng(0)
        for _ in range(3):
            env.step(rng.uniform(-0.2, 0.2, (16, 4)))
        _, pending = env.actuator_state()
        for _ in range(2):
            env.step(rng.uniform(-0.2, 0.2, (16, 4)))
        assert pending.shape == (16, 2, 4)
        for k in range(2):
            command = 0.5 + 0.5 * pending[:, k]  # action → normalized motor command
            queued = env._delay > k
            np.testing.assert_allclose(applied[3 + k][queued], command[queued])
            assert np.all(pending[~queued, k] == 0.0)
    finally:
        env.close()


def test_rotor_state_is_the_hover_action_after_reset_and_follows_the_command():
    env = QuadrotorHoverEnv(2, autoreset=False)
    try:
        env.reset(seed=0)
        rotors, pending = env.actuator_state()
        hover_action = 2.0 * env.nominal.hover_command - 1.0
        np.testing.assert_allclose(rotors, hover_action, atol=1e-12)
        assert pending.shape == (2, 0, 4)  # no randomization: no action delay
        for _ in range(40):  # full throttle for 0.4 s, > 5 rotor time constants
            env.step(np.ones((2, 4)))
        assert not env.finished.any()
        rotors, _ = env.actuator_state()
        assert np.all(rotors > 0.99)
    finally:
        env.close()


def test_critic_group_holds_vehicle_rotors_and_pending_actions_and_never_the_contract():
    env = _randomized_env(3)
    vec = RslRlHoverEnv(env, seed=3)
    try:
        critic = vec.get_observations()["critic"]
        assert critic.shape == (3, critic_group_size(env)) == (3, PRIVILEGED_SIZE + 4 + 2 * 4)
        rotors, _ = env.actuator_state()
        rotor_block = critic[:, PRIVILEGED_SIZE : PRIVILEGED_SIZE + 4].numpy()
        np.testing.assert_allclose(rotor_block, rotors, rtol=1e-6)
        names = [t.name for t in env.contract.observations]
        assert not any("rotor" in n or "delay" in n or "disturbance" in n for n in names)
    finally:
        vec.close()


def test_contract_carries_sixteen_past_actions():
    env = QuadrotorHoverEnv(1)
    try:
        term = next(t for t in env.contract.observations if t.name == "previous_action")
        assert (term.history, term.size) == (16, 4)
        obs, _ = env.reset(seed=0)
        block = obs[0, env.contract.observation_slices()["previous_action"]].reshape(16, 4)
        np.testing.assert_allclose(block, 2.0 * env.nominal.hover_command - 1.0, rtol=1e-6)
        obs, *_ = env.step(np.full((1, 4), 0.25))
        block = obs[0, env.contract.observation_slices()["previous_action"]].reshape(16, 4)
        np.testing.assert_allclose(block[0], 0.25)  # newest first
        np.testing.assert_allclose(block[1:], 2.0 * env.nominal.hover_command - 1.0, rtol=1e-6)
    finally:
        env.close()


def test_starts_at_the_target_are_level_and_at_rest_and_leave_other_episodes_unchanged():
    plain = _randomized_env(1)
    some = _randomized_env(1, start_at_target_fraction=0.5)
    every = _randomized_env(1, start_at_target_fraction=1.0)
    try:
        target = np.asarray(plain.config.target_pos_m)
        at_target = 0
        for k in range(40):
            _, s_plain = plain.sample_episode(k)
            _, s_some = some.sample_episode(k)
            _, s_every = every.sample_episode(k)
            np.testing.assert_allclose(s_every.base_pos_m[0], target)
            assert np.all(s_every.base_lin_vel_m_s == 0) and np.all(s_every.base_ang_vel_rad_s == 0)
            q = s_every.base_quat_wxyz[0]
            assert abs(q[1]) < 1e-12 and abs(q[2]) < 1e-12  # yaw only: level
            if np.allclose(s_some.base_pos_m, target) and np.all(s_some.base_lin_vel_m_s == 0):
                at_target += 1
            else:
                np.testing.assert_array_equal(s_some.base_pos_m, s_plain.base_pos_m)
                np.testing.assert_array_equal(s_some.base_quat_wxyz, s_plain.base_quat_wxyz)
        assert 10 <= at_target <= 30
    finally:
        for env in (plain, some, every):
            env.close()


def test_start_at_target_fraction_is_checked():
    with pytest.raises(ValueError, match=r"start_at_target_fraction must be in \[0, 1\]"):
        QuadrotorHoverEnv(1, start_at_target_fraction=1.5)
    d = TrainConfig.from_yaml(default_config_path(TASK)).to_dict()
    d["env"]["start_at_target_fraction"] = -0.1
    with pytest.raises(ConfigError, match="start_at_target_fraction"):
        TrainConfig.from_dict(d)


def test_shipped_hover_config_uses_the_recipe():
    cfg = TrainConfig.from_yaml(default_config_path(TASK))
    assert cfg.env.start_at_target_fraction == 0.1
    assert cfg.validation is not None and cfg.validation.seed not in (0, 23)


def test_older_configs_without_the_new_keys_still_load():
    d = TrainConfig.from_yaml(default_config_path(TASK)).to_dict()
    del d["env"]["start_at_target_fraction"]
    del d["validation"]
    cfg = TrainConfig.from_dict(d)
    assert cfg.env.start_at_target_fraction == 0.0 and cfg.validation is None


def test_validation_on_a_gate_seed_is_refused():
    d = TrainConfig.from_yaml(default_config_path(TASK)).to_dict()
    d["validation"]["seed"] = 23
    with pytest.raises(ConfigError, match="gate evaluation seed"):
        TrainConfig.from_dict(d)


def test_validation_score_ranks_crashes_below_misses_and_then_precision():
    a = ValidationScore(10, success_rate=0.99, crash_rate=0.0, final_pos_err_m_mean=0.02)
    b = ValidationScore(20, success_rate=0.99, crash_rate=0.0, final_pos_err_m_mean=0.015)
    c = ValidationScore(30, success_rate=1.0, crash_rate=0.02, final_pos_err_m_mean=0.01)
    assert b.better_than(a) and not a.better_than(b)
    assert a.better_than(c)  # 0.99 net against 1.0 − 2 × 0.02 = 0.96
    assert a.better_than(None)
    # seed 1 of the default recipe: iteration 460 (0.92, 1 % crashes) is nearer the gate than
    # iteration 540 (0.95, 3 % crashes); a crash counts as two misses, the gate's ratio
    i460 = ValidationScore(460, success_rate=0.92, crash_rate=0.01, final_pos_err_m_mean=0.0359)
    i540 = ValidationScore(540, success_rate=0.95, crash_rate=0.03, final_pos_err_m_mean=0.0457)
    assert i460.better_than(i540)


def test_training_keeps_the_best_validated_checkpoint_and_export_uses_it(tmp_path: Path):
    run = tmp_path / "run"
    train(TASK, run, tiny_config(tmp_path), seed=2, max_iterations=4, progress=False)
    record = yaml.safe_load((run / BEST_RECORD_NAME).read_text())
    iterations = [h["iteration"] for h in record["history"]]
    assert iterations == [2, 4]
    best = max(record["history"], key=lambda h: ValidationScore(**h).key())
    assert record["best"] == best
    saved = torch.load(run / BEST_CHECKPOINT_NAME, weights_only=True)
    assert saved["iter"] == best["iteration"]
    _, _, path = load_policy(run)
    assert path.name == BEST_CHECKPOINT_NAME
    _, _, path = load_policy(run, run / "model_4.pt")
    assert path.name == "model_4.pt"
    summary = yaml.safe_load((run / "summary.yaml").read_text())
    assert summary["best"] == best


def test_a_run_stopped_between_checks_resumes_with_its_last_score(tmp_path: Path):
    # Stopped at 3 (interval 2): the final validation at 3 must be in the checkpoint it resumes from.
    run = tmp_path / "run"
    cfg = tiny_config(tmp_path)
    train(TASK, run, cfg, seed=2, max_iterations=3, progress=False)
    saved = torch.load(run / "model_3.pt", weights_only=True)["infos"]
    assert [h["iteration"] for h in saved["validation_history"]] == [2, 3]
    train(TASK, run, seed=2, max_iterations=4, resume=True, progress=False)
    record = yaml.safe_load((run / BEST_RECORD_NAME).read_text())
    assert [h["iteration"] for h in record["history"]] == [2, 3, 4]
    best = max(record["history"], key=lambda h: ValidationScore(**h).key())
    assert record["best"] == best
    assert torch.load(run / BEST_CHECKPOINT_NAME, weights_only=True)["iter"] == best["iteration"]


def test_resumed_training_remembers_the_best_so_far(tmp_path: Path):
    run = tmp_path / "run"
    cfg = tiny_config(tmp_path)
    train(TASK, run, cfg, seed=2, max_iterations=2, progress=False)
    first = yaml.safe_load((run / BEST_RECORD_NAME).read_text())
    train(TASK, run, seed=2, max_iterations=4, resume=True, progress=False)
    record = yaml.safe_load((run / BEST_RECORD_NAME).read_text())
    assert [h["iteration"] for h in record["history"]] == [2, 4]
    assert record["history"][0] == first["history"][0]


def test_validation_flies_the_task_config_of_the_run_not_the_yaml_on_disk(monkeypatch, tmp_path: Path):
    import dataclasses

    from tensordict import TensorDict

    from sim.tasks.quadrotor_hover import HoverConfig
    from training.policy import build_actor
    from training.validation import Validator

    cfg = TrainConfig.from_yaml(tiny_config(tmp_path))
    config = HoverConfig.from_yaml()
    contract = config.contract()
    obs = TensorDict(
        {"policy": torch.zeros(1, contract.observation_size), "critic": torch.zeros(1, PRIVILEGED_SIZE)},
        batch_size=[1],
    )
    actor = build_actor(cfg, obs, contract)
    short = dataclasses.replace(config, episode_length_s=0.05)
    validator = Validator(3, 1, "analytic", QuadrotorRandomization.from_yaml(), 1, task_config=short)

    def edited_on_disk(*args, **kwargs):
        raise AssertionError("validation re-read the task YAML during the run")

    monkeypatch.setattr(HoverConfig, "from_yaml", classmethod(edited_on_disk))
    score = validator.score(actor, iteration=7)
    # 5 control steps from up to a metre away: nothing can succeed, nothing has time to crash
    assert score.iteration == 7 and score.success_rate == 0.0
