"""The batched MuJoCo engine: per-environment vehicles, determinism, batch = single."""

import numpy as np
import pytest

from sim.engines.base import substeps_per_control
from sim.engines.mujoco_engine import MujocoQuadrotorEngine
from sim.robots.quadrotor import load_preset
from sim.robots.quadrotor_mujoco import apply_params, build_model
from tests.conftest import make_state


def _run(params_list, commands, nthread=None):
    n = len(params_list)
    with MujocoQuadrotorEngine(params_list, 0.01, 0.005, nthread=nthread) as eng:
        eng.reset(np.arange(n), params_list, make_state(n, quat=(0.99, 0.1, 0.05, 0.0)), 0.6)
        for c in commands:
            eng.step(c)
        return eng.state()


def test_each_environment_flies_its_own_vehicle():
    light = load_preset("crazyflie_2_1")
    heavy = light.with_changes(mass_kg=0.035)
    cmd = np.full((2, 4), light.hover_command)
    s = _run([light, heavy], [cmd] * 50)
    assert s.base_pos_m[0, 2] > s.base_pos_m[1, 2] + 0.05


def test_batched_step_equals_single_environment_steps():
    p = load_preset("crazyflie_2_1")
    rng = np.random.default_rng(3)
    cmds = [rng.uniform(0.55, 0.75, size=(8, 4)) for _ in range(30)]
    batched = _run([p] * 8, cmds, nthread=2)
    for i in (0, 5):
        single = _run([p], [c[i : i + 1] for c in cmds], nthread=1)
        assert np.array_equal(batched.base_pos_m[i], single.base_pos_m[0])
        assert np.array_equal(batched.base_quat_wxyz[i], single.base_quat_wxyz[0])


def test_repeated_runs_are_bitwise_identical():
    p = load_preset("x500")
    rng = np.random.default_rng(1)
    cmds = [rng.uniform(0.6, 0.9, size=(16, 4)) for _ in range(20)]
    a, b = _run([p] * 16, cmds), _run([p] * 16, cmds)
    assert np.array_equal(a.base_pos_m, b.base_pos_m) and np.array_equal(
        a.base_ang_vel_rad_s, b.base_ang_vel_rad_s
    )


def test_apply_params_equals_rebuilding_the_model():
    nominal = load_preset("crazyflie_2_1")
    other = load_preset("x500")
    model = build_model(nominal, 0.005)
    apply_params(model, other)
    ref = build_model(other, 0.005)
    for field in (
        "body_mass",
        "body_inertia",
        "site_pos",
        "actuator_gear",
        "geom_size",
        "geom_pos",
        "body_ipos",
    ):
        assert np.allclose(getattr(model, field), getattr(ref, field)), field


def test_external_force_accelerates_the_vehicle():
    p = load_preset("crazyflie_2_1")
    with MujocoQuadrotorEngine([p], 0.01, 0.005) as eng:
        eng.reset(np.arange(1), [p], make_state(1), p.hover_command)
        eng.set_external_wrench(np.array([[p.mass_kg * 1.0, 0, 0]]), np.zeros((1, 3)))
        for _ in range(100):
            eng.step(np.full((1, 4), p.hover_command))
        s = eng.state()
    assert s.base_lin_vel_m_s[0, 0] == pytest.approx(1.0, rel=1e-3)


def test_rates_must_divide_evenly():
    assert substeps_per_control(0.01, 0.005) == 2
    with pytest.raises(ValueError, match="whole multiple"):
        substeps_per_control(0.01, 0.003)


def test_wrong_command_shape_is_refused():
    p = load_preset("crazyflie_2_1")
    with MujocoQuadrotorEngine([p, p], 0.01, 0.005) as eng, pytest.raises(ValueError, match="shape"):
        eng.step(np.zeros((1, 4)))
