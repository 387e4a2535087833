"""The quadruped's velocity-tracking record and plot (`tether eval --task quadruped-walk --plot-tracking`)."""

import numpy as np
import pytest

from sim.tasks.quadruped_walk import QuadrupedWalkEnv, WalkConfig
from tether.cli import build_parser
from training.evaluation_quadruped import stand_factory
from training.walk_tracking import plot_velocity_tracking, record_tracking


def test_record_follows_the_episodes_command_schedule_and_measures_the_trunk(tmp_path):
    config = WalkConfig.from_yaml()
    record = record_tracking(stand_factory, episode_index=3, seed=5, randomize=False, config=config)
    steps = config.episode_steps
    assert record.time_s.shape == (steps,) and record.command.shape == record.measured.shape == (steps, 3)
    env = QuadrupedWalkEnv(1, config=config, randomization=None, seed=5, autoreset=False)
    env.reset(seed=5, options={"episode_indices": np.array([3])})
    schedule = env.command_schedule()[0]
    env.close()
    flown = ~np.isnan(record.command[:, 0])
    per_command = int(round(config.commands["resampling_interval_s"] * config.control_rate_hz))
    k = np.minimum(np.arange(steps) // per_command, len(schedule) - 1)
    np.testing.assert_array_equal(record.command[flown], schedule[k][flown])
    assert np.all(np.isfinite(record.measured[flown]))
    # The stand controller holds still: it does not follow a walking command.
    assert np.nanmax(np.abs(record.measured[flown, 0])) < 0.5 * np.nanmax(np.abs(record.command[flown, 0]))
    png = plot_velocity_tracking(record, tmp_path / "sub" / "tracking.png")
    assert png.stat().st_size > 20_000


def test_plot_tracking_is_refused_for_the_quadrotor(capsys):
    args = build_parser().parse_args(["eval", "--task", "quadrotor-hover", "--plot-tracking", "x.png"])
    assert args.func(args) == 2
    assert "--plot-tracking is for --task quadruped-walk" in capsys.readouterr().err


def test_render_strip_draws_six_captioned_frames_of_one_episode(tmp_path, capsys):
    out = tmp_path / "strip.png"
    args = build_parser().parse_args(
        ["eval", "--task", "quadruped-walk", "--controller", "stand", "--episodes", "1", "--randomize",
         "--render-strip", str(out), "--quiet"]
    )  # fmt: skip
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    if "no image strip: offscreen rendering unavailable" in printed:
        pytest.skip("no offscreen OpenGL here (EGL or OSMesa); the message says what to install")
    from PIL import Image

    with Image.open(out) as img:
        assert img.size == (6 * 320, 240)  # six frames, evenly spaced over the 20 s episode
        frames = np.asarray(img.convert("L")).reshape(240, 6, 320)
    assert frames.std() > 5.0  # rendered content, not a blank image


def test_render_strip_is_refused_for_the_quadrotor(capsys):
    args = build_parser().parse_args(["eval", "--render-strip", "x.png"])
    assert args.func(args) == 2
    assert "--render-strip is for --task quadruped-walk" in capsys.readouterr().err
