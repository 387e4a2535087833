"""An episode is drawn from (seed, k) alone: under randomization (vehicle, start, disturbance and
observation noise) episode k flies the same trajectory alone, inside batches of any size and
whatever its neighbours do."""

import numpy as np
import pytest

from sim.randomization.quadrotor import QuadrotorRandomization
from sim.randomization.quadruped import QuadrupedRandomization
from sim.tasks.episode_noise import EpisodeNoise
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
from sim.tasks.quadruped_walk import QuadrupedWalkEnv
from tests.runtime_helpers import hover_policy
from training.evaluation import evaluate, policy_factory

SEED = 3
EPISODE = 5


@pytest.fixture(scope="module")
def linear_policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("replay") / "hover.onnx")


def _eval_flight(policy, indices, batch_size):
    report, traj = evaluate(
        policy_factory(str(policy)),
        "replay",
        seed=SEED,
        randomize=True,
        episode_indices=indices,
        batch_size=batch_size,
        record_episodes=len(indices),
        progress=False,
    )
    k = list(traj.episode_index).index(EPISODE)
    return traj.pos_m[k], traj.action[k], report


def test_an_evaluated_episode_flies_the_same_alone_and_in_any_batch(linear_policy):
    alone_pos, alone_act, _ = _eval_flight(linear_policy, [EPISODE], 1)
    indices = list(range(12))
    for batch_size in (12, 4):
        pos, act, report = _eval_flight(linear_policy, indices, batch_size)
        assert np.array_equal(pos, alone_pos, equal_nan=True), f"batch size {batch_size}"
        assert np.array_equal(act, alone_act, equal_nan=True), f"batch size {batch_size}"
    # the batch holds episodes that end early, so neighbours finishing cannot shift the stream
    assert any(e["crashed"] for e in report["per_episode"])
    assert np.isfinite(alone_pos).all()  # episode 5 itself flies its whole 6 s


def _observations(env_cls, randomization, indices, row, steps):
    env = env_cls(len(indices), randomization=randomization, seed=SEED, autoreset=False)
    try:
        obs, _ = env.reset(options={"episode_indices": indices})
        out = [obs[row]]
        for _ in range(steps):
            # actions depend on the observation, so noise feeds back into the flight
            action = 0.05 * np.tanh(obs[:, : env.single_action_space.shape[0]])
            obs, *_ = env.step(action)
            out.append(obs[row])
        return np.array(out)
    finally:
        env.close()


@pytest.mark.parametrize(
    "env_cls, randomization",
    [
        (QuadrotorHoverEnv, QuadrotorRandomization.from_yaml),
        (QuadrupedWalkEnv, QuadrupedRandomization.from_yaml),
    ],
    ids=["quadrotor-hover", "quadruped-walk"],
)
def test_noisy_observations_belong_to_the_episode(env_cls, randomization):
    rand = randomization()
    alone = _observations(env_cls, rand, [EPISODE], 0, 30)
    batched = _observations(env_cls, rand, [9, 2, EPISODE, 0], 2, 30)
    assert np.array_equal(alone, batched)
    other_seed = env_cls(1, randomization=rand, seed=SEED + 1, autoreset=False)
    try:
        obs, _ = other_seed.reset(options={"episode_indices": [EPISODE]})
        assert not np.array_equal(obs[0], alone[0])  # the stream is keyed by the seed too
    finally:
        other_seed.close()


def test_noise_rows_do_not_depend_on_the_buffer_size():
    small, large = EpisodeNoise(2, 5, chunk_steps=3), EpisodeNoise(2, 5, chunk_steps=64)
    for noise in (small, large):
        noise.start(np.array([0, 1]), seed=7, episode_indices=np.array([11, 12]))
    a = np.array([small.standard_normal(np.array([1])) for _ in range(10)])
    b = np.array([large.standard_normal(np.array([1])) for _ in range(10)])
    assert np.array_equal(a, b)
    first = EpisodeNoise.stream(7, 12).standard_normal((10, 5))
    assert np.array_equal(a[:, 0], first)


def test_noise_before_an_episode_is_refused():
    with pytest.raises(RuntimeError, match="before any episode"):
        EpisodeNoise(1, 3).standard_normal(np.array([0]))
