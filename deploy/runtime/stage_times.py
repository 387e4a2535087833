"""Where a control cycle's time goes: per-stage durations of the newest cycles.

Off by default (Runtime.stage_times is None: the cycle then pays one attribute test per stage).
`tether bench loop` switches it on to report each stage's p50/p99:

    input_store   Runtime.put of the cycle's inputs (checks, copies, stamp rules)
    compiled      the nominal cycle in one compiled call (deploy.runtime.compiled_cycle), from the
                  input checks to the actuator command: the five stages below it in one
    inputs        staleness / validity of each required input
    state         the newest inputs assembled into the RobotState
    safety        limit checks, faults, the state machine
    observation   the contract observation, built into the inference input
    inference     ONNX Runtime
    limiter       clip, rate limit, final guard, actuator order
    publish       the node's output: the actuator message built and written

Durations are wall-clock nanoseconds from `clock_ns` (default time.perf_counter_ns); stages a
cycle did not reach count zero for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

STAGES = (
    "input_store", "compiled", "inputs", "state", "safety", "observation", "inference", "limiter", "publish",
)  # fmt: skip


class StageTimes:
    def __init__(self, window: int = 100_000, clock_ns: Callable[[], int] = time.perf_counter_ns) -> None:
        self._clock = clock_ns
        self._index = {s: k for k, s in enumerate(STAGES)}
        self._window = window
        self._ns = np.zeros((window, len(STAGES)), dtype=np.int64)
        self._current = [0] * len(STAGES)
        self._t = 0
        self.cycles = 0

    def start(self) -> None:
        """A stage begins now (the first of a cycle, or one after a pause that is not measured)."""
        self._t = self._clock()

    def lap(self, stage: str) -> None:
        """`stage` ended now: the time since the last start()/lap() is added to it."""
        t = self._clock()
        self._current[self._index[stage]] += t - self._t
        self._t = t

    def commit(self) -> None:
        """The cycle is over: record its stages and begin the next cycle at zero."""
        self._ns[self.cycles % self._window] = self._current
        self._current = [0] * len(STAGES)
        self.cycles += 1

    def percentiles_us(self, qs: tuple[float, ...] = (50.0, 99.0)) -> dict[str, dict[str, float]]:
        """{stage: {"p50_us": ..., "p99_us": ...}} over the recorded cycles, plus "total" (the
        sum of the stages per cycle)."""
        n = min(self.cycles, self._window)
        rows = self._ns[:n]
        out: dict[str, dict[str, float]] = {}
        columns = [*((s, rows[:, k]) for k, s in enumerate(STAGES)), ("total", rows.sum(axis=1))]
        for name, v in columns:
            out[name] = {f"p{q:g}_us": float(np.percentile(v, q)) * 1e-3 if n else 0.0 for q in qs}
        return out
