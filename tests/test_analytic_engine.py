"""The analytic training engine flies the same trajectories as MuJoCo.

Both integrate the same rigid-body equations with RK4 at the same step, fed
by the same rotor model (RotorBank), so they may differ only in rounding and
in how each keeps the quaternion on the unit sphere: over these 1 s flights
the measured maxima are 2e-8 m, 4e-8 rad, 2e-7 m/s and 3e-7 rad/s. The
tolerances below are 1e-5 in every unit: three orders of magnitude tighter
than the MuJoCo–PyBullet agreement, and far below any modelling error (a 1 %
mass error alone moves the vehicle by ~5 cm in 1 s).

Contact: the analytic engine has no contact dynamics; it reports contact
when its collision geometry crosses z = 0, read (like MuJoCo's contact
sensor) at the start of each physics substep.
"""

import numpy as np
import pytest

from sim.engines.analytic_engine import AnalyticQuadrotorEngine
from sim.engines.mujoco_engine import MujocoQuadrotorEngine
from sim.robots.quadrotor import load_preset
from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
from tests.conftest import make_state
from tests.test_engine_agreement import (
    INITIAL_STATES,
    PHYSICS_DT_S,
    SEQUENCES,
    command_sequence,
    differences,
    fly,
)

TOLERANCE = {"pos": 1e-5, "att": 1e-5, "vel": 1e-5, "rate": 1e-5}


@pytest.mark.parametrize("preset", ["crazyflie_2_1", "x500"])
@pytest.mark.parametrize("initial", sorted(INITIAL_STATES))
@pytest.mark.parametrize("sequence", SEQUENCES)
def test_analytic_engine_matches_mujoco_open_loop(preset, initial, sequence):
    p = load_preset(preset)
    cmd = command_sequence(p, sequence)
    state = INITIAL_STATES[initial]
    err = differences(
        fly(MujocoQuadrotorEngine, p, cmd, state, PHYSICS_DT_S),
        fly(AnalyticQuadrotorEngine, p, cmd, state, PHYSICS_DT_S),
    )
    assert all(err[k] <= TOLERANCE[k] for k in TOLERANCE), f"differences {err} exceed {TOLERANCE}"


def _fly_with_wrench(engine_cls, force_n, torque_nm) -> np.ndarray:
    p = load_preset("crazyflie_2_1")
    with engine_cls([p], 0.01, PHYSICS_DT_S) as eng:
        eng.reset(np.arange(1), [p], make_state(1, pos=(0.0, 0.0, 10.0)), p.hover_command)
        eng.set_external_wrench(np.array([force_n]), np.array([torque_nm]))
        for _ in range(50):
            eng.step(np.full((1, 4), p.hover_command))
        s = eng.state()
        return np.concatenate([s.base_pos_m[0], s.base_ang_vel_rad_s[0]])


def test_external_wrench_acts_like_in_mujoco():
    force, torque = (0.02, -0.01, 0.005), (2e-5, -1e-5, 3e-5)
    a = _fly_with_wrench(MujocoQuadrotorEngine, force, torque)
    b = _fly_with_wrench(AnalyticQuadrotorEngine, force, torque)
    assert np.abs(a[:3]).max() > 0.05  # the disturbance visibly moved the vehicle
    np.testing.assert_allclose(a, b, atol=1e-5)


def _steps_until_contact(engine_cls, quat) -> int:
    p = load_preset("crazyflie_2_1")
    with engine_cls([p], 0.01, PHYSICS_DT_S) as eng:
        eng.reset(np.arange(1), [p], make_state(1, pos=(0.0, 0.0, 0.3), quat=quat), 0.0)
        for k in range(100):
            eng.step(np.zeros((1, 4)))  # motors off: free fall
            if eng.ground_contact()[0]:
                return k
    raise AssertionError("the falling vehicle never touched the ground")


@pytest.mark.parametrize("tilt_rad", [0.0, 0.6, 1.4])
def test_ground_contact_is_reported_in_the_same_control_step_as_mujoco(tilt_rad):
    """Falling level or tilted (so a rotor disc or a box corner touches first)."""
    quat = (np.cos(tilt_rad / 2), np.sin(tilt_rad / 2), 0.0, 0.0)
    assert _steps_until_contact(AnalyticQuadrotorEngine, quat) == _steps_until_contact(
        MujocoQuadrotorEngine, quat
    )


def test_hover_task_runs_on_the_analytic_engine():
    env = QuadrotorHoverEnv(8, engine="analytic", seed=3)
    try:
        obs, _ = env.reset(seed=3)
        obs2, reward, crashed, truncated, _ = env.step(np.zeros((8, 4)))
        assert obs2.shape == obs.shape and np.all(np.isfinite(obs2)) and np.all(np.isfinite(reward))
    finally:
        env.close()
