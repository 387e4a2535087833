"""The last stage of every command: finite, clipped to the contract, rate-limited.

Works in action units (the policy's space, e.g. [-1, 1]); the contract's
offset/scale map the result to actuator units afterwards. A non-finite
entry is replaced by the previous command's entry (hold, not jump); then the
command is clipped to each action term's [low, high], and its change from
the previous command is limited to rate × control period per element. The
previous command is always finite and within bounds, so the output is too,
whatever came in. The rate limit uses the nominal period, not the measured
one, so a late cycle cannot buy a larger step.

`stop()` is the one bypass: cutting power (DISARMED, ESTOP, landed) must not
be delayed by the rate limit. It still yields a finite, clipped command.
"""

from __future__ import annotations

import math

import numpy as np

from deploy.actions import action_bounds
from deploy.contract import Contract

#: Up to this many actions, limit() works on plain floats (measured faster than NumPy's per-call
#: overhead: 4 actions ≈ 4 µs against ≈ 8 µs of CPU time); above it on NumPy in place (12 actions:
#: ≈ 8 µs against ≈ 9 µs on floats). Both do the same operations in the same order.
FLOAT_PATH_MAX_ACTIONS = 8


class CommandLimiter:
    def __init__(self, contract: Contract, rate_limits_per_s: dict[str, float], control_dt_s: float) -> None:
        self.low, self.high = action_bounds(contract)
        rate = np.concatenate(
            [np.full(t.size, rate_limits_per_s.get(t.name, np.inf)) for t in contract.actions]
        )
        self.max_step = rate * control_dt_s
        self._previous = np.clip(np.zeros_like(self.low), self.low, self.high)
        self._floats = self.low.size <= FLOAT_PATH_MAX_ACTIONS
        self._bounds = list(zip(self.low.tolist(), self.high.tolist(), self.max_step.tolist(), strict=True))
        self._neg_max_step = -self.max_step
        self._ok = np.empty(self.low.shape, dtype=bool)
        self._step = np.empty(self.low.shape)
        self._big = np.empty(self.low.shape, dtype=bool)

    @property
    def previous(self) -> np.ndarray:
        return self._previous.copy()

    @property
    def previous_view(self) -> np.ndarray:
        """The previous command itself, one array for the limiter's life, overwritten by every
        command (read it, do not keep its values)."""
        return self._previous

    def reset(self, action: np.ndarray) -> None:
        """Make `action` (sanitized) the previous command, e.g. what the actuators do at arming."""
        a = np.asarray(action, dtype=np.float64).reshape(self.low.shape)
        a = np.where(np.isfinite(a), a, self._previous)
        # in place: the array stays the one previous_view handed out (the compiled cycle writes it)
        np.copyto(self._previous, np.clip(a, self.low, self.high))

    def limit(self, action: np.ndarray) -> np.ndarray:
        """The command to send for the requested `action` (A,): finite, in bounds, rate-limited."""
        if self._floats:
            return self._limit_floats(action)
        a = np.array(action, dtype=np.float64).reshape(self.low.shape)
        prev, low, high = self._previous, self.low, self.high
        ok = np.isfinite(a, out=self._ok)
        if not ok.all():
            np.copyto(a, prev, where=~ok)
        np.minimum(np.maximum(a, low, out=a), high, out=a)
        step = np.subtract(a, prev, out=self._step)
        # Only where the step is too large: a command within the limit passes bit for bit.
        big = np.greater(np.abs(step), self.max_step, out=self._big)
        if big.any():
            np.copyto(a, prev + np.minimum(np.maximum(step, self._neg_max_step), self.max_step), where=big)
            np.minimum(np.maximum(a, low, out=a), high, out=a)
        self._previous[:] = a
        return a

    def _limit_floats(self, action: np.ndarray) -> np.ndarray:
        values = np.asarray(action, dtype=np.float64).reshape(self.low.shape).tolist()
        return np.array(self.limit_values(values))

    def limit_values(self, values: list[float]) -> list[float]:
        """limit() on plain floats, whatever the number of actions (the runtime's cycle: the
        policy's action as a list, the command as a list; the previous command is updated in
        place). The same operations in the same order as limit()."""
        prev = self._previous
        out = []
        # min(max(a, lo), hi) written as comparisons (no calls): the same result for every finite a
        for a, p, (lo, hi, m) in zip(values, prev.tolist(), self._bounds, strict=True):
            if not math.isfinite(a):
                a = p
            a = lo if a < lo else hi if a > hi else a
            step = a - p
            if step > m or step < -m:  # only where the step is too large: within it passes bit for bit
                a = p + (m if step > m else -m)
                a = lo if a < lo else hi if a > hi else a
            out.append(a)
        prev[:] = out
        return out

    def stop(self, action: np.ndarray) -> np.ndarray:
        """Like limit() without the rate limit: for commands that remove power."""
        self.reset(action)
        return self._previous.copy()
