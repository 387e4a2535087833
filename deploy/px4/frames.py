"""PX4's frames (world NED, body FRD) ↔ Tether's (world ENU, body FLU): the one place they convert.

PX4 (uORB / px4_msgs): world frame NED (x north, y east, z down), body frame FRD (x forward,
y right, z down); quaternions (w, x, y, z) rotating FRD body vectors into NED, as Tether's
rotate FLU body vectors into ENU (deploy/rotations.py: Tether is (w, x, y, z) everywhere).

Both changes of axes are 180° rotations, so each map is its own inverse:
  world  ENU → NED: (x, y, z) → (y, x, −z)     rotation by π about (1, 1, 0)/√2
  body   FLU → FRD: (x, y, z) → (x, −y, −z)    rotation by π about x
and an attitude converts as q_ned_frd = q_NED←ENU ⊗ q_enu_flu ⊗ q_FLU←FRD.
Every function takes a leading batch dimension and needs only numpy.
"""

from __future__ import annotations

import numpy as np

from deploy.rotations import quat_multiply, quat_normalize

_S = np.sqrt(0.5)
#: Rotation taking ENU coordinates to NED coordinates (and back: it is its own inverse).
Q_NED_ENU_WXYZ = np.array([0.0, _S, _S, 0.0])
#: Rotation taking FRD body coordinates to FLU body coordinates (and back).
Q_FLU_FRD_WXYZ = np.array([0.0, 1.0, 0.0, 0.0])


def _conj(q_wxyz: np.ndarray) -> np.ndarray:
    return np.asarray(q_wxyz, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def _canonical(q_wxyz: np.ndarray) -> np.ndarray:
    """q and −q are one rotation: return the one with w ≥ 0 (stable output for tests and logs)."""
    q = quat_normalize(q_wxyz)
    return np.where(q[..., :1] < 0.0, -q, q)


def enu_to_ned(v_enu: np.ndarray) -> np.ndarray:
    """A world-frame vector (position, velocity) from ENU to NED; its own inverse."""
    v = np.asarray(v_enu, dtype=np.float64)
    return np.stack([v[..., 1], v[..., 0], -v[..., 2]], axis=-1)


ned_to_enu = enu_to_ned


def flu_to_frd(v_flu: np.ndarray) -> np.ndarray:
    """A body-frame vector (angular velocity, body velocity) from FLU to FRD; its own inverse."""
    v = np.asarray(v_flu, dtype=np.float64)
    return np.stack([v[..., 0], -v[..., 1], -v[..., 2]], axis=-1)


frd_to_flu = flu_to_frd


def quat_enu_flu_to_ned_frd(q_enu_flu_wxyz: np.ndarray) -> np.ndarray:
    """Attitude (FLU body → ENU world) as PX4's (FRD body → NED world), w ≥ 0."""
    q = quat_multiply(quat_multiply(Q_NED_ENU_WXYZ, q_enu_flu_wxyz), Q_FLU_FRD_WXYZ)
    return _canonical(q)


def quat_ned_frd_to_enu_flu(q_ned_frd_wxyz: np.ndarray) -> np.ndarray:
    """PX4's attitude (FRD body → NED world) as Tether's (FLU body → ENU world), w ≥ 0."""
    q = quat_multiply(quat_multiply(_conj(Q_NED_ENU_WXYZ), q_ned_frd_wxyz), _conj(Q_FLU_FRD_WXYZ))
    return _canonical(q)


def ctbr_to_rates_setpoint(ctbr_flu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tether's CTBR command (..., 4): [normalized collective thrust c ∈ [0, 1], roll, pitch, yaw rate
    (rad/s, FLU)] → VehicleRatesSetpoint's (roll, pitch, yaw rates (..., 3) rad/s FRD, thrust_body
    (..., 3), normalized, body NED-style z down: (0, 0, −c))."""
    v = np.asarray(ctbr_flu, dtype=np.float64)
    rates_frd = flu_to_frd(v[..., 1:4])
    zeros = np.zeros_like(v[..., 0])
    thrust_body = np.stack([zeros, zeros, -np.clip(v[..., 0], 0.0, 1.0)], axis=-1)
    return rates_frd, thrust_body


def rates_setpoint_to_ctbr(rates_frd: np.ndarray, thrust_body: np.ndarray) -> np.ndarray:
    """The inverse of ctbr_to_rates_setpoint: (..., 4) [c = −thrust_body z, rates FLU]. A multicopter
    ignores thrust_body x and y; a thrust pointing down (z > 0) is no thrust."""
    t = np.asarray(thrust_body, dtype=np.float64)
    c = np.clip(-t[..., 2], 0.0, 1.0)
    return np.concatenate([c[..., None], frd_to_flu(rates_frd)], axis=-1)
