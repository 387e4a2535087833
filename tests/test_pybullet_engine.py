"""The PyBullet engine: physics sanity, the vehicle it builds, batching and determinism.

PyBullet integrates with semi-implicit Euler (v += a·h, then x += v·h), so
free-fall checks compare against that scheme's closed form, which it must
match to rounding; MuJoCo's RK4 is compared in tests/test_engine_agreement.py.
"""

import numpy as np
import pybullet as pb
import pytest

from deploy.rotations import quat_from_axis_angle, rotate_world_to_body
from sim.engines import pybullet_engine
from sim.engines.pybullet_engine import PybulletQuadrotorEngine, throughput
from sim.robots.quadrotor import GRAVITY_M_S2, available_presets, load_preset
from sim.robots.quadrotor_mujoco import ROTOR_DISC_HALF_HEIGHT_M, build_model
from tests.conftest import make_state
from training.evaluation import evaluate, pid_factory

CONTROL_DT_S = 0.01
PHYSICS_DT_S = 0.005


def _engine(params, command, n=1, **state):
    eng = PybulletQuadrotorEngine([params] * n, CONTROL_DT_S, PHYSICS_DT_S)
    eng.reset(np.arange(n), [params] * n, make_state(n, **state), command)
    return eng


def _fly(eng, command, steps):
    cmd = np.broadcast_to(np.asarray(command, dtype=float), (eng.num_envs, 4))
    for _ in range(steps):
        eng.step(cmd)
    return eng.state()


# -- physics sanity --------------------------------------------------------------


@pytest.mark.parametrize("preset", available_presets())
def test_hover_command_holds_altitude_for_one_second(preset):
    p = load_preset(preset)
    with _engine(p, p.hover_command) as eng:
        s = _fly(eng, p.hover_command, 100)
    # Thrust cancels gravity exactly: no net force, so no integration error either.
    assert abs(s.base_pos_m[0, 2] - 2.0) < 1e-9
    assert np.allclose(s.base_pos_m[0, :2], 0.0, atol=1e-9)
    assert s.time_s[0] == pytest.approx(1.0)


def test_zero_thrust_falls_with_gravity_and_no_damping():
    p = load_preset("crazyflie_2_1")
    with _engine(p, 0.0) as eng:
        s = _fly(eng, 0.0, 50)
    n, h = 100, PHYSICS_DT_S  # substeps, substep length
    # Semi-implicit Euler: v_n = −g n h, z_n = z_0 − g h² n(n+1)/2 (exact ½ g t² plus ½ g t h).
    assert s.base_lin_vel_m_s[0, 2] == pytest.approx(-GRAVITY_M_S2 * n * h, abs=1e-9)
    assert s.base_pos_m[0, 2] == pytest.approx(2.0 - GRAVITY_M_S2 * h**2 * n * (n + 1) / 2, abs=1e-9)


def test_free_flight_is_undamped():
    p = load_preset("x500")
    with _engine(p, p.hover_command, vel=(1.0, -0.5, 0.0), omega=(0.0, 0.0, 2.0)) as eng:
        s = _fly(eng, p.hover_command, 100)
    assert np.allclose(s.base_lin_vel_m_s[0], [1.0, -0.5, 0.0], atol=1e-9)
    assert np.allclose(s.base_ang_vel_rad_s[0], [0.0, 0.0, 2.0], atol=1e-9)


@pytest.mark.parametrize("preset", available_presets())
def test_ground_contact_is_reported_where_the_body_meets_the_ground(preset):
    p = load_preset(preset)
    half_height_m = p.body_half_extents_m[2]  # the box reaches lower than the rotor discs
    with _engine(p, 0.0) as eng:
        contact, z = [], []
        for _ in range(150):
            eng.step(np.zeros((1, 4)))
            contact.append(eng.ground_contact()[0])
            z.append(eng.state().base_pos_m[0, 2])
    first = contact.index(True)
    assert not any(contact[:first]) and all(contact[-20:])
    # First reported in the control step in which the box bottom reaches the ground (or the next:
    # contacts are found at the start of a substep, before it moves).
    expected = next(k for k, zk in enumerate(z) if zk - half_height_m <= 0.0)
    assert expected <= first <= expected + 1
    assert z[-1] == pytest.approx(half_height_m, abs=1e-3)  # resting on its box


def test_ground_contact_is_reported_for_the_right_environment():
    p = load_preset("crazyflie_2_1")
    with _engine(p, p.hover_command, n=3) as eng:
        cmd = np.full((3, 4), p.hover_command)
        cmd[1] = 0.0  # only environment 1 falls
        seen = np.zeros(3, dtype=bool)
        for _ in range(80):
            eng.step(cmd)
            seen |= eng.ground_contact()
    assert seen.tolist() == [False, True, False]


@pytest.mark.parametrize("preset", available_presets())
def test_yaw_torque_turns_the_right_way(preset):
    """More thrust on the clockwise rotors (spin −1) twists the body counter-clockwise (+z)."""
    p = load_preset(preset)
    spins = np.asarray(p.rotor_spin_directions)
    cmd = np.where(spins < 0, p.hover_command + 0.05, p.hover_command - 0.05)
    with _engine(p, p.hover_command) as eng:
        s = _fly(eng, cmd, 20)
    assert s.base_ang_vel_rad_s[0, 2] > 0.1
    assert np.allclose(s.base_ang_vel_rad_s[0, :2], 0.0, atol=1e-9)


def test_roll_torque_follows_the_rotor_positions():
    """More thrust on the left rotors (+y) rolls the body right side down: +x body rate."""
    p = load_preset("crazyflie_2_1")
    left = p.rotor_positions_m[:, 1] > 0
    cmd = np.where(left, p.hover_command + 0.02, p.hover_command - 0.02)
    with _engine(p, p.hover_command) as eng:
        s = _fly(eng, cmd, 5)
    assert s.base_ang_vel_rad_s[0, 0] > 0.1
    assert np.allclose(s.base_ang_vel_rad_s[0, 1:], 0.0, atol=1e-9)


@pytest.mark.parametrize("preset", available_presets())
def test_full_throttle_acceleration_matches_thrust_to_weight(preset):
    p = load_preset(preset)
    with _engine(p, 1.0) as eng:
        s0 = eng.state()
        s = _fly(eng, 1.0, 10)
    acc = (s.base_lin_vel_m_s[0, 2] - s0.base_lin_vel_m_s[0, 2]) / 0.1
    assert acc == pytest.approx((p.thrust_to_weight - 1.0) * GRAVITY_M_S2, rel=1e-9)


def test_motor_lag_is_the_shared_rotor_bank():
    p = load_preset("x500")
    with _engine(p, 0.0) as eng:
        eng.step(np.ones((1, 4)))
        rise = eng.rotor_speeds_rad_s[0] / p.max_rotor_speed_rad_s
    assert np.allclose(rise, 1 - np.exp(-CONTROL_DT_S / p.motor_time_constant_rise_s), rtol=1e-9)


def test_external_force_accelerates_without_turning():
    p = load_preset("crazyflie_2_1")
    yawed = tuple(quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), 1.0))
    with _engine(p, p.hover_command, quat=yawed) as eng:
        eng.set_external_wrench(np.array([[p.mass_kg * 1.0, 0, 0]]), np.zeros((1, 3)))
        s = _fly(eng, p.hover_command, 100)
    assert s.base_lin_vel_m_s[0] == pytest.approx([1.0, 0.0, 0.0], abs=1e-9)  # world x, at the c.o.m.
    assert np.allclose(s.base_ang_vel_rad_s[0], 0.0, atol=1e-9)


def test_external_torque_is_in_the_world_frame():
    p = load_preset("crazyflie_2_1")
    rolled = quat_from_axis_angle(np.array([1.0, 0.0, 0.0]), np.pi / 2)  # body y points up
    torque_nm = 1e-6
    with _engine(p, 0.0, pos=(0.0, 0.0, 10.0), quat=tuple(rolled)) as eng:
        eng.set_external_wrench(np.zeros((1, 3)), np.array([[0.0, 0.0, torque_nm]]))
        s = _fly(eng, 0.0, 1)
    spin = torque_nm * CONTROL_DT_S / p.inertia_kg_m2[1]  # about world z = body y
    expected = rotate_world_to_body(s.base_quat_wxyz[0], np.array([0.0, 0.0, spin]))
    assert np.allclose(s.base_ang_vel_rad_s[0], expected, rtol=1e-9, atol=1e-12)
    assert expected[1] == pytest.approx(spin, rel=1e-3)


def test_reset_takes_body_rates_and_reports_them_back():
    p = load_preset("x500")
    q = quat_from_axis_angle(np.array([1.0, -2.0, 0.5]), 0.8)
    with _engine(p, p.hover_command, quat=tuple(q), vel=(0.3, 0.2, -0.1), omega=(0.5, -1.0, 2.0)) as eng:
        s = eng.state()
    assert np.allclose(s.base_quat_wxyz[0], q, atol=1e-12)
    assert np.allclose(s.base_lin_vel_m_s[0], [0.3, 0.2, -0.1], atol=1e-12)
    assert np.allclose(s.base_ang_vel_rad_s[0], [0.5, -1.0, 2.0], atol=1e-12)
    assert np.allclose(s.base_pos_m[0], [0.0, 0.0, 2.0], atol=1e-12)  # not the lattice offset


# -- the vehicle -------------------------------------------------------------------


@pytest.mark.parametrize("preset", available_presets())
def test_vehicle_has_the_parameters_and_the_mujoco_collision_geometry(preset):
    p = load_preset(preset)
    model = build_model(p, PHYSICS_DT_S)
    with _engine(p, 0.0) as eng:
        body, c = eng._bodies[0], eng._client
        mass, _, inertia, com = pb.getDynamicsInfo(body, -1, physicsClientId=c)[:4]
        shapes = pb.getCollisionShapeData(body, -1, physicsClientId=c)
    assert mass == p.mass_kg and np.allclose(inertia, p.inertia_kg_m2, rtol=1e-12)
    assert np.allclose(com, 0.0)
    box, discs = shapes[0], shapes[1:]
    assert box[2] == pb.GEOM_BOX and np.allclose(np.asarray(box[3]) / 2, model.geom("body").size)
    assert len(discs) == p.num_motors
    for i, d in enumerate(discs):
        g = model.geom(f"rotor_{i}")
        assert d[2] == pb.GEOM_CYLINDER
        assert d[3][1] == pytest.approx(g.size[0]) and d[3][0] == pytest.approx(2 * ROTOR_DISC_HALF_HEIGHT_M)
        assert np.allclose(d[5], g.pos, atol=1e-12)


def test_each_environment_flies_its_own_vehicle():
    light = load_preset("crazyflie_2_1")
    heavy = light.with_changes(mass_kg=0.035)
    with PybulletQuadrotorEngine([light, heavy], CONTROL_DT_S, PHYSICS_DT_S) as eng:
        eng.reset(np.arange(2), [light, heavy], make_state(2), light.hover_command)
        s = _fly(eng, light.hover_command, 50)
        masses = [pb.getDynamicsInfo(b, -1, physicsClientId=eng._client)[0] for b in eng._bodies]
    assert masses == [light.mass_kg, heavy.mass_kg]
    assert s.base_pos_m[0, 2] == pytest.approx(2.0, abs=1e-9)
    assert s.base_pos_m[1, 2] < 2.0 - 0.05


def test_reset_with_new_geometry_rebuilds_only_that_vehicle():
    p = load_preset("crazyflie_2_1")
    wide = p.with_changes(arm_length_m=0.05)
    with _engine(p, p.hover_command, n=2) as eng:
        before = list(eng._bodies)
        eng.reset(np.array([1]), [wide], make_state(1), wide.hover_command)
        lo, hi = pb.getAABB(eng._bodies[1], physicsClientId=eng._client)
        s = _fly(eng, [[p.hover_command] * 4, [wide.hover_command] * 4], 10)
    assert eng._bodies[0] == before[0]
    assert hi[0] - lo[0] == pytest.approx(2 * (0.05 * np.cos(np.pi / 4) + p.rotor_radius_m))
    assert np.allclose(s.base_pos_m[:, 2], 2.0, atol=1e-9)


def test_rebuilding_the_world_keeps_every_vehicle_where_it_was(monkeypatch):
    """After many rebuilt vehicles the engine starts a fresh world; flights must not notice
    (beyond rounding: PyBullet stores the base angular velocity in the body frame, so writing
    back the world-frame value it reported rounds it once)."""
    p = load_preset("crazyflie_2_1")
    rng = np.random.default_rng(0)
    cmds = rng.uniform(0.6, 0.75, size=(20, 3, 4))
    tilted = dict(quat=(0.99, 0.1, 0.05, 0.0), omega=(0.5, -0.3, 0.2))

    def run(compact_after):
        monkeypatch.setattr(pybullet_engine, "COMPACT_AFTER_REMOVALS", compact_after)
        with _engine(p, 0.6, n=3, **tilted) as eng:
            for k, c in enumerate(cmds):
                if k % 5 == 4:  # env 2 gets a new vehicle shape; 0 and 1 fly on
                    q = p.with_changes(arm_length_m=0.04 + 0.001 * k)
                    eng.reset(np.array([2]), [q], make_state(1), 0.6)
                eng.step(c)
            return eng.state(), eng._builder.removed

    (kept, removed_kept), (fresh, removed_fresh) = run(10**9), run(1)
    assert removed_kept == 4 and removed_fresh < removed_kept  # the world was rebuilt
    assert np.allclose(kept.base_pos_m, fresh.base_pos_m, rtol=0, atol=1e-12)
    assert np.allclose(kept.base_ang_vel_rad_s, fresh.base_ang_vel_rad_s, rtol=0, atol=1e-12)


# -- batching and determinism ------------------------------------------------------


def _run(params_list, commands):
    n = len(params_list)
    with PybulletQuadrotorEngine(params_list, CONTROL_DT_S, PHYSICS_DT_S) as eng:
        eng.reset(np.arange(n), params_list, make_state(n, quat=(0.99, 0.1, 0.05, 0.0)), 0.6)
        for c in commands:
            eng.step(c)
        return eng.state()


def test_repeated_runs_are_bitwise_identical():
    p = load_preset("x500")
    rng = np.random.default_rng(1)
    cmds = [rng.uniform(0.6, 0.9, size=(16, 4)) for _ in range(20)]
    a, b = _run([p] * 16, cmds), _run([p] * 16, cmds)
    assert np.array_equal(a.base_pos_m, b.base_pos_m)
    assert np.array_equal(a.base_ang_vel_rad_s, b.base_ang_vel_rad_s)


def test_batched_step_matches_single_environment_steps():
    """Environments share one PyBullet world but not their physics; only the lattice offset
    (a different float rounding of world positions) separates a batch from single runs."""
    p = load_preset("crazyflie_2_1")
    rng = np.random.default_rng(3)
    cmds = [rng.uniform(0.55, 0.75, size=(8, 4)) for _ in range(30)]
    batched = _run([p] * 8, cmds)
    for i in (0, 5):
        single = _run([p], [c[i : i + 1] for c in cmds])
        assert np.allclose(batched.base_pos_m[i], single.base_pos_m[0], rtol=0, atol=1e-9)
        assert np.allclose(batched.base_quat_wxyz[i], single.base_quat_wxyz[0], rtol=0, atol=1e-9)


def test_vehicles_of_different_environments_never_collide():
    p = load_preset("x500")
    with PybulletQuadrotorEngine([p] * 2, CONTROL_DT_S, PHYSICS_DT_S) as eng:
        eng._offset[:] = 0.0  # both vehicles in the same place
        eng.reset(np.arange(2), [p] * 2, make_state(2), p.hover_command)
        s = _fly(eng, p.hover_command, 20)
    assert np.allclose(s.base_pos_m, [[0.0, 0.0, 2.0]] * 2, atol=1e-9)
    assert not eng.ground_contact().any()


def test_wrong_shapes_are_refused():
    p = load_preset("crazyflie_2_1")
    with PybulletQuadrotorEngine([p, p], CONTROL_DT_S, PHYSICS_DT_S) as eng:
        with pytest.raises(ValueError, match="shape"):
            eng.step(np.zeros((1, 4)))
        with pytest.raises(ValueError, match="one of each per environment"):
            eng.reset(np.arange(2), [p], make_state(2))


def test_throughput_reports_env_steps_per_second():
    assert throughput(load_preset("crazyflie_2_1"), 2, CONTROL_DT_S, PHYSICS_DT_S, seconds=0.05) > 0


# -- the task on PyBullet ------------------------------------------------------------


def test_pid_baseline_reaches_the_gate_in_pybullet():
    """The PID baseline succeeds on ≥ 95 % of 200 randomized episodes in PyBullet."""
    report, _ = evaluate(
        pid_factory, "pid", engine="pybullet", episodes=200, seed=0, randomize=True, progress=False
    )
    assert report["episodes"] == 200
    assert report["success_rate"] >= 0.95, report["success_rate"]
