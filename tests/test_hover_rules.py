"""The rules behind the headline metric, at their boundaries: what the hover task counts as a crash
(leaving the 5 m box, tilting past 90°, spinning faster than 100 rad/s, touching the ground) and as a
success (no crash and a mean error below 5 cm over the last 1 s).

The nominal vehicle is placed in a chosen state with its rotors at the hover command, which holds it
exactly still when level (checked below), so each rule is seen on the state it was placed in."""

import numpy as np
import pytest

from deploy.robot_state import RobotState
from deploy.rotations import quat_from_axis_angle
from sim.tasks.quadrotor_hover import HoverConfig, QuadrotorHoverEnv

CONFIG = HoverConfig.from_yaml()
TARGET = np.asarray(CONFIG.target_pos_m)
HALF_HEIGHT_M = float(CONFIG.nominal_params().body_half_extents_m[2])


def _placed(offset_m=(0.0, 0.0, 0.0), tilt_deg=0.0, body_rate_rad_s=(0.0, 0.0, 0.0), episode_length_s=None):
    config = CONFIG
    if episode_length_s is not None:
        config = HoverConfig.from_dict({**CONFIG.source, "episode_length_s": episode_length_s})
    env = QuadrotorHoverEnv(1, config=config, autoreset=False)
    env.reset()
    p = env.nominal
    state = RobotState(
        base_pos_m=(TARGET + np.asarray(offset_m))[None],
        base_quat_wxyz=quat_from_axis_angle(np.array([1.0, 0.0, 0.0]), np.deg2rad(tilt_deg))[None],
        base_lin_vel_m_s=np.zeros((1, 3)),
        base_ang_vel_rad_s=np.asarray(body_rate_rad_s, dtype=np.float64)[None],
        last_action=np.zeros((1, 0)),
        command=np.zeros((1, 0)),
    )
    env.engine.reset(np.array([0]), [p], state, np.full((1, p.num_motors), p.hover_command))
    return env, np.full((1, p.num_motors), 2.0 * p.hover_command - 1.0)


def _crashes_in_one_step(**placement) -> bool:
    env, hover = _placed(**placement)
    try:
        _, _, crashed, _, _ = env.step(hover)
        return bool(crashed[0])
    finally:
        env.close()


@pytest.mark.parametrize(
    "placement, crashed",
    [
        ({"offset_m": (4.99, 0.0, 0.0)}, False),
        ({"offset_m": (5.01, 0.0, 0.0)}, True),  # box half-size 5 m around the target
        ({"offset_m": (0.0, -5.01, 0.0)}, True),
        ({"tilt_deg": 89.0}, False),
        ({"tilt_deg": 91.0}, True),  # max tilt 90°
        ({"body_rate_rad_s": (0.0, 0.0, 99.0)}, False),
        ({"body_rate_rad_s": (0.0, 0.0, 101.0)}, True),  # max body rate 100 rad/s
        # the body's lowest point is its half-height (8 mm) below the centre: 0.5 mm clear, 0.5 mm in
        ({"offset_m": (0.0, 0.0, HALF_HEIGHT_M + 0.0005 - TARGET[2])}, False),
        ({"offset_m": (0.0, 0.0, HALF_HEIGHT_M - 0.0005 - TARGET[2])}, True),
    ],
    ids=lambda v: str(v) if not isinstance(v, bool) else ("crash" if v else "flying"),
)
def test_crash_rules_at_their_boundaries(placement, crashed):
    assert _crashes_in_one_step(**placement) is crashed


@pytest.mark.parametrize("offset_m, success", [(0.049, True), (0.051, False)])
def test_success_is_a_mean_error_below_5_cm_over_the_last_second(offset_m, success):
    env, hover = _placed(offset_m=(offset_m, 0.0, 0.0), episode_length_s=1.0)
    try:
        for _ in range(env.config.episode_steps):
            _, _, crashed, truncated, info = env.step(hover)
        assert truncated[0] and not crashed[0]
        episode = info["episode"]
        assert episode["final_pos_err_m"][0] == pytest.approx(offset_m, abs=1e-9)  # held exactly still
        assert bool(episode["success"][0]) is success
    finally:
        env.close()


FAR_M, NEAR_M = 4.5, 0.01  # one 4.5 m sample among 99 at 1 cm lifts the window's mean above 5 cm


@pytest.mark.parametrize(
    "far_steps, final_err_m, success",
    [
        (50, NEAR_M, True),  # the far samples end just before the last second: none counts
        (51, (FAR_M + 99 * NEAR_M) / 100, False),  # the last far sample is the window's first
    ],
)
def test_the_success_window_is_exactly_the_last_second(far_steps, final_err_m, success):
    # 1.5 s episode (150 control steps): far_steps samples 4.5 m off, then 1 cm off to the end.
    env, hover = _placed(offset_m=(FAR_M, 0.0, 0.0), episode_length_s=1.5)
    try:
        steps = env.config.episode_steps
        assert steps == 150 and int(round(CONFIG.success["window_s"] * CONFIG.control_rate_hz)) == 100
        near = RobotState(
            base_pos_m=(TARGET + [NEAR_M, 0.0, 0.0])[None],
            base_quat_wxyz=np.array([[1.0, 0.0, 0.0, 0.0]]),
            base_lin_vel_m_s=np.zeros((1, 3)),
            base_ang_vel_rad_s=np.zeros((1, 3)),
            last_action=np.zeros((1, 0)),
            command=np.zeros((1, 0)),
        )
        for k in range(steps):
            if k == far_steps:  # the vehicle is moved before step k: samples 0 … k-1 were far
                p = env.nominal
                env.engine.reset(np.array([0]), [p], near, np.full((1, p.num_motors), p.hover_command))
            _, _, crashed, truncated, info = env.step(hover)
        assert truncated[0] and not crashed[0]
        assert info["episode"]["final_pos_err_m"][0] == pytest.approx(final_err_m, abs=1e-9)
        assert bool(info["episode"]["success"][0]) is success
    finally:
        env.close()


def test_a_crash_is_never_a_success():
    env, hover = _placed(offset_m=(0.0, 0.0, 0.002 - TARGET[2]))  # on the ground, 2 m below the target
    try:
        _, _, crashed, _, info = env.step(hover)
        assert crashed[0] and not info["episode"]["success"][0]
    finally:
        env.close()


def test_a_config_with_an_unknown_reward_term_is_refused_naming_it():
    bad = {**CONFIG.source, "rewards": {**CONFIG.source["rewards"], "precison": 5.0}}
    with pytest.raises(ValueError, match=r"unknown reward terms \['precison'\]; known: .*precision"):
        HoverConfig.from_dict(bad)


@pytest.mark.parametrize("radius", [0.0, -0.01, "2 cm"])
def test_precision_radius_must_be_a_positive_length(radius):
    with pytest.raises(ValueError, match="precision_radius_m must be a positive number of metres"):
        HoverConfig.from_dict({**CONFIG.source, "precision_radius_m": radius})
