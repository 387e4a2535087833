"""Judging a message by its own stamp (header.stamp), beside its arrival time.

Arrival age (InputStore, max_age_s) says when a message reached this process; the stamp says
when the sender measured it. A sensor driver that re-sends old data, a clock that jumps, a
second publisher on the topic or a replayed message arrive on time with a wrong stamp; these
rules catch them (configuration: runtime.yaml, `stamps:` and `inputs.*.stamp_max_age_s`):

=================  ===============================================================================
fault              a message of a required input ...
=================  ===============================================================================
stamp_backwards    is stamped earlier than the previous stamped message of that input
stamp_future       is stamped more than stamps.future_tolerance_s ahead of the stamp clock
stamp_too_old      is stamped more than stamp_max_age_s behind the stamp clock (checked on
                   arrival, and every cycle for the value in use, whose stamp ages too)
=================  ===============================================================================

Such a message is refused (never stored, never reaches the policy or the failsafe), counted per
reason, and the input is in fault until the next good message, as for a non-finite one; the
response is the safety table's (RUNNING → FAILSAFE, STARTING → DISARMED, arming refused).
A message refused as from the future does not become the reference for `stamp_backwards` (one
bad clock reading cannot lock the input out); every other stamped message does, so after a
sender's clock really steps back, one message is refused and the next ones are judged afresh.

No stamp: a zero stamp (sec = nanosec = 0, what a frozen simulator or a driver that never sets
the header sends) or none at all means "unstamped": the message is judged by arrival only,
counted as unstamped (diagnostics), and the first one per input is logged.

The stamp clock is what "now" means for a stamp (stamps.clock):
  system  the wall clock (time.time(), ROS time without use_sim_time); the robot's computers must
          be synchronized (chrony / PTP) to within the future tolerance.
  sim     simulation time (ROS time with use_sim_time): the newest /clock message, which the
          policy node feeds in, advanced by the monotonic time since it arrived. /clock is a
          message too: a node that was descheduled for a while handles the sensor messages that
          queued up before the newest /clock, and without the advance their stamps would look
          like the future (seen in HIL on a loaded machine: 90 ms). The simulator runs at most in
          real time, so the advance never makes a stamp look younger than it is. Until a
          non-zero /clock arrives, only stamp_backwards is checked.
  none    no clock: only stamp_backwards is checked (senders with an unsynchronized clock).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from deploy.runtime.safety import Fault

STAMP_CLOCKS = ("system", "sim", "none")

#: The faults these rules raise, in the order they are checked.
STAMP_FAULTS = (Fault.STAMP_BACKWARDS, Fault.STAMP_FUTURE, Fault.STAMP_TOO_OLD)


class StampClock:
    """The clock stamps are judged against; now_s() is None while it has no time to offer."""

    def __init__(
        self,
        kind: str = "system",
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if kind not in STAMP_CLOCKS:
            raise ValueError(f"stamps.clock must be one of {list(STAMP_CLOCKS)}, found {kind!r}")
        self.kind = kind
        self._wall = wall
        self._monotonic = monotonic
        self._sim: tuple[float, float] | None = None  # (newest /clock, monotonic time it arrived)
        self._lock = threading.Lock()

    def set_sim_time(self, t_s: float) -> None:
        """The newest /clock (sim clocks only); zero or non-finite means "no time yet"."""
        received = self._monotonic()
        with self._lock:
            self._sim = (t_s, received) if math.isfinite(t_s) and t_s != 0.0 else None

    def now_s(self) -> float | None:
        if self.kind == "system":
            return self._wall()
        if self.kind == "sim":
            with self._lock:
                sim = self._sim
            return None if sim is None else sim[0] + (self._monotonic() - sim[1])
        return None

    def describe(self) -> str:
        return _CLOCK_NAMES[self.kind]


#: How a fault message names each stamp clock (looked up on every stamped message: made once).
_CLOCK_NAMES = {"system": "the system clock", "sim": "the simulation clock (/clock)", "none": "no clock"}


@dataclass(frozen=True)
class StampProblem:
    fault: Fault
    detail: str

    def __str__(self) -> str:
        return f"{self.fault.value}: {self.detail}"


def judge_stamp(
    stamp_s: float,
    previous_s: float | None,
    clock_now_s: float | None,
    max_age_s: float | None,
    future_tolerance_s: float | None,
    clock: str = "the stamp clock",
) -> StampProblem | None:
    """The first rule `stamp_s` breaks (stamp_backwards, stamp_future, stamp_too_old), or None."""
    if previous_s is not None and stamp_s < previous_s:
        return StampProblem(
            Fault.STAMP_BACKWARDS,
            f"stamp {stamp_s:.6f} s is {(previous_s - stamp_s) * 1e3:.1f} ms before the previous message's "
            f"{previous_s:.6f} s; stamps must not go backwards (a sender's clock stepped back, a replay, "
            "or two publishers on one topic)",
        )
    if clock_now_s is None:
        return None
    ahead_s = stamp_s - clock_now_s
    if future_tolerance_s is not None and ahead_s > future_tolerance_s:
        return StampProblem(
            Fault.STAMP_FUTURE,
            f"stamp is {ahead_s * 1e3:.1f} ms ahead of {clock} "
            f"(tolerance {future_tolerance_s * 1e3:.1f} ms); synchronize the sender's clock with "
            "this computer's, or raise stamps.future_tolerance_s",
        )
    behind_s = -ahead_s
    if max_age_s is not None and behind_s > max_age_s:
        return StampProblem(Fault.STAMP_TOO_OLD, too_old_detail(behind_s, max_age_s, clock))
    return None


def too_old_detail(behind_s: float, max_age_s: float, clock: str = "the stamp clock") -> str:
    return (
        f"stamp is {behind_s * 1e3:.1f} ms behind {clock} (stamp_max_age_s {max_age_s * 1e3:.1f} ms); "
        "the sender delivers old data or its clock lags this computer's"
    )
