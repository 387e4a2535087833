"""Limit checks on the measured state: tilt, geofence, joint limits (from the robot profile)."""

from __future__ import annotations

import math

import numpy as np

from deploy.robot_state import RobotState
from deploy.rotations import quat_normalize
from deploy.runtime.robot_profile import Limits
from deploy.runtime.safety import Fault, FaultReport


def tilt_deg(quat_wxyz: np.ndarray) -> float:
    """Angle between body z and world z (degrees) of one quaternion (w, x, y, z)."""
    _, x, y, _ = quat_normalize(np.asarray(quat_wxyz, dtype=np.float64).reshape(4)).tolist()
    cos_tilt = min(max(1.0 - 2.0 * (x * x + y * y), -1.0), 1.0)  # plain floats: a single quaternion
    return float(np.degrees(np.arccos(cos_tilt)))  # NumPy's arccos, as before (libm's differs by an ulp)


def limit_faults(state: RobotState, limits: Limits) -> list[FaultReport]:
    """The limits a batch-of-one state exceeds (empty when within all of them). Plain floats: the
    arrays are a handful of values, where NumPy's per-call overhead dominates."""
    out = []
    if limits.max_tilt_deg is not None:
        tilt = tilt_deg(state.base_quat_wxyz[0])
        if tilt > limits.max_tilt_deg:
            out.append(FaultReport(Fault.TILT_LIMIT, f"tilt {tilt:.1f}° exceeds {limits.max_tilt_deg:g}°"))
    lo3, hi3 = limits.geofence_min_m, limits.geofence_max_m
    if lo3 is not None and hi3 is not None:
        pos = state.base_pos_m[0].tolist()
        if any(p < lo or p > hi for p, lo, hi in zip(pos, lo3, hi3, strict=True)):
            out.append(
                FaultReport(
                    Fault.GEOFENCE,
                    f"position {np.round(state.base_pos_m[0], 3).tolist()} m is outside the geofence "
                    f"{list(lo3)}..{list(hi3)}",
                )
            )
    if limits.joint_limits_rad and state.joint_names:
        index = {n: k for k, n in enumerate(state.joint_names)}
        joint_pos = state.joint_pos_rad[0].tolist()
        for name, (lo, hi) in limits.joint_limits_rad.items():
            k = index.get(name)
            if k is None:
                continue
            q = joint_pos[k]
            if math.isfinite(q) and not lo <= q <= hi:
                out.append(
                    FaultReport(Fault.JOINT_LIMIT, f"joint {name} at {q:.3f} rad outside [{lo}, {hi}]")
                )
    return out


class LimitChecker:
    """limit_faults() for the runtime's cycle: the same faults, the same messages, with what does
    not change between cycles worked out once (the joints' positions in the state, the tilt
    limit's cosine). Most cycles are within every limit; only a cycle near or past the tilt limit
    computes the angle itself (with tilt_deg, so a fault's figure and threshold are unchanged)."""

    #: Margin on the tilt's cosine below which the exact angle is computed (far above rounding).
    _COS_MARGIN = 1e-6

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        tilt = limits.max_tilt_deg
        # tilt > limit ⇔ cos(tilt) < cos(limit) (arccos decreases on [-1, 1])
        self._cos_tilt = None if tilt is None else math.cos(math.radians(tilt)) + self._COS_MARGIN
        self._fence = (
            None
            if limits.geofence_min_m is None or limits.geofence_max_m is None
            else list(zip(limits.geofence_min_m, limits.geofence_max_m, strict=True))
        )
        self._joint_names: tuple[str, ...] | None = None
        self._joints: list[tuple[int, str, float, float]] = []

    @property
    def cos_tilt_limit(self) -> float | None:
        """The cosine below which the tilt is past its limit (with a margin, so that a cycle close to
        it computes the angle itself); None: no tilt limit."""
        return self._cos_tilt

    @property
    def geofence_m(self) -> tuple[tuple[float, float], ...] | None:
        """(min, max) of x, y, z in metres; None: no geofence."""
        return None if self._fence is None else tuple(self._fence)

    def faults(self, state: RobotState) -> list[FaultReport]:
        """The limits a batch-of-one state exceeds (empty when within all of them), as limit_faults."""
        out: list[FaultReport] = []
        lim = self.limits
        if self._cos_tilt is not None:
            w, x, y, z = state.base_quat_wxyz[0].tolist()
            n2 = w * w + x * x + y * y + z * z
            # the cosine of the tilt without normalizing first; near the limit, the exact angle
            if not (n2 > 1e-24 and 1.0 - 2.0 * (x * x + y * y) / n2 > self._cos_tilt):
                tilt = tilt_deg(state.base_quat_wxyz[0])
                if tilt > lim.max_tilt_deg:  # type: ignore[operator]
                    out.append(
                        FaultReport(Fault.TILT_LIMIT, f"tilt {tilt:.1f}° exceeds {lim.max_tilt_deg:g}°")
                    )
        if self._fence is not None:
            pos = state.base_pos_m[0].tolist()
            if any(p < lo or p > hi for p, (lo, hi) in zip(pos, self._fence, strict=True)):
                out += [f for f in limit_faults(state, Limits(None, lim.geofence_min_m, lim.geofence_max_m))]
        if lim.joint_limits_rad and state.joint_names:
            if state.joint_names != self._joint_names:
                index = {n: k for k, n in enumerate(state.joint_names)}
                self._joints = [
                    (index[name], name, lo, hi)
                    for name, (lo, hi) in lim.joint_limits_rad.items()
                    if name in index
                ]
                self._joint_names = state.joint_names
            joint_pos = state.joint_pos_rad[0].tolist()
            for k, name, lo, hi in self._joints:
                q = joint_pos[k]
                if not lo <= q <= hi and math.isfinite(q):
                    out.append(
                        FaultReport(Fault.JOINT_LIMIT, f"joint {name} at {q:.3f} rad outside [{lo}, {hi}]")
                    )
        return out
