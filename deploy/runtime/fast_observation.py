"""The contract observation for a robot's batch of one, on plain floats, written in place.

deploy.observations.ObservationBuilder is the one definition of the observation: training and the
robot share it, and it works on batches with NumPy. On the robot the batch is one row of a few
dozen values, where each NumPy call costs more than the arithmetic it does; this module does the
same arithmetic in the same order on Python floats, keeps the history and integrals in a list,
and packs the result straight into the bound float32 inference input. It is a fast path, not a
second definition: tests/test_fast_observation.py checks that it gives the builder's numbers
(bit for bit) on many random states, for the hover and walk contracts, history and integral
terms included; a contract with a term it does not know uses the builder itself
(`BatchOneObservation.supports`).

Per term (all in float64, as the builder): the raw value (the shared term's formula); for an
integrated term the running integral (zero when fresh, else retain · integral + value · dt, only
while ‖value‖ ≤ integrate_within when set), clipped to ±clip/|scale|; value · scale, clipped to
±clip; the history shifted one slot back (all slots the newest value when fresh); the whole row
cast to float32 once.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import numpy as np

from deploy.contract import Contract, ContractError
from deploy.observations import INTEGRATED_TERMS, ObservationBuilder, term_function
from deploy.robot_state import RobotState

#: A raw term on floats: (state, command row as floats) → the term's values.
FloatTerm = Callable[[RobotState, list[float]], list[float]]


def _command_bounds(contract: Contract, name: str) -> tuple[int, int] | None:
    s = contract.command_slices().get(name)
    return None if s is None else (int(s.start), int(s.stop))


def _rotmat_floats(q: np.ndarray) -> list[float]:
    """deploy.rotations.quat_to_rotmat of one quaternion (its batch-of-one path), row-major."""
    w, x, y, z = q[0].tolist()
    n = math.sqrt(w * w + x * x + y * y + z * z)  # the order np.linalg.norm sums in
    if n > 1e-12:
        w, x, y, z = w / n, x / n, y / n, z / n
    else:
        w, x, y, z = 1.0, 0.0, 0.0, 0.0
    return [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip


def _position_error(contract: Contract) -> FloatTerm | None:
    b = _command_bounds(contract, "target_pos_m")
    if b is None:
        return None
    lo, hi = b

    def f(s: RobotState, cmd: list[float]) -> list[float]:
        return [p - t for p, t in zip(s.base_pos_m[0].tolist(), cmd[lo:hi], strict=True)]

    return f


def _linear_velocity_error(contract: Contract) -> FloatTerm | None:
    b = _command_bounds(contract, "target_vel_m_s")
    if b is None:
        return lambda s, cmd: [v - 0.0 for v in s.base_lin_vel_m_s[0].tolist()]
    lo, hi = b

    def f(s: RobotState, cmd: list[float]) -> list[float]:
        return [v - t for v, t in zip(s.base_lin_vel_m_s[0].tolist(), cmd[lo:hi], strict=True)]

    return f


def _projected_gravity(contract: Contract) -> FloatTerm:
    def f(s: RobotState, cmd: list[float]) -> list[float]:
        r = _rotmat_floats(s.base_quat_wxyz)
        return [-r[6], -r[7], -r[8]]

    return f


def _joint_pos_rel_default(contract: Contract) -> FloatTerm:
    def f(s: RobotState, cmd: list[float]) -> list[float]:
        if s.joint_default_pos_rad.shape != s.joint_pos_rad.shape:
            raise ContractError("joint_pos_rel_default_rad: default pose and joint positions differ in shape")
        return [
            p - d
            for p, d in zip(s.joint_pos_rad[0].tolist(), s.joint_default_pos_rad[0].tolist(), strict=True)
        ]

    return f


def _velocity_command(contract: Contract) -> FloatTerm | None:
    b = _command_bounds(contract, "velocity_command")
    if b is None:
        return None
    lo, hi = b
    return lambda s, cmd: cmd[lo:hi]


#: Per shared term (deploy.observations), a factory of its float version for a contract (None:
#: the contract lacks what the term needs, and the builder is used, which names the problem).
FLOAT_TERMS: dict[str, Callable[[Contract], FloatTerm | None]] = {
    "position_error_m": _position_error,
    "rotation_matrix": lambda c: lambda s, cmd: _rotmat_floats(s.base_quat_wxyz),
    "linear_velocity_error_m_s": _linear_velocity_error,
    "angular_velocity_rad_s": lambda c: lambda s, cmd: s.base_ang_vel_rad_s[0].tolist(),
    "previous_action": lambda c: lambda s, cmd: s.last_action[0].tolist(),
    "position_error_integral_m_s": _position_error,
    "projected_gravity": _projected_gravity,
    "joint_pos_rel_default_rad": _joint_pos_rel_default,
    "joint_vel_rad_s": lambda c: lambda s, cmd: s.joint_vel_rad_s[0].tolist(),
    "velocity_command": _velocity_command,
}


#: The shared functions the float versions were written from, as registered at import.
_SHARED = {name: term_function(name) for name in FLOAT_TERMS}


class BatchOneObservation:
    """ObservationBuilder(contract, 1).build() without noise, on floats; same numbers, same
    history and integrals. Construct only when supports(contract)."""

    @staticmethod
    def supports(contract: Contract) -> bool:
        """Every term has a float version here, still stands for the shared function it was
        written from (a term registered anew under a known name does not), and the contract has
        what it needs."""
        return all(
            t.name in FLOAT_TERMS
            and term_function(t.name) is _SHARED[t.name]
            and FLOAT_TERMS[t.name](contract) is not None
            for t in contract.observations
        )

    def __init__(self, contract: Contract) -> None:
        if not self.supports(contract):
            raise ContractError(f"no batch-of-one float path for the terms of {contract.task}")
        self.contract = contract
        #: The shared builder: only to raise its own error for a state it would refuse.
        self._builder = ObservationBuilder(contract, 1)
        self._command_size = contract.command_size
        dt = contract.control_dt_s
        # One entry per term: (float function, size, first stacked column, end of its history,
        # history, scale, -clip, clip, integrator or None); the row is laid out as the builder's
        # (each term's history newest first, terms in contract order).
        self._plan = []
        col = 0
        for t in contract.observations:
            integrator = None
            if t.name in INTEGRATED_TERMS:
                limit = math.inf if t.clip is None else t.clip / abs(t.scale)
                tau = t.leak_time_constant_s
                retain = 1.0 if tau is None else float(np.exp(-dt / tau))
                integrator = (dt, retain, limit, t.integrate_within, [0.0] * t.size)
            clip = math.inf if t.clip is None else float(t.clip)
            end = col + t.history * t.size
            fn = FLOAT_TERMS[t.name](contract)
            self._plan.append((fn, t.size, col, end, t.history, float(t.scale), -clip, clip, integrator))
            col = end
        self.size = col
        self._stacked = [0.0] * col
        self._pack = struct.Struct(f"={col}f").pack_into
        self._fresh = True

    def reset(self) -> None:
        """Forget history and integrals (the next build fills every history slot)."""
        self._fresh = True

    def build(self, state: RobotState, out: np.ndarray | None = None) -> np.ndarray:
        """The observation (1, D) float32 of a batch-of-one `state` (advances history and
        integrals), written into `out` ((1, D) float32, C-contiguous) when given."""
        if state.base_pos_m.shape[0] != 1:
            raise ValueError(f"state has {state.num_envs} environments, builder has 1")
        try:
            cmd = state.command[0].tolist()
            if len(cmd) != self._command_size:
                raise ContractError(f"command has {len(cmd)} values, expected {self._command_size}")
            values = []
            for fn, size, *_ in self._plan:
                v = fn(state, cmd)
                if len(v) != size:
                    raise ContractError(f"an observation term gave {len(v)} values, expected {size}")
                values.append(v)
        except Exception:
            self._builder.raw_terms(state)  # raises the shared code's error, naming the mismatch
            raise
        fresh = self._fresh
        stacked = self._stacked
        for v, plan in zip(values, self._plan, strict=True):
            _, size, col, end, history, scale, lo, hi, integrator = plan
            if integrator is not None:
                v = _integrate(integrator, v, fresh)
            if scale != 1.0:  # x · 1.0 is x, bit for bit
                v = [x * scale for x in v]
            if hi != math.inf:  # np.minimum(np.maximum(x, -clip), clip), NaN passing through
                v = [lo if x < lo else hi if x > hi else x for x in v]
            if history == 1:
                stacked[col:end] = v
            elif fresh:  # every history slot holds the newest value
                stacked[col:end] = v * history
            else:  # older slots move one place back
                stacked[col + size : end] = stacked[col : end - size]
                stacked[col : col + size] = v
        self._fresh = False
        if out is None:
            out = np.empty((1, self.size), dtype=np.float32)
        try:
            self._pack(out, 0, *stacked)
        except (OverflowError, struct.error, TypeError, ValueError):  # beyond float32, or an odd buffer
            out[0] = stacked
        return out


def _integrate(integrator: tuple, value: list[float], fresh: bool) -> list[float]:
    """The integrated term's new value (and state): zero when fresh, else retain · integral +
    value · dt (the step zero while ‖value‖ > integrate_within), clipped to ±limit."""
    dt, retain, limit, within, integral = integrator
    if fresh:
        acc = [0.0] * len(value)
    elif within is not None and not math.sqrt(sum([x * x for x in value])) <= within:
        acc = [retain * i + 0.0 for i in integral]
    else:
        acc = [retain * i + x * dt for i, x in zip(integral, value, strict=True)]
    lo = -limit
    integral[:] = [lo if x < lo else limit if x > limit else x for x in acc]
    return integral.copy()
