"""Figure-eight reference, tracking RMSE, and the report artefacts."""

import numpy as np

from sim.tasks.quadrotor_hover import HoverConfig
from training.evaluation import evaluate, pid_factory
from training.report import plot_position_error, plot_trajectories


def test_figure8_reaches_its_peak_speed_and_is_consistent():
    ref = HoverConfig.from_yaml().reference("figure8")
    t = np.linspace(0.0, 12.0, 24001)
    pos, vel = ref(t)
    assert abs(np.linalg.norm(vel, axis=1).max() - 2.0) < 1e-6
    # velocity is the derivative of position
    assert np.allclose(np.gradient(pos, t, axis=0)[1:-1], vel[1:-1], atol=1e-3)
    assert np.allclose(pos[0], HoverConfig.from_yaml().target_pos_m)


def test_figure8_eval_reports_tracking_rmse_and_plots(tmp_path):
    report, traj = evaluate(
        pid_factory, "pid", episodes=3, scenario="figure8", record_episodes=2, progress=False
    )
    assert report["scenario"] == "figure8" and report["tracking_rmse_m"] > 0.0
    hover, traj_h = evaluate(pid_factory, "pid", episodes=3, record_episodes=2, progress=False)
    assert hover["tracking_rmse_m"] < report["tracking_rmse_m"]
    assert traj.pos_m.shape == (2, 600, 3)
    runs = {"figure8": traj, "hover": traj_h}
    for path in (plot_trajectories(runs, tmp_path / "t.png"), plot_position_error(runs, tmp_path / "e.png")):
        assert path.stat().st_size > 10_000
