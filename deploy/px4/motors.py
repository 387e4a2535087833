"""Tether's motors (by name) ↔ PX4's motor order (ActuatorMotors.control[i] drives PX4 motor i+1).

Motors are matched by where they are, never by index: each of the vehicle's motors has a position
angle in the body frame (the vehicle parameters' rotor_angles_deg: FLU, counter-clockwise from x,
in the robot profile's actuator order) and a spin direction; PX4's motors are given by its control
allocation geometry (CA_ROTOR<i>_PX / _PY, body FRD, metres, and the spin: +1 counter-clockwise
seen from above), in the hardware configuration. Each Tether motor maps to the PX4 motor at the
same angle (within `angle_tolerance_deg`) with the same spin; anything else is refused with the
names and angles that did not fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: ActuatorMotors carries this many controls (its NUM_CONTROLS); unused ones are NaN (disarmed).
MAX_MOTORS = 12


class MotorMappingError(ValueError):
    """The policy's motors cannot be mapped to PX4's motor order (reason: px4_motor_mapping)."""


@dataclass(frozen=True)
class Px4Rotor:
    px_m: float  # CA_ROTOR<i>_PX: forward (FRD x)
    py_m: float  # CA_ROTOR<i>_PY: right (FRD y)
    spin: int  # +1 counter-clockwise seen from above, -1 clockwise

    @property
    def angle_flu_deg(self) -> float:
        """Angle in the FLU body plane, counter-clockwise from x, in [0, 360)."""
        return math.degrees(math.atan2(-self.py_m, self.px_m)) % 360.0


def _angle_diff_deg(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def map_motors(
    names: Sequence[str],
    angles_flu_deg: Sequence[float],
    spins: Sequence[int],
    rotors: Sequence[Px4Rotor],
    angle_tolerance_deg: float = 10.0,
) -> tuple[int, ...]:
    """For each Tether motor (in `names` order) the PX4 motor index (0-based) it is."""
    if len(rotors) > MAX_MOTORS:
        raise MotorMappingError(
            f"px4_motor_mapping: {len(rotors)} PX4 rotors; ActuatorMotors carries {MAX_MOTORS}"
        )
    if not (len(names) == len(angles_flu_deg) == len(spins)):
        raise MotorMappingError(
            f"px4_motor_mapping: {len(names)} motor names but {len(angles_flu_deg)} rotor angles and "
            f"{len(spins)} spins in the vehicle parameters; give one of each per motor"
        )
    if len(names) != len(rotors):
        raise MotorMappingError(
            f"px4_motor_mapping: the policy drives {len(names)} motors {list(names)}, the PX4 geometry has "
            f"{len(rotors)} rotors; set px4.rotors to the vehicle's CA_ROTOR* parameters"
        )
    out: list[int] = []
    for name, angle, spin in zip(names, angles_flu_deg, spins, strict=True):
        diffs = [_angle_diff_deg(angle, r.angle_flu_deg) for r in rotors]
        i = int(np.argmin(diffs))
        if diffs[i] > angle_tolerance_deg:
            raise MotorMappingError(
                f"px4_motor_mapping: motor '{name}' at {angle:.1f}° (FLU) has no PX4 rotor within "
                f"{angle_tolerance_deg:g}° (PX4 rotors at {[round(r.angle_flu_deg, 1) for r in rotors]}°); "
                "check px4.rotors against the vehicle's CA_ROTOR*_PX/PY"
            )
        if int(rotors[i].spin) != int(spin):
            raise MotorMappingError(
                f"px4_motor_mapping: motor '{name}' at {angle:.1f}° spins {int(spin):+d}, PX4 motor {i + 1} "
                f"there spins {int(rotors[i].spin):+d} (+1 = counter-clockwise from above); props or "
                "CA_ROTOR*_KM do not match the policy's vehicle"
            )
        if i in out:
            raise MotorMappingError(
                f"px4_motor_mapping: motor '{name}' and '{names[out.index(i)]}' both map to PX4 motor {i + 1}"
            )
        out.append(i)
    return tuple(out)


def to_px4_controls(command: np.ndarray, index: Sequence[int]) -> list[float]:
    """ActuatorMotors.control: command[k] (normalized [0, 1]) at PX4 index[k]; the rest NaN."""
    control = [math.nan] * MAX_MOTORS
    for k, i in enumerate(index):
        control[i] = float(np.clip(command[k], 0.0, 1.0))
    return control


def from_px4_controls(control: Sequence[float], index: Sequence[int]) -> np.ndarray:
    """The inverse of to_px4_controls: Tether's motors (index order) from ActuatorMotors.control."""
    return np.array([float(control[i]) for i in index])
