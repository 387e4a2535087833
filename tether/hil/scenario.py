"""The HIL flight: the hover task's episode, then a waypoint sequence; its reference and its scoring.

Phase 1 (0 ≤ t < hover_s) is episode (seed, episode_index) of quadrotor-hover exactly as
`tether eval` flies it: same vehicle, same initial state, same target, so success and RMSE can
be compared with the in-process evaluation. Phase 2 visits the waypoints in order, each for
waypoint_hold_s, repeating until the requested flight time. Then the vehicle is disarmed and
the runtime's FAILSAFE lands it (a controlled stop, never a drop).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deploy.nodes.params import resolve_path

SCENARIOS = {"quadrotor-hover": Path(__file__).with_name("quadrotor_hover.yaml")}
#: Legged scenarios: their own mission and scoring (tether/hil/walk.py), the same HIL machinery.
LEGGED_SCENARIOS = {"quadruped-walk": Path(__file__).with_name("quadruped_walk.yaml")}


@dataclass(frozen=True)
class Scenario:
    name: str
    params_file: Path
    hover_s: float
    settle_s: float
    success_window_s: float
    success_max_pos_err_m: float
    waypoints_m: tuple[tuple[float, float, float], ...]
    waypoint_hold_s: float
    waypoint_window_s: float
    waypoint_tolerance_m: float
    reference_rate_hz: float
    startup_timeout_s: float
    arm_timeout_s: float
    land_timeout_s: float
    eval_rmse_tolerance: float
    target_pos_m: tuple[float, float, float] = (0.0, 0.0, 2.0)

    @classmethod
    def load(cls, name: str) -> Scenario:
        if name not in SCENARIOS:
            raise ValueError(
                f"unknown HIL scenario '{name}'; available: {sorted(SCENARIOS) + sorted(LEGGED_SCENARIOS)}"
            )
        with open(SCENARIOS[name]) as f:
            d: dict[str, Any] = yaml.safe_load(f)
        from sim.tasks.quadrotor_hover import HoverConfig

        task = HoverConfig.from_yaml()
        known = set(cls.__dataclass_fields__) - {"name", "target_pos_m"}
        if set(d) != known:
            raise ValueError(
                f"{SCENARIOS[name]}: missing {sorted(known - set(d))}, unknown {sorted(set(d) - known)}"
            )
        d["params_file"] = resolve_path(d["params_file"])
        d["waypoints_m"] = tuple(tuple(float(x) for x in w) for w in d["waypoints_m"])
        return cls(name=name, target_pos_m=tuple(task.target_pos_m), **d)

    def reference(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Target position and velocity (world) at simulation time t_s."""
        if t_s < self.hover_s or not self.waypoints_m:
            return np.asarray(self.target_pos_m, dtype=float), np.zeros(3)
        k = int((t_s - self.hover_s) // self.waypoint_hold_s) % len(self.waypoints_m)
        return np.asarray(self.waypoints_m[k], dtype=float), np.zeros(3)

    def waypoint_windows(self, seconds: float) -> list[tuple[int, float, float]]:
        """(waypoint index, start, end) of each waypoint hold that ends within the flight."""
        out = []
        t, k = self.hover_s, 0
        while self.waypoints_m and t + self.waypoint_hold_s <= seconds + 1e-9:
            out.append((k % len(self.waypoints_m), t, t + self.waypoint_hold_s))
            t += self.waypoint_hold_s
            k += 1
        return out

    def score(self, trajectory: np.ndarray, seconds: float, crash_time_s: float | None) -> dict[str, Any]:
        """Flight metrics from the bridge's ground truth [[t, x, y, z, ...], ...]."""
        if len(trajectory) == 0:
            return {"flown": False}
        t = trajectory[:, 0]
        pos = trajectory[:, 1:4]
        ref = np.array([self.reference(x)[0] for x in t])
        err = np.linalg.norm(pos - ref, axis=1)
        end = crash_time_s if crash_time_s is not None else np.inf
        hover = (t >= self.settle_s) & (t < min(self.hover_s, seconds)) & (t < end)
        window = (t >= self.hover_s - self.success_window_s) & (t < self.hover_s)
        hover_err = float(np.mean(err[window])) if window.any() else float("nan")
        crashed_in_hover = crash_time_s is not None and crash_time_s < self.hover_s
        hover_success = bool(
            not crashed_in_hover and seconds >= self.hover_s and hover_err < self.success_max_pos_err_m
        )
        flight = (t < min(seconds, end)) & (t >= self.settle_s)
        waypoints = []
        for k, a, b in self.waypoint_windows(seconds):
            w = (t >= b - self.waypoint_window_s) & (t < b) & (t < end)
            e = float(np.mean(err[w])) if w.any() else float("nan")
            waypoints.append(
                {
                    "index": k,
                    "target_m": list(self.waypoints_m[k]),
                    "start_s": a,
                    "mean_err_m": e,
                    "reached": bool(e < self.waypoint_tolerance_m),
                }
            )
        return {
            "flown": True,
            "hover_rmse_m": float(np.sqrt(np.mean(err[hover] ** 2))) if hover.any() else None,
            "hover_final_err_m": hover_err,
            "hover_success": hover_success,
            "flight_rmse_m": float(np.sqrt(np.mean(err[flight] ** 2))) if flight.any() else None,
            "waypoints": waypoints,
            "waypoints_reached": all(w["reached"] for w in waypoints),
        }
