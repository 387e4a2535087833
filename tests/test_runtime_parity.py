"""Closed-loop parity: the runtime driving the MuJoCo engine (deploy.sim_bridge, not the training
code) flies exactly the trajectory `tether eval` flies for the same policy, seed and episode:
same observation code, same actions, bit for bit, with ONNX Runtime as evaluation runs it.

The compiled inference engine (deploy/runtime/compiled_policy.py, the robot's default where a C
compiler exists) sums in another order than ONNX Runtime, so its actions differ in the last bits
(~1e-7): its runs are compared within COMPILED_TOLERANCE instead, over the same episodes."""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from deploy.runtime.config import InferenceOptions, RuntimeConfig
from deploy.runtime.robot_profile import DEFAULT_PROFILE, Limits, RobotProfile
from deploy.sim_bridge import make_sim_runtime
from sim.randomization.quadrotor import DEFAULT_CONFIG as DEFAULT_RANDOMIZATION
from sim.randomization.quadrotor import QuadrotorRandomization
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
from tests.runtime_helpers import SHIPPED_POLICY, hover_policy
from training.config import TrainConfig, default_config_path
from training.evaluation import evaluate, policy_factory
from training.export import export
from training.train import train

SEED = 0
#: Compiled C against ONNX Runtime over a whole episode: position (m) and action (units of [-1, 1]).
COMPILED_TOLERANCE = 1e-5
ENGINES = [
    "onnxruntime",
    pytest.param(
        "compiled",
        marks=pytest.mark.skipif(
            shutil.which("cc") is None, reason="no C compiler (cc) for the compiled inference engine"
        ),
    ),
]


@pytest.fixture(scope="module")
def fixture_policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("parity") / "hover.onnx")


@pytest.fixture(scope="module")
def trained_policy(tmp_path_factory):
    """An MLP policy out of `tether train` + `tether export` (3 tiny iterations): normalization baked
    into the graph, ELU layers, the real export path; what it flies like does not matter here."""
    root = tmp_path_factory.mktemp("parity-trained")
    cfg = TrainConfig.from_yaml(default_config_path("quadrotor-hover")).with_overrides(
        env={"num_envs": 16},
        runner={"num_steps_per_env": 8, "torch_threads": 1},
        algorithm={"num_mini_batches": 2, "num_learning_epochs": 1},
    )
    (root / "tiny.yaml").write_text(cfg.to_yaml())
    train("quadrotor-hover", root / "run", root / "tiny.yaml", seed=0, max_iterations=3, progress=False)
    return export(root / "run", parity_envs=2, parity_steps=20)


def _fly(policy, episode, steps, profile, randomization=None, engine="onnxruntime"):
    config = dataclasses.replace(RuntimeConfig.from_yaml(), inference=InferenceOptions(engine=engine))
    runtime, bridge = make_sim_runtime(policy, profile, config, seed=SEED, randomization=randomization)
    assert runtime.runner.inference_engine.startswith("compiled" if engine == "compiled" else engine)
    try:
        bridge.reset(episode)
        bridge.publish(0.0)
        runtime.arm(0.0, current_action=bridge.current_action())
        dt = runtime.contract.control_dt_s
        pos, act, src = [], [], []
        for k in range(steps):
            pos.append(bridge.position_m())
            out = bridge.cycle(k * dt)
            act.append(out.action)
            src.append(out.source)
        return np.array(pos), np.array(act), src
    finally:
        bridge.env.close()


def _compare(policy, episode, profile, randomization=None, engine="onnxruntime"):
    report, traj = evaluate(
        policy_factory(str(policy)),
        "parity",
        episodes=1,
        seed=SEED,
        randomize=randomization is not None,
        randomization=randomization,
        episode_indices=[episode],
        record_episodes=1,
        progress=False,
    )
    eval_pos, eval_act = traj.pos_m[0], np.clip(traj.action[0], -1.0, 1.0)
    flown = ~np.isnan(eval_pos[:, 0])  # evaluation marks steps after a crash as NaN
    pos, act, src = _fly(policy, episode, len(eval_pos), profile, randomization, engine)
    running = np.cumprod([s == "policy" for s in src]).astype(bool)
    compared = flown & running
    if engine == "onnxruntime":
        assert np.array_equal(pos[compared], eval_pos[compared])
        assert np.array_equal(act[compared], eval_act[compared])
    else:
        assert np.abs(pos[compared] - eval_pos[compared]).max() <= COMPILED_TOLERANCE
        assert np.abs(act[compared] - eval_act[compared]).max() <= COMPILED_TOLERANCE
    return report["per_episode"][0], int(compared.sum()), int(flown.sum())


@pytest.mark.parametrize("engine", ENGINES)
def test_runtime_flies_the_same_trajectory_as_eval(fixture_policy, engine):
    profile = RobotProfile.from_yaml(DEFAULT_PROFILE)  # as shipped: limits and rate limits on
    episode, compared, flown = _compare(fixture_policy, 0, profile, engine=engine)
    assert not episode["crashed"] and compared == flown == 600  # the whole 6 s episode, bit for bit


def _unlimited(profile):
    """Limits and rate limits out of the way: parity checks the shared observation/action path."""
    rates = dict.fromkeys(profile.action_rate_limits_per_s, 1e9)
    return dataclasses.replace(profile, limits=Limits(), action_rate_limits_per_s=rates)


def test_parity_holds_up_to_an_evaluation_crash(fixture_policy):
    # The linear test policy cannot handle episode 1's yaw and crashes in evaluation; the runtime,
    # with its own limits out of the way, must fly the same path up to that crash.
    episode, compared, flown = _compare(
        fixture_policy, 1, _unlimited(RobotProfile.from_yaml(DEFAULT_PROFILE))
    )
    assert episode["crashed"] and compared == flown > 50


def _randomized_without_observation_noise():
    """The default randomization (vehicle, disturbance, action delay) with its observation noise
    zeroed: the runtime observes the published state, as on a robot, and adds no noise."""
    d = yaml.safe_load(Path(DEFAULT_RANDOMIZATION).read_text())
    d["observation_noise_scale"] = {"default": [0.0, 0.0]}
    return QuadrotorRandomization.from_dict(d)


RANDOMIZED_EPISODES = (0, 1, 5)  # action delays 2, 0 and 1 steps at SEED


def test_randomized_parity_episodes_cover_every_action_delay():
    env = QuadrotorHoverEnv(1, randomization=_randomized_without_observation_noise(), seed=SEED)
    try:
        delays = sorted(env.sample_episode(k)[0].action_delay_steps for k in RANDOMIZED_EPISODES)
    finally:
        env.close()
    assert delays == [0, 1, 2]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("episode", RANDOMIZED_EPISODES)
def test_runtime_flies_randomized_episodes_like_eval(fixture_policy, episode, engine):
    # vehicle, disturbance and action delay drawn as `tether eval --randomize` draws them
    _, compared, flown = _compare(
        fixture_policy, episode, _unlimited(RobotProfile.from_yaml(DEFAULT_PROFILE)),
        _randomized_without_observation_noise(), engine,
    )
    assert compared == flown > 50


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("episode", [0, 3])
def test_runtime_flies_a_trained_and_exported_mlp_like_eval(trained_policy, episode, engine):
    _, compared, flown = _compare(
        trained_policy, episode, _unlimited(RobotProfile.from_yaml(DEFAULT_PROFILE)), engine=engine
    )
    assert compared == flown > 0


@pytest.mark.skipif(
    not SHIPPED_POLICY.exists(),
    reason=f"{SHIPPED_POLICY} is absent: produce it with `tether train` + `tether export`",
)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("episode", [0, 1, 2])
def test_runtime_flies_the_shipped_policy_like_eval(episode, engine):
    _, compared, flown = _compare(
        SHIPPED_POLICY, episode, _unlimited(RobotProfile.from_yaml(DEFAULT_PROFILE)), engine=engine
    )
    assert compared == flown > 0
