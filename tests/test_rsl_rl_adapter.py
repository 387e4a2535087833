"""The rsl_rl VecEnv adapter: observation groups, shapes, time-outs and episode logs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from deploy.observations import ObservationBuilder
from sim.randomization.quadrotor import QuadrotorRandomization, nominal_sample
from sim.tasks.quadrotor_hover import HoverConfig, QuadrotorHoverEnv
from training.rsl_rl_env import (
    PRIVILEGED_SIZE,
    PRIVILEGED_TERMS,
    RslRlHoverEnv,
    critic_group_size,
    privileged_state,
)

NUM_ENVS = 4


def make_adapter(episode_length_s: float | None = None, randomized: bool = True) -> RslRlHoverEnv:
    config = HoverConfig.from_yaml()
    if episode_length_s is not None:
        config = HoverConfig.from_dict({**config.source, "episode_length_s": episode_length_s})
    rand = QuadrotorRandomization.from_yaml() if randomized else None
    return RslRlHoverEnv(QuadrotorHoverEnv(NUM_ENVS, config=config, randomization=rand, seed=3), seed=3)


def hover_actions(env: RslRlHoverEnv) -> torch.Tensor:
    return torch.full((env.num_envs, env.num_actions), 2.0 * env.env.nominal.hover_command - 1.0)


def test_is_an_rsl_rl_vecenv_with_policy_and_critic_groups() -> None:
    env = make_adapter()
    try:
        assert isinstance(env, VecEnv)
        assert env.num_envs == NUM_ENVS and env.num_actions == 4
        assert env.max_episode_length == env.env.config.episode_steps == 600
        obs = env.get_observations()
        assert isinstance(obs, TensorDict)
        assert set(obs.keys()) == {"policy", "critic"}
        assert obs["policy"].shape == (NUM_ENVS, env.env.contract.observation_size)
        # vehicle terms, 4 rotor speeds, 2 × 4 pending actions (default delay range 0-2 steps)
        expected = (NUM_ENVS, PRIVILEGED_SIZE + 12)
        assert obs["critic"].shape == (NUM_ENVS, critic_group_size(env.env)) == expected
        assert obs["policy"].dtype == torch.float32 and obs["critic"].dtype == torch.float32
        assert obs["policy"].device == torch.device("cpu")
    finally:
        env.close()


def test_step_shapes_and_dtypes() -> None:
    env = make_adapter()
    try:
        obs, rew, dones, extras = env.step(hover_actions(env))
        assert obs["policy"].shape == (NUM_ENVS, env.env.contract.observation_size)
        assert rew.shape == (NUM_ENVS,) and rew.dtype == torch.float32
        assert dones.shape == (NUM_ENVS,) and dones.dtype == torch.long
        assert extras["time_outs"].shape == (NUM_ENVS,) and extras["time_outs"].dtype == torch.bool
        assert torch.equal(env.get_observations()["policy"], obs["policy"])
        assert torch.all(env.episode_length_buf == 1)
    finally:
        env.close()


def test_policy_group_is_the_contract_observation() -> None:
    env = make_adapter(randomized=False)
    try:
        # an independent builder fed the same robot states gives the same observation
        builder = ObservationBuilder(env.env.contract, NUM_ENVS)
        builder.build(env.env.robot_state())  # the adapter reset the environment when it was made
        obs, *_ = env.step(hover_actions(env))
        expected = builder.build(env.env.robot_state())
        np.testing.assert_array_equal(obs["policy"].numpy(), expected)
    finally:
        env.close()


def test_time_outs_come_from_truncation_and_episodes_are_logged() -> None:
    env = make_adapter(episode_length_s=0.05)  # 5 control steps
    try:
        for _ in range(4):
            _, _, dones, extras = env.step(hover_actions(env))
        _, _, dones, extras = env.step(hover_actions(env))
        time_outs = extras["time_outs"]
        assert torch.all(dones == 1), "every episode ends at the 5-step time limit or earlier"
        # A time-out is a done that is not a crash; a 50 ms hover from these starts does not crash.
        assert torch.all(time_outs)
        log = extras["log"]
        for key in ("Episode/success_rate", "Episode/crash_rate", "Episode/return",
                    "Episode/final_pos_err_m", "Episode/length_s"):
            assert key in log, key
        assert log["Episode/crash_rate"].sum() == 0
        assert torch.allclose(log["Episode/length_s"], torch.full((NUM_ENVS,), 0.05))
        assert torch.all(env.episode_length_buf == 0)
        summary = env.recent_episodes()
        assert summary is not None and summary.episodes == NUM_ENVS and summary.crash_rate == 0.0
    finally:
        env.close()


def test_crash_is_done_but_not_a_time_out() -> None:
    env = make_adapter()
    try:
        off = -torch.ones(env.num_envs, env.num_actions)  # motors off: falls and hits the ground
        for _ in range(300):
            _, _, dones, extras = env.step(off)
            if dones.any():
                break
        assert dones.any()
        assert not extras["time_outs"][dones.bool()].any()
        assert extras["log"]["Episode/crash_rate"].min() == 1.0
    finally:
        env.close()


def test_privileged_state_of_nominal_vehicle_is_zero() -> None:
    env = QuadrotorHoverEnv(1)
    try:
        vec = privileged_state(nominal_sample(env.nominal), env.nominal)
        assert vec.shape == (PRIVILEGED_SIZE,) == (sum(s for _, s in PRIVILEGED_TERMS),)
        np.testing.assert_allclose(vec, 0.0, atol=1e-12)
    finally:
        env.close()


def test_privileged_state_tracks_the_sampled_vehicle_after_reset() -> None:
    env = make_adapter(episode_length_s=0.02)
    try:
        sample = env.env.samples[0]
        crit = env.get_observations()["critic"][0].numpy()
        assert crit[0] == pytest.approx(sample.params.mass_kg / env.env.nominal.mass_kg - 1.0, rel=1e-5)
        np.testing.assert_allclose(
            crit[PRIVILEGED_SIZE - 6 : PRIVILEGED_SIZE - 3],
            np.asarray(sample.force_world_n) / sample.params.mass_kg,
            rtol=1e-5,
            atol=1e-7,
        )
        env.step(hover_actions(env))
        obs, *_ = env.step(hover_actions(env))  # time limit: every env restarts with a new vehicle
        new = env.env.samples[0]
        assert new is not sample
        assert obs["critic"][0, 0].item() == pytest.approx(
            new.params.mass_kg / env.env.nominal.mass_kg - 1.0, rel=1e-5
        )
    finally:
        env.close()


def test_wrong_action_shape_is_refused() -> None:
    env = make_adapter()
    try:
        with pytest.raises(ValueError, match="expected actions of shape"):
            env.step(torch.zeros(NUM_ENVS, 3))
    finally:
        env.close()
