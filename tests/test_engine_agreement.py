"""MuJoCo and PyBullet fly the same open-loop motor commands to the same trajectory.

Both engines get the same vehicle (QuadrotorParams), the same rotor model
(RotorBank) and the same initial state; each sequence lasts 1 s of free
flight, well above the ground. What may differ is the integrator: MuJoCo
uses RK4 at physics_dt, PyBullet semi-implicit Euler (v += a·h, then
x += v·h). That difference is first order in the step h, so the test also
halves h in both engines and requires every difference to halve: a modelling
mismatch (mass, inertia, rotor arm, yaw sign, frames, damping, where forces
act) would not shrink with h.

Tolerances at h = 5 ms over T = 1 s. Semi-implicit Euler runs ahead of the
exact solution of a quantity whose derivative changed by Δ over the flight by
≈ ½·h·Δ; each tolerance below is that estimate for these flights with ~1.5-2×
margin, with the measured maximum over both presets and both initial states
in brackets.
"""

import numpy as np
import pytest

from deploy.rotations import quat_from_axis_angle, quat_multiply
from sim.engines.mujoco_engine import MujocoQuadrotorEngine
from sim.engines.pybullet_engine import PybulletQuadrotorEngine
from sim.robots.quadrotor import QuadrotorParams, load_preset
from tests.conftest import make_state

CONTROL_DT_S = 0.01
PHYSICS_DT_S = 0.005
STEPS = 100  # 1 s

# Position: ½·h·|Δv| with |Δv| ≤ 4 m/s here (≤ 9.5 m/s² for 1 s) is ≤ 1 cm, plus the velocity
# difference below integrated over the flight (≤ ½ · 1.5 cm/s · 1 s).           [measured 1.1 cm]
POS_TOL_M = 0.02
# Attitude (angle of the relative rotation): ½·h·|Δω| with |Δω| ≤ 6 rad/s here.  [1.2e-2 rad]
ATT_TOL_RAD = 0.02
# Velocity: exact under a constant force, but the thrust follows the attitude, which is ahead
# by ½·h·ω (and PyBullet holds it over the substep where RK4 samples inside it): ≈ 2.5 mrad at
# 1 rad/s of tilt rate, times ≈ g of thrust acceleration, over 1 s ≈ 2.5 cm/s.    [1.6e-2 m/s]
VEL_TOL_M_S = 0.03
# Body rates: torques are body-fixed and identical in both engines, so rates differ only through
# the gyroscopic term ω × Iω, integrated to first order in h.                    [6.5e-3 rad/s]
RATE_TOL_RAD_S = 0.01
# From rest every rotation is about one principal axis (no gyroscopic term): rates must match
# to rounding, which checks thrust, moment arms, yaw coefficient and inertia exactly.
RATE_FROM_REST_TOL_RAD_S = 1e-9
# Halving h must at least halve (≤ 0.6×) every difference bigger than rounding and than the
# second-order remainder (measured ratios: 0.50 for every first-order difference).
CONVERGENCE_RATIO = 0.6
CONVERGENCE_FLOOR = 1e-6

# Differential command amplitude of the doublets, per preset: ~20° of roll/pitch on each vehicle.
DOUBLET_AMPLITUDE = {"crazyflie_2_1": 0.02, "x500": 0.05}
YAW_AMPLITUDE_FACTOR = 4.0  # yaw authority is small: a bigger differential for a visible turn

_TILT = quat_multiply(
    quat_from_axis_angle(np.array([1.0, 1.0, 0.0]), np.deg2rad(15.0)),
    quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), 0.7),
)
INITIAL_STATES = {
    "rest": dict(pos=(0.0, 0.0, 10.0)),
    "moving": dict(pos=(0.0, 0.0, 10.0), quat=tuple(_TILT), vel=(1.0, -0.5, 0.3), omega=(0.8, -0.6, 1.0)),
}
SEQUENCES = ("hover", "step", "roll", "pitch", "yaw")


def command_sequence(p: QuadrotorParams, name: str) -> np.ndarray:
    """(STEPS, motors) open-loop commands: hover; a +0.1 collective step at 0.2 s; or a doublet
    (+a for 0.1 s from 0.1 s, then −a for 0.1 s) on roll (left/right), pitch (front/back) or yaw
    (clockwise/counter-clockwise rotors)."""
    cmd = np.full((STEPS, p.num_motors), p.hover_command)
    pos = p.rotor_positions_m
    pattern = {
        "roll": np.sign(pos[:, 1]),  # more thrust left → roll right side down (+x)
        "pitch": -np.sign(pos[:, 0]),  # more thrust at the back → nose down (+y)
        "yaw": -np.asarray(p.rotor_spin_directions, dtype=float) * YAW_AMPLITUDE_FACTOR,
    }
    if name == "step":
        cmd[20:] += 0.1
    elif name in pattern:
        delta = pattern[name] * DOUBLET_AMPLITUDE[p.name]
        cmd[10:20] += delta
        cmd[20:30] -= delta
    elif name != "hover":
        raise ValueError(f"unknown sequence '{name}'; expected one of {SEQUENCES}")
    return cmd


def fly(engine_cls, p: QuadrotorParams, commands: np.ndarray, initial: dict, physics_dt_s: float) -> dict:
    """The trajectory, one row per control step."""
    with engine_cls([p], CONTROL_DT_S, physics_dt_s) as eng:
        eng.reset(np.arange(1), [p], make_state(1, **initial), p.hover_command)
        rows, contact = [], False
        for c in commands:
            eng.step(c[None])
            s = eng.state()
            contact |= bool(eng.ground_contact()[0])
            rows.append(
                (s.base_pos_m[0], s.base_quat_wxyz[0], s.base_lin_vel_m_s[0], s.base_ang_vel_rad_s[0])
            )
    assert not contact, "the agreement flights must stay clear of the ground"
    pos, quat, vel, rate = (np.array(x) for x in zip(*rows, strict=True))
    return {"pos": pos, "quat": quat, "vel": vel, "rate": rate}


def differences(a: dict, b: dict) -> dict[str, float]:
    """Largest difference over the flight: position (m), attitude (rad), velocity, body rate."""
    cos_half = np.clip(np.abs(np.sum(a["quat"] * b["quat"], axis=1)), 0.0, 1.0)
    return {
        "pos": float(np.abs(a["pos"] - b["pos"]).max()),
        "att": float((2.0 * np.arccos(cos_half)).max()),
        "vel": float(np.abs(a["vel"] - b["vel"]).max()),
        "rate": float(np.abs(a["rate"] - b["rate"]).max()),
    }


@pytest.mark.parametrize("preset", ["crazyflie_2_1", "x500"])
@pytest.mark.parametrize("initial", sorted(INITIAL_STATES))
@pytest.mark.parametrize("sequence", SEQUENCES)
def test_engines_agree_on_open_loop_flight(preset, initial, sequence):
    p = load_preset(preset)
    cmd = command_sequence(p, sequence)
    state = INITIAL_STATES[initial]
    err = differences(
        fly(MujocoQuadrotorEngine, p, cmd, state, PHYSICS_DT_S),
        fly(PybulletQuadrotorEngine, p, cmd, state, PHYSICS_DT_S),
    )
    rate_tol = RATE_FROM_REST_TOL_RAD_S if initial == "rest" else RATE_TOL_RAD_S
    tol = {"pos": POS_TOL_M, "att": ATT_TOL_RAD, "vel": VEL_TOL_M_S, "rate": rate_tol}
    assert all(err[k] <= tol[k] for k in tol), f"differences {err} exceed tolerances {tol}"

    finer = differences(
        fly(MujocoQuadrotorEngine, p, cmd, state, PHYSICS_DT_S / 2),
        fly(PybulletQuadrotorEngine, p, cmd, state, PHYSICS_DT_S / 2),
    )
    for k, e in err.items():
        if e > CONVERGENCE_FLOOR:
            assert finer[k] <= CONVERGENCE_RATIO * e, (
                f"{k}: difference {e:.3g} at h = {PHYSICS_DT_S} s became {finer[k]:.3g} at h/2; an "
                "integrator difference halves with h, a modelling difference does not"
            )


def test_command_sequences_exercise_each_axis():
    """The doublets really roll, pitch and yaw the vehicle (as the names say) by a visible angle."""
    p = load_preset("crazyflie_2_1")
    for name, axis in (("roll", 0), ("pitch", 1), ("yaw", 2)):
        rate = fly(MujocoQuadrotorEngine, p, command_sequence(p, name), INITIAL_STATES["rest"], PHYSICS_DT_S)[
            "rate"
        ]
        assert rate[19, axis] > 1.0 and np.allclose(np.delete(rate[19], axis), 0.0, atol=1e-9)
