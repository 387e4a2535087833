"""Physics sanity of the MuJoCo quadrotor built from its parameter set."""

import numpy as np
import pytest

from sim.engines.mujoco_engine import MujocoQuadrotorEngine
from sim.robots.quadrotor import GRAVITY_M_S2, available_presets, load_preset
from tests.conftest import make_state

CONTROL_DT_S = 0.01
PHYSICS_DT_S = 0.005


def _engine(params, command):
    eng = MujocoQuadrotorEngine([params], CONTROL_DT_S, PHYSICS_DT_S, nthread=1)
    eng.reset(np.arange(1), [params], make_state(1), command)
    return eng


def _fly(eng, command, steps):
    cmd = np.broadcast_to(np.asarray(command, dtype=float), (1, 4))
    for _ in range(steps):
        eng.step(cmd)
    return eng.state()


@pytest.mark.parametrize("preset", available_presets())
def test_hover_command_holds_altitude_for_one_second(preset):
    p = load_preset(preset)
    with _engine(p, p.hover_command) as eng:
        s = _fly(eng, p.hover_command, 100)
    # Exact hover thrust from the thrust curve: only integration error remains.
    assert abs(s.base_pos_m[0, 2] - 2.0) < 1e-3
    assert np.allclose(s.base_pos_m[0, :2], 0.0, atol=1e-6)
    assert s.time_s[0] == pytest.approx(1.0)


def test_zero_thrust_falls_with_gravity():
    p = load_preset("crazyflie_2_1")
    with _engine(p, 0.0) as eng:
        s = _fly(eng, 0.0, 50)
    t = 0.5
    assert s.base_pos_m[0, 2] == pytest.approx(2.0 - 0.5 * GRAVITY_M_S2 * t**2, abs=1e-4)
    assert s.base_lin_vel_m_s[0, 2] == pytest.approx(-GRAVITY_M_S2 * t, abs=1e-4)


def test_ground_contact_is_reported():
    p = load_preset("crazyflie_2_1")
    with _engine(p, 0.0) as eng:
        contact = []
        for _ in range(80):
            eng.step(np.zeros((1, 4)))
            contact.append(eng.ground_contact()[0])
    assert not contact[0] and contact[-1]


@pytest.mark.parametrize("preset", available_presets())
def test_yaw_torque_turns_the_right_way(preset):
    """More thrust on the clockwise rotors (spin −1) twists the body counter-clockwise (+z)."""
    p = load_preset(preset)
    spins = np.asarray(p.rotor_spin_directions)
    cmd = np.where(spins < 0, p.hover_command + 0.05, p.hover_command - 0.05)
    with _engine(p, p.hover_command) as eng:
        s = _fly(eng, cmd, 20)
    assert s.base_ang_vel_rad_s[0, 2] > 0.1
    assert np.allclose(s.base_ang_vel_rad_s[0, :2], 0.0, atol=1e-6)


def test_motor_step_follows_its_time_constants():
    """A command step moves the rotor speed by 1 − exp(−t/τ), with τ rise going up and τ fall going down."""
    p = load_preset("x500")
    w_max = p.max_rotor_speed_rad_s
    with _engine(p, 0.0) as eng:
        eng.step(np.ones((1, 4)))
        rise = eng.rotor_speeds_rad_s[0] / w_max
        for _ in range(30):
            eng.step(np.ones((1, 4)))
        eng.step(np.zeros((1, 4)))
        fall = eng.rotor_speeds_rad_s[0] / w_max
    assert np.allclose(rise, 1 - np.exp(-CONTROL_DT_S / p.motor_time_constant_rise_s), rtol=1e-9)
    assert np.allclose(fall, np.exp(-CONTROL_DT_S / p.motor_time_constant_fall_s), rtol=1e-3)


@pytest.mark.parametrize("preset", available_presets())
def test_full_throttle_acceleration_matches_thrust_to_weight(preset):
    p = load_preset(preset)
    with _engine(p, 1.0) as eng:
        s0 = eng.state()
        s = _fly(eng, 1.0, 10)
    acc = (s.base_lin_vel_m_s[0, 2] - s0.base_lin_vel_m_s[0, 2]) / 0.1
    assert acc == pytest.approx((p.thrust_to_weight - 1.0) * GRAVITY_M_S2, rel=1e-3)


def test_crazyflie_preset_matches_public_data():
    p = load_preset("crazyflie_2_1")
    assert p.mass_kg == 0.027 and p.arm_length_m == 0.0397
    assert p.thrust_coefficient_n_per_rpm2 == 3.16e-10 and p.torque_coefficient_nm_per_rpm2 == 7.94e-12
    assert p.max_total_thrust_n == pytest.approx(4 * 3.16e-10 * 21700**2)
    assert p.thrust_to_weight == pytest.approx(4 * 3.16e-10 * 21700**2 / (0.027 * GRAVITY_M_S2))
    assert 1.0 <= load_preset("x500").mass_kg <= 2.0
