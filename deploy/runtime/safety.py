"""Safety supervisor: the runtime's states, the faults it watches for, and ONE transition table.

States
------
DISARMED   outputs stop (quadrotor: motors off; legged: damping). The only state that can arm.
STARTING   quadrotor: motors idle, then spin up to hover; legged: interpolate to the default pose.
RUNNING    the policy commands the robot.
FAILSAFE   quadrotor: the PID baseline holds position, then lands; legged: damping.
ESTOP      outputs stop; latched until an operator resets it.

Transition table (the code below, TRANSITIONS, is this table; a test checks
they agree). Any (state, event) pair not listed leaves the state unchanged.

============  ================  ============  =================================================
from          event             to            when
============  ================  ============  =================================================
DISARMED      arm               STARTING      commanded; refused unless every arming check passes
DISARMED      estop             ESTOP         external e-stop
STARTING      started           RUNNING       start-up sequence complete
STARTING      disarm            DISARMED      commanded
STARTING      fault             DISARMED      any fault below: start-up aborted, the robot has not left
                                              its start pose, so outputs stop (legged: damping)
STARTING      estop             ESTOP         external e-stop
RUNNING       disarm            FAILSAFE      commanded: a controlled stop (land / damp), never a drop
RUNNING       fault             FAILSAFE      any fault below
RUNNING       estop             ESTOP         external e-stop
FAILSAFE      failsafe_done     DISARMED      quadrotor landed; legged damping time elapsed
FAILSAFE      failsafe_timeout  ESTOP         landing not complete in time, or no usable state for too long
FAILSAFE      estop             ESTOP         external e-stop
ESTOP         reset             DISARMED      commanded, once the e-stop is released
============  ================  ============  =================================================

Faults and their bounded responses (a "cycle" is one control period; the
runtime checks faults at the start of every cycle, before computing an output).
In RUNNING a fault means FAILSAFE, in STARTING it means DISARMED (as above):

=====================  =======================================================  ===========================
fault                  detected when                                            response, bound
=====================  =======================================================  ===========================
stale_input            a required input is missing or older than its max_age_s  FAILSAFE output that cycle
nonfinite_input        the newest message of a required input was rejected       FAILSAFE output that cycle
                       (NaN/inf, wrong size, not a unit quaternion, ...)         (it never reaches the policy)
stamp_backwards        the newest message of a required input is stamped         FAILSAFE output that cycle
                       earlier than the one before it                            (it never reaches the policy)
stamp_future           ... is stamped ahead of the stamp clock by more than      FAILSAFE output that cycle
                       stamps.future_tolerance_s                                 (it never reaches the policy)
stamp_too_old          ... is stamped, or the value in use now is, more than     FAILSAFE output that cycle
                       its stamp_max_age_s behind the stamp clock                (deploy.runtime.stamps)
nonfinite_output       the policy's action is not finite                        FAILSAFE output that cycle
deadline_miss_streak   max_deadline_miss_streak consecutive missed deadlines    FAILSAFE output the next cycle
tilt_limit             tilt above limits.max_tilt_deg                           FAILSAFE output that cycle
geofence               position outside limits.geofence_{min,max}_m             FAILSAFE output that cycle
joint_limit            a joint outside limits.joint_limits_rad                  FAILSAFE output that cycle
external_estop         Runtime.estop() called (any thread)                      ESTOP output at the next
                                                                                cycle start (≤ 1 period)
=====================  =======================================================  ===========================

Quadrotor FAILSAFE: the PID holds the position where the fault happened
(moved inside the geofence) for hold_s, then descends at land_speed_m_s;
landed (near ground_z_m, slow, for landed_s) → motors stop, DISARMED. It flies
on the newest good odometry while that is at most state_max_age_s old (a
rejected message does not end it); without such a state it descends open
loop on equal motor thrust, and after blind_descent_max_s of that → ESTOP. Legged
FAILSAFE: damping (kp 0, kd damping_kd) for damping_s → DISARMED (damping).
FAILSAFE is latched: it does not return to RUNNING when the fault clears.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

log = logging.getLogger("tether.runtime.safety")


class State(StrEnum):
    DISARMED = "DISARMED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FAILSAFE = "FAILSAFE"
    ESTOP = "ESTOP"


class Event(StrEnum):
    ARM = "arm"
    STARTED = "started"
    DISARM = "disarm"
    FAULT = "fault"
    FAILSAFE_DONE = "failsafe_done"
    FAILSAFE_TIMEOUT = "failsafe_timeout"
    ESTOP = "estop"
    RESET = "reset"


class Fault(StrEnum):
    STALE_INPUT = "stale_input"
    NONFINITE_INPUT = "nonfinite_input"
    STAMP_BACKWARDS = "stamp_backwards"
    STAMP_FUTURE = "stamp_future"
    STAMP_TOO_OLD = "stamp_too_old"
    NONFINITE_OUTPUT = "nonfinite_output"
    DEADLINE_MISS_STREAK = "deadline_miss_streak"
    TILT_LIMIT = "tilt_limit"
    GEOFENCE = "geofence"
    JOINT_LIMIT = "joint_limit"
    EXTERNAL_ESTOP = "external_estop"


S, E = State, Event

#: The one transition table; see the module docstring for the same table with reasons.
TRANSITIONS: dict[tuple[State, Event], State] = {
    (S.DISARMED, E.ARM): S.STARTING,
    (S.DISARMED, E.ESTOP): S.ESTOP,
    (S.STARTING, E.STARTED): S.RUNNING,
    (S.STARTING, E.DISARM): S.DISARMED,
    (S.STARTING, E.FAULT): S.DISARMED,
    (S.STARTING, E.ESTOP): S.ESTOP,
    (S.RUNNING, E.DISARM): S.FAILSAFE,
    (S.RUNNING, E.FAULT): S.FAILSAFE,
    (S.RUNNING, E.ESTOP): S.ESTOP,
    (S.FAILSAFE, E.FAILSAFE_DONE): S.DISARMED,
    (S.FAILSAFE, E.FAILSAFE_TIMEOUT): S.ESTOP,
    (S.FAILSAFE, E.ESTOP): S.ESTOP,
    (S.ESTOP, E.RESET): S.DISARMED,
}


_ALARMS = (Event.FAULT, Event.FAILSAFE_TIMEOUT, Event.ESTOP)


@dataclass(frozen=True)
class FaultReport:
    fault: Fault
    detail: str

    def __str__(self) -> str:
        return f"{self.fault.value}: {self.detail}"


@dataclass(frozen=True)
class Transition:
    time_s: float
    before: State
    event: Event
    after: State
    reason: str


class SafetySupervisor:
    """The state machine: applies TRANSITIONS, logs and remembers every transition."""

    def __init__(self, history: int = 64) -> None:
        self.state = State.DISARMED
        self.history: deque[Transition] = deque(maxlen=history)

    def handle(self, event: Event, time_s: float, reason: str = "") -> bool:
        """Apply `event`; True when the state changed. Unlisted pairs leave the state as is."""
        after = TRANSITIONS.get((self.state, event))
        if after is None:
            return False
        t = Transition(time_s, self.state, event, after, reason)
        self.history.append(t)
        level = logging.WARNING if event in _ALARMS else logging.INFO
        log.log(
            level,
            "%s → %s on %s%s",
            t.before.value,
            after.value,
            event.value,
            f" ({reason})" if reason else "",
        )
        self.state = after
        return True
