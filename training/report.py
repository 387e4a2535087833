"""Report artefacts people would rather look at than read: plots and rendered frames."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from training.evaluation import Controller, Trajectories


def plot_trajectories(runs: dict[str, Trajectories], path: Path, episodes: int = 4) -> Path:
    """Top view and altitude over time of the first episodes, one column per controller."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(runs), figsize=(5.2 * len(runs), 8.5), squeeze=False)
    for col, (name, t) in enumerate(runs.items()):
        top, alt = axes[0, col], axes[1, col]
        for k in range(min(episodes, len(t.episode_index))):
            line = top.plot(
                t.pos_m[k, :, 0], t.pos_m[k, :, 1], lw=1.2, label=f"episode {t.episode_index[k]}"
            )[0]
            top.plot(*t.pos_m[k, 0, :2], "o", color=line.get_color(), ms=4)
            alt.plot(t.time_s[k], t.pos_m[k, :, 2], lw=1.2, color=line.get_color())
        top.plot(t.target_pos_m[0, :, 0], t.target_pos_m[0, :, 1], "k--", lw=1, label="target")
        alt.plot(t.time_s[0], t.target_pos_m[0, :, 2], "k--", lw=1, label="target")
        top.set(title=f"{name}: top view (○ start)", xlabel="x (m)", ylabel="y (m)", aspect="equal")
        alt.set(title=f"{name}: altitude", xlabel="time (s)", ylabel="z (m)")
        top.legend(fontsize=7)
        top.grid(alpha=0.3)
        alt.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_position_error(runs: dict[str, Trajectories], path: Path, success_m: float = 0.05) -> Path:
    """Position error over time: median and 5–95 % band over the recorded episodes, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, t in runs.items():
        err = np.maximum(t.pos_err_m, 1e-4)  # NaN after a crash: the band covers the episodes still flying
        time_s = t.time_s[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # columns where every episode has crashed
            med = np.nanmedian(err, axis=0)
            lo, hi = np.nanpercentile(err, 5, axis=0), np.nanpercentile(err, 95, axis=0)
        line = ax.plot(time_s, med, lw=1.8, label=f"{name} (median of {len(err)})")[0]
        ax.fill_between(
            time_s,
            lo,
            hi,
            color=line.get_color(),
            alpha=0.2,
        )
    ax.axhline(success_m, color="k", ls="--", lw=1, label=f"success threshold {success_m * 100:.0f} cm")
    ax.set(
        yscale="log",
        xlabel="time (s)",
        ylabel="position error (m)",
        title="Position error over time (band: 5–95 %)",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _walk_caption(env: object, t_s: float) -> str:
    """Commanded against measured body velocity of environment 0, for a quadruped frame."""
    from deploy.rotations import rotate_world_to_body

    state = env.engine.state()  # type: ignore[attr-defined]
    v = rotate_world_to_body(state.base_quat_wxyz, state.base_lin_vel_m_s)[0]
    cmd = env.current_command()[0]  # type: ignore[attr-defined]
    return (
        f"t = {t_s:.1f} s\ncmd vx {cmd[0]:+.2f} vy {cmd[1]:+.2f} m/s, yaw {cmd[2]:+.2f} rad/s\n"
        f"now vx {v[0]:+.2f} vy {v[1]:+.2f} m/s, yaw {state.base_ang_vel_rad_s[0, 2]:+.2f} rad/s"
    )


def render_episode_strip(
    make_env: Callable[[], object],
    controller: Controller,
    episode_index: int,
    path: Path,
    frames: int = 6,
) -> Path | str:
    """Fly one episode in MuJoCo and render `frames` evenly spaced images side by side.

    The flight runs here; the images are drawn in a child process
    (training.render_frames) because MuJoCo picks its OpenGL backend when it
    is first imported: the child tries EGL, then OSMesa. Returns the PNG path,
    or a message saying why offscreen rendering is unavailable.
    """
    env = make_env()
    walking = hasattr(env, "current_command")  # quadruped-walk: captions show command and velocity
    try:
        obs, _ = env.reset(seed=env.seed, options={"episode_indices": [episode_index]})
        controller.reset(None)
        steps = env.config.episode_steps
        keep = set(np.linspace(0, steps, frames).round().astype(int).tolist())
        states, times, captions = [], [], []
        for k in range(steps + 1):
            if k in keep:
                states.append(env.engine.physics_state(0))
                times.append(k * env.config.control_dt_s)
                if walking:
                    captions.append(_walk_caption(env, k * env.config.control_dt_s))
            if k < steps and not env.finished[0]:
                obs, *_ = env.step(controller.act(env.robot_state(), obs))
        params = env.samples[0].params
        physics_dt_s = env.config.physics_dt_s
        scene_data: dict = {
            "params": params.to_dict(),
            "physics_dt_s": physics_dt_s,
            "states": np.asarray(states).tolist(),
            "times_s": times,
        }
        if walking:
            scene_data.update(robot="quadruped", captions=captions)
        else:
            scene_data["target_pos_m"] = np.asarray(env.config.target_pos_m).tolist()
    finally:
        env.close()
    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / "scene.json"
        scene.write_text(json.dumps(scene_data))
        errors = []
        for backend in ("egl", "osmesa"):
            env_vars = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
            r = subprocess.run(
                [sys.executable, "-m", "training.render_frames", str(scene), str(path)],
                env=env_vars,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if r.returncode == 0:
                return path
            errors.append(f"{backend}: {(r.stderr.strip().splitlines() or ['failed'])[-1]}")
    return (
        "offscreen rendering unavailable (" + "; ".join(errors) + "); on Debian install "
        "libegl1 libegl-mesa0 libgl1-mesa-dri (EGL) or libosmesa6 (OSMesa)"
    )
