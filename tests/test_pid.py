"""The PID baseline flies the randomized hover task."""

import numpy as np

from deploy.pid import QuadrotorPid
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
