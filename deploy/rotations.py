"""Rotation helpers shared by simulation and robot.

Convention, stated once for all of Tether: quaternions are (w, x, y, z),
Hamilton product, unit norm, rotating body-frame vectors into the world
frame. Frames follow REP-103: world ENU (x east/forward, y north/left, z up),
body FLU (x forward, y left, z up). All functions accept a leading batch
dimension and need only numpy.
"""

from __future__ import annotations

import math

import numpy as np

IDENTITY_QUAT_WXYZ = np.array([1.0, 0.0, 0.0, 0.0])

# A robot's batch of one: a single quaternion, (4,) or (1, 4), is computed on plain floats (several
# times faster than NumPy on arrays this small), with the same operations in the same order, so
# the results are bit for bit those of the batched code.
_ONE = ((4,), (1, 4))


def _normalized_floats(q: np.ndarray) -> tuple[float, float, float, float]:
    w, x, y, z = q.ravel().tolist()
    n = math.sqrt(w * w + x * x + y * y + z * z)  # the order np.linalg.norm sums in
    if n > 1e-12:
        return w / n, x / n, y / n, z / n
    return 1.0, 0.0, 0.0, 0.0


def quat_normalize(q_wxyz: np.ndarray) -> np.ndarray:
    """Unit quaternion (..., 4); a zero quaternion becomes the identity."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    if q.shape in _ONE:
        return np.array(_normalized_floats(q)).reshape(q.shape)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    out = np.where(n > 1e-12, q / np.where(n > 1e-12, n, 1.0), IDENTITY_QUAT_WXYZ)
    return out


def quat_multiply(a_wxyz: np.ndarray, b_wxyz: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b for (..., 4) arrays."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a_wxyz, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b_wxyz, dtype=np.float64), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_to_rotmat(q_wxyz: np.ndarray) -> np.ndarray:
    """Rotation matrix (..., 3, 3) whose columns are the body axes in the world frame."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    if q.shape in _ONE:
        w, x, y, z = _normalized_floats(q)
        m = [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
        return np.array(m).reshape(q.shape[:-1] + (3, 3))
    w, x, y, z = np.moveaxis(quat_normalize(q), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def quat_from_axis_angle(axis: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
    """Quaternion (..., 4) for a rotation of angle_rad about a (not necessarily unit) axis."""
    axis = np.asarray(axis, dtype=np.float64)
    n = np.linalg.norm(axis, axis=-1, keepdims=True)
    unit = np.where(n > 1e-12, axis / np.where(n > 1e-12, n, 1.0), np.array([0.0, 0.0, 1.0]))
    half = 0.5 * np.asarray(angle_rad, dtype=np.float64)[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * unit], axis=-1)


def quat_from_yaw(yaw_rad: np.ndarray) -> np.ndarray:
    """Quaternion (..., 4) of a pure rotation about world z."""
    yaw = np.asarray(yaw_rad, dtype=np.float64)
    return quat_from_axis_angle(np.broadcast_to([0.0, 0.0, 1.0], yaw.shape + (3,)), yaw)


def rotmat_to_quat(r: np.ndarray) -> np.ndarray:
    """Quaternion (..., 4), w ≥ 0, from rotation matrices (..., 3, 3)."""
    r = np.asarray(r, dtype=np.float64)
    batch = r.shape[:-2]
    m = r.reshape(-1, 3, 3)
    q = np.empty((m.shape[0], 4))
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    # Shepperd's method: pick the numerically largest component per matrix.
    cand = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=-1)
    k = np.argmax(cand, axis=-1)
    for i in range(m.shape[0]):
        a = m[i]
        if k[i] == 0:
            s = 2.0 * np.sqrt(max(1.0 + tr[i], 1e-12))
            q[i] = [0.25 * s, (a[2, 1] - a[1, 2]) / s, (a[0, 2] - a[2, 0]) / s, (a[1, 0] - a[0, 1]) / s]
        elif k[i] == 1:
            s = 2.0 * np.sqrt(max(1.0 + a[0, 0] - a[1, 1] - a[2, 2], 1e-12))
            q[i] = [(a[2, 1] - a[1, 2]) / s, 0.25 * s, (a[0, 1] + a[1, 0]) / s, (a[0, 2] + a[2, 0]) / s]
        elif k[i] == 2:
            s = 2.0 * np.sqrt(max(1.0 + a[1, 1] - a[0, 0] - a[2, 2], 1e-12))
            q[i] = [(a[0, 2] - a[2, 0]) / s, (a[0, 1] + a[1, 0]) / s, 0.25 * s, (a[1, 2] + a[2, 1]) / s]
        else:
            s = 2.0 * np.sqrt(max(1.0 + a[2, 2] - a[0, 0] - a[1, 1], 1e-12))
            q[i] = [(a[1, 0] - a[0, 1]) / s, (a[0, 2] + a[2, 0]) / s, (a[1, 2] + a[2, 1]) / s, 0.25 * s]
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q.reshape(batch + (4,))


def rotate_world_to_body(q_wxyz: np.ndarray, v_world: np.ndarray) -> np.ndarray:
    """Express world-frame vectors (..., 3) in the body frame."""
    r = quat_to_rotmat(q_wxyz)
    return np.einsum("...ji,...j->...i", r, v_world)


def rotate_body_to_world(q_wxyz: np.ndarray, v_body: np.ndarray) -> np.ndarray:
    """Express body-frame vectors (..., 3) in the world frame."""
    return np.einsum("...ij,...j->...i", quat_to_rotmat(q_wxyz), v_body)


def tilt_angle_rad(q_wxyz: np.ndarray) -> np.ndarray:
    """Angle between body z and world z, in [0, π]."""
    r = quat_to_rotmat(q_wxyz)
    return np.arccos(np.clip(r[..., 2, 2], -1.0, 1.0))


def yaw_rad(q_wxyz: np.ndarray) -> np.ndarray:
    """Heading of the body x axis projected on the world xy plane."""
    r = quat_to_rotmat(q_wxyz)
    return np.arctan2(r[..., 1, 0], r[..., 0, 0])
