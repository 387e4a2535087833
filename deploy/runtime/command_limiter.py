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

import numpy as np

from deploy.actions import action_bounds
from deploy.contract import Contract


class CommandLimiter:
    def __init__(self, contract: Contract, rate_limits_per_s: dict[str, float], control_dt_s: float) -> None:
        self.low, self.high = action_bounds(contract)
        rate = np.concatenate(
            [np.full(t.size, rate_limits_per_s.get(t.name, np.inf)) for t in contract.actions]
        )
        self.max_step = rate * control_dt_s
        self._previous = np.clip(np.zeros_like(self.low), self.low, self.high)

    @property
    def previous(self) -> np.ndarray:
        return self._previous.copy()

    def reset(self, action: np.ndarray) -> None:
        """Make `action` (sanitized) the previous command, e.g. what the actuators do at arming."""
        a = np.asarray(action, dtype=np.float64).reshape(self.low.shape)
        a = np.where(np.isfinite(a), a, self._previous)
        self._previous = np.clip(a, self.low, self.high)

    def limit(self, action: np.ndarray) -> np.ndarray:
        """The command to send for the requested `action` (A,): finite, in bounds, rate-limited."""
        a = np.asarray(action, dtype=np.float64).reshape(self.low.shape)
        prev = self._previous
        a = np.where(np.isfinite(a), a, prev)
        a = np.clip(a, self.low, self.high)
        step = a - prev
        # Only where the step is too large: a command within the limit passes bit for bit.
        a = np.where(np.abs(step) > self.max_step, prev + np.clip(step, -self.max_step, self.max_step), a)
        a = np.clip(a, self.low, self.high)
        self._previous = a
        return a.copy()

    def stop(self, action: np.ndarray) -> np.ndarray:
        """Like limit() without the rate limit: for commands that remove power."""
        self.reset(action)
        return self._previous.copy()
