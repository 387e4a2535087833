"""Closed-loop parity: the runtime driving the MuJoCo engine (deploy.sim_bridge, not the training
code) flies exactly the trajectory `tether eval` flies for the same policy, seed and episode:
same observation code, same actions, bit for bit."""

import dataclasses

import numpy as np
import pytest

from deploy.runtime.robot_profile import DEFAULT_PROFILE, Limits, RobotProfile
from deploy.sim_bridge import make_sim_runtime
from tests.runtime_helpers import SHIPPED_POLICY, hover_policy
from training.config import TrainConfig, default_config_path
from training.evaluation import evaluate, policy_factory
from training.export import export
from training.train import train

SEED = 0


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


def _fly(policy, episode, steps, profile):
    runtime, bridge = make_sim_runtime(policy, profile, seed=SEED)
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


def _compare(policy, episode, profile):
    report, traj = evaluate(
        policy_factory(str(policy)),
        "parity",
        episodes=1,
        seed=SEED,
        episode_indices=[episode],
        record_episodes=1,
        progress=False,
    )
    eval_pos, eval_act = traj.pos_m[0], np.clip(traj.action[0], -1.0, 1.0)
    flown = ~np.isnan(eval_pos[:, 0])  # evaluation marks steps after a crash as NaN
    pos, act, src = _fly(policy, episode, len(eval_pos), profile)
    running = np.cumprod([s == "policy" for s in src]).astype(bool)
    compared = flown & running
    assert np.array_equal(pos[compared], eval_pos[compared])
    assert np.array_equal(act[compared], eval_act[compared])
    return report["per_episode"][0], int(compared.sum()), int(flown.sum())


def test_runtime_flies_the_same_trajectory_as_eval(fixture_policy):
    profile = RobotProfile.from_yaml(DEFAULT_PROFILE)  # as shipped: limits and rate limits on
    episode, compared, flown = _compare(fixture_policy, 0, profile)
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


@pytest.mark.parametrize("episode", [0, 3])
def test_runtime_flies_a_trained_and_exported_mlp_like_eval(trained_policy, episode):
    _, compared, flown = _compare(
        trained_policy, episode, _unlimited(RobotProfile.from_yaml(DEFAULT_PROFILE))
    )
    assert compared == flown > 0


@pytest.mark.skipif(
    not SHIPPED_POLICY.exists(),
    reason=f"{SHIPPED_POLICY} is absent: produce it with `tether train` + `tether export`",
)
@pytest.mark.parametrize("episode", [0, 1, 2])
def test_runtime_flies_the_shipped_policy_like_eval(episode):
    _, compared, flown = _compare(
        SHIPPED_POLICY, episode, _unlimited(RobotProfile.from_yaml(DEFAULT_PROFILE))
    )
    assert compared == flown > 0
