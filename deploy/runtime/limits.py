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
