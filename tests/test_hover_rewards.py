"""Reward terms of quadrotor-hover: shapes, and the precision term's scale set by the success radius."""

import dataclasses

import numpy as np
import pytest

from sim.tasks.quadrotor_hover import REWARD_TERMS, HoverConfig, QuadrotorHoverEnv, StepContext


def _context(pos_err_m: np.ndarray, radius_m: float) -> StepContext:
    env = QuadrotorHoverEnv(len(pos_err_m), seed=0, autoreset=False)
    env.reset(seed=0)
    state = env.robot_state()
    env.close()
    n = len(pos_err_m)
    zeros = np.zeros((n, 4))
    return StepContext(state, zeros, zeros, pos_err_m, np.zeros((n, 3)), np.zeros(n, bool), radius_m)


def test_precision_is_one_at_the_target_and_falls_off_on_the_success_radius():
    r = 0.05
    err = np.array(
        [[0.0, 0.0, 0.0], [r, 0.0, 0.0], [0.0, 0.6 * r, 0.8 * r], [3 * r, 0.0, 0.0], [2.0, 0.0, 0.0]]
    )
    value = REWARD_TERMS["precision"](_context(err, r))
    np.testing.assert_allclose(value[:3], [1.0, np.exp(-1.0), np.exp(-1.0)], rtol=1e-12)
    assert value[3] == pytest.approx(np.exp(-9.0))
    assert 0.0 <= value[4] < 1e-100


def test_every_term_is_a_non_negative_magnitude_per_environment():
    err = np.random.default_rng(0).normal(scale=0.3, size=(5, 3))
    ctx = _context(err, 0.05)
    for name, term in REWARD_TERMS.items():
        value = term(ctx)
        assert value.shape == (5,), name
        assert np.all(value >= 0.0), name


def test_default_task_rewards_precision_and_the_env_reports_it_per_step():
    config = HoverConfig.from_yaml()
    assert config.rewards["precision"] > 0.0
    env = QuadrotorHoverEnv(8, config=config, seed=1, autoreset=False)
    env.reset(seed=1)
    hover = np.zeros((8, 4))
    _, _, _, _, info = env.step(hover)
    env.close()
    precision = info["reward_terms"]["precision"]
    dt = config.control_dt_s
    assert np.all(precision > 0.0) and np.all(precision <= config.rewards["precision"] * dt)


def test_action_rate_norm_is_the_euclidean_length_of_the_action_step():
    base = _context(np.zeros((2, 3)), 0.05)
    action = np.array([[0.3, 0.0, -0.4, 0.0], [0.1, 0.1, 0.1, 0.1]])
    prev_action = np.array([[0.0, 0.0, 0.0, 0.0], [0.1, 0.1, 0.1, 0.1]])
    ctx = dataclasses.replace(base, action=action, prev_action=prev_action)
    np.testing.assert_allclose(REWARD_TERMS["action_rate_norm"](ctx), [0.5, 0.0], rtol=1e-12)
    np.testing.assert_allclose(REWARD_TERMS["action_rate"](ctx), [0.25, 0.0], rtol=1e-12)
