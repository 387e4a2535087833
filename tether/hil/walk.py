"""The quadruped HIL scenario: start-up, the walk episode on /cmd_vel, and its scoring.

Phases (simulation time, from the legged bridge's trajectory):

1. zero torque: the bridge's motors produce no torque until gains arrive; the robot sits down where
   episode (seed, k) placed it. The policy node, DISARMED, sends damping (kp 0).
2. start-up, after arming: joint targets interpolated from the measured pose to the default pose
   with the profile's stand gains; checked: the bridge saw zero torque → damping → stand gains →
   the contract's gains, in that order, and the trunk stood at ≥ min_stand_height_ratio of the
   standing height when the policy took over (t0).
3. the walk, t0 ≤ t < t0 + seconds: the episode's command schedule on /cmd_vel (command k from
   t0 + k · resampling interval). Fall: the task's termination (trunk contact, tilt over its limit).
   Tracking errors as the task counts them: ‖v_xy − cmd_xy‖ and |ω_z − cmd_yaw| in the body frame,
   from settle_s after each command change; success: no fall, both within the task's gate figures.
4. disarm (or a fault): damping; a safe sit-down keeps the tilt under the task's limit and the
   trunk's downward speed under max_sit_down_speed_m_s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deploy.nodes.params import resolve_path

SCENARIO_FILE = Path(__file__).with_name("quadruped_walk.yaml")
#: Trajectory columns (deploy.nodes.legged_sim_bridge_node.TRAJECTORY_COLUMNS), by name.
COL = {
    name: k
    for k, name in enumerate(
        ("t_s", "x_m", "y_m", "z_m", "vz_world_m_s", "tilt_cos", "vx_body_m_s", "vy_body_m_s",
         "yaw_rate_rad_s", "trunk_contact", "kp_mean", "kd_mean", "watchdog")
    )
}  # fmt: skip


@dataclass(frozen=True)
class WalkScenario:
    name: str
    params_file: Path
    bridge_node: str
    zero_torque_s: float
    damping_before_arm_s: float
    min_stand_height_ratio: float
    command_rate_hz: float
    max_sit_down_speed_m_s: float
    sit_down_s: float
    startup_timeout_s: float
    arm_timeout_s: float
    running_timeout_s: float
    stop_timeout_s: float
    eval_lin_vel_err_tolerance_m_s: float
    eval_yaw_rate_err_tolerance_rad_s: float
    # from the task (sim/tasks/quadruped_walk.yaml)
    resampling_interval_s: float = 5.0
    settle_s: float = 1.0
    max_tilt_deg: float = 60.0
    trunk_contact: bool = True
    max_lin_vel_err_m_s: float = 0.15
    max_yaw_rate_err_rad_s: float = 0.2
    episode_length_s: float = 20.0
    kind: str = "legged"

    @classmethod
    def load(cls, name: str = "quadruped-walk", path: Path = SCENARIO_FILE) -> WalkScenario:
        from sim.tasks.quadruped_walk import WalkConfig

        with open(path) as f:
            d: dict[str, Any] = yaml.safe_load(f)
        known = {
            "params_file", "bridge_node", "zero_torque_s", "damping_before_arm_s",
            "min_stand_height_ratio", "command_rate_hz",
            "max_sit_down_speed_m_s", "sit_down_s", "startup_timeout_s", "arm_timeout_s",
            "running_timeout_s", "stop_timeout_s", "eval_lin_vel_err_tolerance_m_s",
            "eval_yaw_rate_err_tolerance_rad_s",
        }  # fmt: skip
        if set(d) != known:
            raise ValueError(f"{path}: missing {sorted(known - set(d))}, unknown {sorted(set(d) - known)}")
        task = WalkConfig.from_yaml()
        d["params_file"] = resolve_path(d["params_file"])
        return cls(
            name=name,
            resampling_interval_s=float(task.commands["resampling_interval_s"]),
            settle_s=float(task.metrics["settle_s"]),
            max_tilt_deg=float(task.termination["max_tilt_deg"]),
            trunk_contact=bool(task.termination["trunk_contact"]),
            max_lin_vel_err_m_s=float(task.gate["max_lin_vel_err_m_s"]),
            max_yaw_rate_err_rad_s=float(task.gate["max_yaw_rate_err_rad_s"]),
            episode_length_s=float(task.episode_length_s),
            **d,
        )

    def command_at(self, commands: np.ndarray, walk_s: float) -> np.ndarray:
        """The command (vx, vy, yaw rate) in effect `walk_s` after the walk began."""
        k = int(max(walk_s, 0.0) // self.resampling_interval_s)
        return np.asarray(commands[min(k, len(commands) - 1)], dtype=np.float64)

    # -- scoring ------------------------------------------------------------------------------

    def fallen(self, rows: np.ndarray) -> np.ndarray:
        """Per row: the task's fall (trunk contact, tilt over its limit)."""
        out = rows[:, COL["tilt_cos"]] < np.cos(np.deg2rad(self.max_tilt_deg))
        if self.trunk_contact:
            out |= rows[:, COL["trunk_contact"]] > 0.5
        return out

    def score_walk(
        self, traj: np.ndarray, t0_s: float, t_end_s: float, commands: np.ndarray
    ) -> dict[str, Any]:
        t = traj[:, COL["t_s"]]
        rows = traj[(t >= t0_s) & (t < t_end_s)]
        if len(rows) == 0:
            return {"walked": False}
        fell = self.fallen(rows)
        fall_t = float(rows[np.argmax(fell), COL["t_s"]]) if fell.any() else None
        walk_s = rows[:, COL["t_s"]] - t0_s
        cmd = np.array([self.command_at(commands, w) for w in walk_s])
        phase_s = walk_s - np.floor(walk_s / self.resampling_interval_s) * self.resampling_interval_s
        counted = phase_s >= self.settle_s - 1e-9
        if fall_t is not None:
            counted &= rows[:, COL["t_s"]] < fall_t
        v = rows[:, [COL["vx_body_m_s"], COL["vy_body_m_s"]]]
        lin = np.linalg.norm(v - cmd[:, :2], axis=1)
        yaw = np.abs(rows[:, COL["yaw_rate_rad_s"]] - cmd[:, 2])
        lin_err = float(np.mean(lin[counted])) if counted.any() else None
        yaw_err = float(np.mean(yaw[counted])) if counted.any() else None
        success = bool(
            fall_t is None
            and lin_err is not None
            and yaw_err is not None
            and lin_err <= self.max_lin_vel_err_m_s
            and yaw_err <= self.max_yaw_rate_err_rad_s
        )
        return {
            "walked": True,
            "walk_s": float(t_end_s - t0_s),
            "fell": fall_t is not None,
            "fall_sim_time_s": fall_t,
            "lin_vel_err_m_s": lin_err,
            "yaw_rate_err_rad_s": yaw_err,
            "counted_samples": int(counted.sum()),
            "distance_m": float(
                np.sum(np.linalg.norm(np.diff(rows[:, [COL["x_m"], COL["y_m"]]], axis=0), axis=1))
            ),
            "gate": {"max_lin_vel_err_m_s": self.max_lin_vel_err_m_s,
                     "max_yaw_rate_err_rad_s": self.max_yaw_rate_err_rad_s},
            "success": success,
        }  # fmt: skip

    def sit_down(self, traj: np.ndarray, from_s: float) -> dict[str, Any]:
        """Was the robot's descent after `from_s` (sim) a safe sit-down rather than a fall?"""
        t = traj[:, COL["t_s"]]
        rows = traj[(t >= from_s) & (t < from_s + self.sit_down_s)]
        if len(rows) == 0:
            return {"watched": False, "safe": False}
        min_tilt_cos = float(np.min(rows[:, COL["tilt_cos"]]))
        peak_down = float(max(0.0, -np.min(rows[:, COL["vz_world_m_s"]])))
        tilt_ok = min_tilt_cos >= np.cos(np.deg2rad(self.max_tilt_deg))
        return {
            "watched": True,
            "from_sim_s": from_s,
            "seconds": float(rows[-1, COL["t_s"]] - rows[0, COL["t_s"]]),
            "max_tilt_deg": float(np.rad2deg(np.arccos(np.clip(min_tilt_cos, -1.0, 1.0)))),
            "peak_descent_m_s": peak_down,
            "start_height_m": float(rows[0, COL["z_m"]]),
            "end_height_m": float(rows[-1, COL["z_m"]]),
            "safe": bool(tilt_ok and peak_down <= self.max_sit_down_speed_m_s),
        }

    def startup(
        self,
        traj: np.ndarray,
        modes: list[dict[str, Any]],
        t0_s: float | None,
        standing_height_m: float,
        stand_kp: float,
        policy_kp: float,
    ) -> dict[str, Any]:
        """The start-up sequence as the hardware saw it, and the height at which the policy took over."""
        seq: list[str] = []
        for m in modes:
            kind = m["mode"]
            if kind == "stiff":
                kind = (
                    "stand_gains"
                    if abs(m["kp_mean"] - stand_kp) < 1e-6
                    else ("policy_gains" if abs(m["kp_mean"] - policy_kp) < 1e-6 else "stiff")
                )
            if not seq or seq[-1] != kind:
                seq.append(kind)
        height = None
        if t0_s is not None and len(traj):
            k = int(np.argmin(np.abs(traj[:, COL["t_s"]] - t0_s)))
            height = float(traj[k, COL["z_m"]])
        expected = ["zero_torque", "damping", "stand_gains", "policy_gains"]
        ordered = seq[: len(expected)] == expected
        tall = height is not None and height >= self.min_stand_height_ratio * standing_height_m
        return {
            "hardware_modes": seq,
            "expected_order": expected,
            "in_order": bool(ordered),
            "height_at_policy_m": height,
            "standing_height_m": standing_height_m,
            "ok": bool(ordered and tall),
        }


def episode_commands(seed: int, episode_index: int) -> np.ndarray:
    """(K, 3) the velocity commands of quadruped-walk episode (seed, k), as `tether eval` draws them."""
    from sim.tasks.quadruped_walk import QuadrupedWalkEnv

    env = QuadrupedWalkEnv(1, seed=seed, autoreset=False)
    try:
        _, plan = env.sample_episode(episode_index)
        return plan.commands.copy()
    finally:
        env.close()


def compare_with_eval(
    policy_file: Path, walk: dict[str, Any], scenario: WalkScenario, seed: int, episode_index: int
) -> dict[str, Any]:
    """The same episode through `tether eval --task quadruped-walk --episode-index K`, over the
    same walking time: the same fall outcome, tracking errors within the scenario's tolerances."""
    import dataclasses

    from sim.tasks.quadruped_walk import WalkConfig
    from training.evaluation_quadruped import evaluate_walk, policy_factory

    config = WalkConfig.from_yaml()
    seconds = min(float(walk.get("walk_s") or config.episode_length_s), config.episode_length_s)
    config = dataclasses.replace(config, episode_length_s=seconds)
    ev = evaluate_walk(
        policy_factory(policy_file), "hil-compare", episodes=1, seed=seed, episode_indices=[episode_index],
        config=config, progress=False,
    )  # fmt: skip
    e = ev["per_episode"][0]
    out: dict[str, Any] = {
        "eval_command": f"tether eval --task quadruped-walk --policy {policy_file} --seed {seed} "
        f"--episode-index {episode_index}",
        "seconds": seconds,
        "eval_fell": bool(e["fell"]),
        "hil_fell": bool(walk.get("fell")),
        "eval_lin_vel_err_m_s": e["lin_vel_err_m_s"],
        "hil_lin_vel_err_m_s": walk.get("lin_vel_err_m_s"),
        "eval_yaw_rate_err_rad_s": e["yaw_rate_err_rad_s"],
        "hil_yaw_rate_err_rad_s": walk.get("yaw_rate_err_rad_s"),
        "tolerance_lin_m_s": scenario.eval_lin_vel_err_tolerance_m_s,
        "tolerance_yaw_rad_s": scenario.eval_yaw_rate_err_tolerance_rad_s,
    }
    hil_lin, hil_yaw = walk.get("lin_vel_err_m_s"), walk.get("yaw_rate_err_rad_s")
    within = (
        hil_lin is not None
        and hil_yaw is not None
        and abs(hil_lin - e["lin_vel_err_m_s"]) <= scenario.eval_lin_vel_err_tolerance_m_s
        and abs(hil_yaw - e["yaw_rate_err_rad_s"]) <= scenario.eval_yaw_rate_err_tolerance_rad_s
    )
    out["agree"] = bool(out["eval_fell"] == out["hil_fell"] and within)
    return out
