"""The PID baseline flies the randomized hover task."""

import dataclasses

import numpy as np

from deploy.pid import PidGains, QuadrotorPid
from sim.robots.quadrotor import load_preset
from tests.conftest import make_state
from training.evaluation import evaluate, pid_factory


def test_pid_succeeds_on_95_percent_of_100_randomized_episodes():
    report, _ = evaluate(pid_factory, "pid", episodes=100, seed=0, randomize=True, progress=False)
    assert report["episodes"] == 100
    assert report["success_rate"] >= 0.95, report["success_rate"]


def test_pid_output_is_finite_and_bounded_on_garbage_input():
    p = load_preset("crazyflie_2_1")
    pid = QuadrotorPid(p, 3, 0.01)
    s = make_state(3, command_size=6)
    s.base_pos_m[0] = np.nan
    s.base_ang_vel_rad_s[1] = 1e12
    s.base_quat_wxyz[2] = 0.0
    a = pid.act(s)
    assert np.all(np.isfinite(a)) and np.all(np.abs(a) <= 1.0)


def test_pid_commands_hover_at_the_target():
    p = load_preset("crazyflie_2_1")
    pid = QuadrotorPid(p, 1, 0.01)
    s = make_state(1, command_size=6)
    s.command[0, :3] = s.base_pos_m[0]
    a = pid.act(s)
    assert np.allclose((a + 1) / 2, p.hover_command, atol=1e-9)


def test_the_pid_written_as_an_onnx_policy_computes_the_pids_actions(tmp_path):
    # tests/pid_policy.py: the gate tests fly it as a policy that passes; it must be this PID.
    from deploy.observations import ObservationBuilder
    from deploy.policy_file import PolicyFile
    from deploy.robot_state import RobotState
    from deploy.rotations import quat_from_axis_angle, quat_multiply
    from sim.tasks.quadrotor_hover import HoverConfig
    from tests.pid_policy import pid_policy

    config = HoverConfig.from_yaml()
    contract, n = config.contract(), 64
    policy = PolicyFile(pid_policy(tmp_path / "pid.onnx", config))
    pid = QuadrotorPid(config.nominal_params(), n, contract.control_dt_s)
    builder = ObservationBuilder(contract, n)
    policy.reset(n)
    rng = np.random.default_rng(1)
    target = np.asarray(config.target_pos_m)
    for _ in range(5):  # the integrators carry over from step to step in both
        axis = rng.uniform(0.0, 2 * np.pi, n)
        tilt = quat_from_axis_angle(
            np.stack([np.cos(axis), np.sin(axis), np.zeros(n)], -1), rng.uniform(0, 1, n)
        )
        yaw = quat_from_axis_angle(np.tile([0.0, 0.0, 1.0], (n, 1)), rng.uniform(-np.pi, np.pi, n))
        state = RobotState(
            base_pos_m=target + rng.uniform(-2.0, 2.0, (n, 3)),
            base_quat_wxyz=quat_multiply(tilt, yaw),
            base_lin_vel_m_s=rng.uniform(-2.0, 2.0, (n, 3)),
            base_ang_vel_rad_s=rng.uniform(-5.0, 5.0, (n, 3)),
            last_action=rng.uniform(-1.0, 1.0, (n, 4)),
            command=np.tile(np.concatenate([target, np.zeros(3)]), (n, 1)),
        )
        expected = pid.act(state)
        assert np.abs(expected).max() == 1.0  # some motors saturate: the allocation's shift is exercised
        np.testing.assert_allclose(policy.run(builder.build(state)), expected, atol=2e-6)


def test_the_pids_small_helpers_compute_numpys_results_bit_for_bit():
    rng = np.random.default_rng(4)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 5e-324])
    with np.errstate(all="ignore"):  # overflows are part of what is compared
        _compare_helpers(rng, special)


def _compare_helpers(rng, special) -> None:
    from deploy.pid import _cross, _row_norm, _zero_nonfinite

    for n in (1, 3, 257):
        for _ in range(20):
            a = rng.standard_normal((n, 3)) * 10.0 ** rng.integers(-200, 200)
            b = rng.standard_normal((n, 3)) * 10.0 ** rng.integers(-200, 200)
            mask = rng.random((n, 3)) < 0.1
            a[mask] = rng.choice(special, mask.sum())
            assert _cross(a, b).tobytes() == np.cross(a, b).tobytes()
            assert _row_norm(a).tobytes() == np.linalg.norm(a, axis=1, keepdims=True).tobytes()
            assert _row_norm(a[:, :2]).tobytes() == np.linalg.norm(a[:, :2], axis=1, keepdims=True).tobytes()
            assert _zero_nonfinite(a).tobytes() == np.nan_to_num(a).tobytes()
            assert _zero_nonfinite(b).tobytes() == np.nan_to_num(b).tobytes()


def _random_states(rng, steps: int):
    """A sequence of random single-vehicle states: near hover mostly, now and then tumbling, far
    off, or with NaN / inf / zero-quaternion garbage (what the failsafe may be handed)."""
    for k in range(steps):
        q = np.array([1.0, *(rng.standard_normal(3) * 0.2)])
        if k % 7 == 3:
            q = rng.standard_normal(4)
        s = make_state(
            1,
            pos=rng.standard_normal(3) * (5.0 if k % 5 else 0.2),
            quat=q / np.linalg.norm(q),
            vel=rng.standard_normal(3),
            omega=rng.standard_normal(3) * 3.0,
            command_size=6,
        )
        s.command[0] = rng.standard_normal(6)
        if k % 11 == 5:
            s.base_pos_m[0, rng.integers(3)] = rng.choice([np.nan, np.inf, -np.inf])
        if k % 13 == 6:
            s.base_quat_wxyz[0] = 0.0
        yield s


def test_the_failsafes_float_pid_flies_the_batched_pids_law():
    from deploy.pid_one import OnePid

    p = load_preset("crazyflie_2_1")
    for yaw in ("hold", 0.3):
        gains = PidGains.from_yaml()
        if yaw != "hold":
            gains = dataclasses.replace(gains, yaw_setpoint_rad=yaw)
        batched, one = QuadrotorPid(p, 1, 0.01, gains), OnePid(p, 0.01, gains)
        rng = np.random.default_rng(5)
        nonfinite = 0
        for k, s in enumerate(_random_states(rng, 400)):
            if k == 200:  # integrators reset alike
                batched.reset()
                one.reset()
            with np.errstate(all="ignore"):  # garbage states overflow in both
                a, b = batched.act(s), one.act(s)
                c, d = batched.act_ctbr(s), one.act_ctbr(s)
            assert a.shape == b.shape == (1, p.num_motors)
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-9, err_msg=f"step {k}")
            np.testing.assert_allclose(d, c, rtol=0, atol=1e-9, err_msg=f"step {k}")
            if not np.all(np.isfinite(a)):  # a poisoned integrator in both: start both again
                nonfinite += 1
                batched.reset()
                one.reset()
        assert nonfinite < 60  # most steps compare finite commands
        assert np.allclose(batched._pos_int[0], one._pos_int, rtol=0, atol=1e-9)
        assert np.allclose(batched._rate_int[0], one._rate_int, rtol=0, atol=1e-9)
