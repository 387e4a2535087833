"""How well a quadruped controller tracks its velocity commands over one episode, as a plot.

Records the commanded (vx, vy, yaw rate) and the measured body-frame values
at every control step of one evaluation episode (same seed and episode index
as `tether eval`, so the vehicle, pushes and command schedule are the same),
and draws them on three panels with the settle window of each command shaded
(errors are counted only after it; see sim/tasks/quadruped_walk.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deploy.rotations import rotate_world_to_body
from sim.randomization.quadruped import QuadrupedRandomization
from sim.tasks.quadruped_walk import QuadrupedWalkEnv, WalkConfig
from training.evaluation_quadruped import WalkControllerFactory

AXES = (("vx", "m/s"), ("vy", "m/s"), ("yaw rate", "rad/s"))


@dataclass
class TrackingRecord:
    """One episode, step by step; rows after a fall are NaN."""

    time_s: np.ndarray  # (T,)
    command: np.ndarray  # (T, 3) vx (m/s), vy (m/s), yaw rate (rad/s), body frame
    measured: np.ndarray  # (T, 3) the same quantities measured on the trunk
    episode_index: int
    fell_at_s: float | None
    resample_interval_s: float
    settle_s: float


def record_tracking(
    controller_factory: WalkControllerFactory,
    episode_index: int = 0,
    seed: int = 0,
    randomize: bool = True,
    engine: str = "mujoco",
    config: WalkConfig | None = None,
) -> TrackingRecord:
    config = config or WalkConfig.from_yaml()
    rand = QuadrupedRandomization.from_yaml() if randomize else None
    env = QuadrupedWalkEnv(1, config=config, randomization=rand, engine=engine, seed=seed, autoreset=False)
    try:
        obs, _ = env.reset(seed=seed, options={"episode_indices": np.array([episode_index])})
        controller = controller_factory(env)
        controller.reset(None)
        steps = config.episode_steps
        command = np.full((steps, 3), np.nan)
        measured = np.full((steps, 3), np.nan)
        fell_at = None
        for k in range(steps):
            command[k] = env.current_command()[0]
            obs, _, terminated, _, _ = env.step(controller.act(env.robot_state(), obs))
            state = env.robot_state()
            v_body = rotate_world_to_body(state.base_quat_wxyz, state.base_lin_vel_m_s)[0]
            measured[k] = (v_body[0], v_body[1], state.base_ang_vel_rad_s[0, 2])
            if terminated[0]:
                fell_at = (k + 1) * config.control_dt_s
                break
        return TrackingRecord(
            time_s=np.arange(1, steps + 1) * config.control_dt_s,
            command=command,
            measured=measured,
            episode_index=episode_index,
            fell_at_s=fell_at,
            resample_interval_s=float(config.commands["resampling_interval_s"]),
            settle_s=float(config.metrics["settle_s"]),
        )
    finally:
        env.close()


def plot_velocity_tracking(record: TrackingRecord, path: str | Path, title: str = "") -> Path:
    """Commanded vs measured vx, vy and yaw rate over the episode (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True)
    end_s = float(record.time_s[-1])
    for k, (ax, (name, unit)) in enumerate(zip(axes, AXES, strict=True)):
        t0 = 0.0
        while t0 < end_s:
            ax.axvspan(t0, t0 + record.settle_s, color="0.9", lw=0)
            t0 += record.resample_interval_s
        ax.step(record.time_s, record.command[:, k], where="post", color="k", lw=1.4, label="command")
        ax.plot(record.time_s, record.measured[:, k], color="tab:blue", lw=1.0, label="measured")
        if record.fell_at_s is not None:
            ax.axvline(record.fell_at_s, color="tab:red", ls="--", lw=1, label="fell")
        ax.set(ylabel=f"{name} ({unit})")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[-1].set(xlabel="time (s); grey: settle window after each new command, not counted")
    fig.suptitle(title or f"velocity tracking, episode {record.episode_index}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
