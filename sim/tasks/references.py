"""Position/velocity references a quadrotor task tracks: a fixed hover point or a figure eight.

A reference maps time since episode start (N,) to target position (N, 3, m)
and target velocity (N, 3, m/s), world frame; it fills RobotState.command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Reference(Protocol):
    def __call__(self, time_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class HoverReference:
    """Hold one point."""

    def __init__(self, target_pos_m: np.ndarray) -> None:
        self.target_pos_m = np.asarray(target_pos_m, dtype=np.float64)

    def __call__(self, time_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(time_s)
        return np.tile(self.target_pos_m, (n, 1)), np.zeros((n, 3))


@dataclass(frozen=True)
class Figure8Reference:
    """Lemniscate of Gerono in the horizontal plane around `center_m`:

    x = a·sin(ωt), y = (b/2)·sin(2ωt); ω is chosen so the peak speed, reached
    at the crossing point, equals max_speed_m_s. It starts at the centre.
    """

    center_m: tuple[float, float, float]
    half_width_m: float
    half_height_m: float
    max_speed_m_s: float

    @property
    def angular_rate_rad_s(self) -> float:
        # at t = 0: v = (aω, bω) → |v| = ω·√(a² + b²)
        return self.max_speed_m_s / float(np.hypot(self.half_width_m, self.half_height_m))

    def __call__(self, time_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(time_s, dtype=np.float64)
        w, a, b = self.angular_rate_rad_s, self.half_width_m, self.half_height_m
        pos = np.stack([a * np.sin(w * t), 0.5 * b * np.sin(2 * w * t), np.zeros_like(t)], axis=-1)
        vel = np.stack([a * w * np.cos(w * t), b * w * np.cos(2 * w * t), np.zeros_like(t)], axis=-1)
        return pos + np.asarray(self.center_m), vel

    @classmethod
    def from_dict(cls, d: dict[str, Any], center_m: tuple[float, float, float]) -> Figure8Reference:
        try:
            return cls(
                center_m, float(d["half_width_m"]), float(d["half_height_m"]), float(d["max_speed_m_s"])
            )
        except KeyError as exc:
            raise ValueError(
                f"figure8 scenario: missing {exc}; expected half_width_m, half_height_m, max_speed_m_s"
            ) from None
