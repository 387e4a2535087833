"""The latest value of each asynchronous input, with its timestamp, age and validity.

Transports (DDS, rclpy, a simulator bridge) call put() from their own threads
whenever a message arrives; the control loop reads a consistent view once per
cycle. A value that is malformed or not finite is rejected: it never replaces
the last good value and never reaches the policy, and the input is marked
invalid until the next good value arrives (a fault while it lasts). What
is stored is a checked, read-only float64 copy, so every stored value is
finite and well-formed.
Staleness limits per input come from the runtime configuration.

Payloads are in Tether's frames (REP-103, quaternions w, x, y, z); converting
from a message's frames (PX4 NED/FRD, ROS Odometry's body-frame twist)
happens in the transport, once. Timestamps are seconds on the runtime's
monotonic clock (the receive time when the transport gives none).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from deploy.runtime.config import InputSpec


class InputRejectedError(ValueError):
    """A message that cannot be used: the reason says which field and why."""


@dataclass(frozen=True)
class Odometry:
    """Base pose and twist: position (world ENU, m), attitude body→world (w, x, y, z),
    linear velocity (world, m/s), angular velocity (body FLU, rad/s)."""

    pos_m: np.ndarray
    quat_wxyz: np.ndarray
    lin_vel_m_s: np.ndarray
    ang_vel_rad_s: np.ndarray

    def checked(self) -> Odometry:
        return Odometry(
            _vector("pos_m", self.pos_m, 3),
            _unit_quaternion(_vector("quat_wxyz", self.quat_wxyz, 4)),
            _vector("lin_vel_m_s", self.lin_vel_m_s, 3),
            _vector("ang_vel_rad_s", self.ang_vel_rad_s, 3),
        )


@dataclass(frozen=True)
class Imu:
    """Attitude body→world (w, x, y, z), angular velocity (body, rad/s), specific force (body, m/s²)."""

    quat_wxyz: np.ndarray
    ang_vel_rad_s: np.ndarray
    lin_acc_m_s2: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def checked(self) -> Imu:
        return Imu(
            _unit_quaternion(_vector("quat_wxyz", self.quat_wxyz, 4)),
            _vector("ang_vel_rad_s", self.ang_vel_rad_s, 3),
            _vector("lin_acc_m_s2", self.lin_acc_m_s2, 3),
        )


@dataclass(frozen=True)
class JointStates:
    """Measured joints by name: positions (rad) and velocities (rad/s), in any order."""

    names: tuple[str, ...]
    pos_rad: np.ndarray
    vel_rad_s: np.ndarray

    def checked(self) -> JointStates:
        names = tuple(str(n) for n in self.names)
        if len(set(names)) != len(names):
            raise InputRejectedError(f"names contain duplicates: {list(names)}")
        n = len(names)
        return JointStates(
            names, _vector("pos_rad", self.pos_rad, n), _vector("vel_rad_s", self.vel_rad_s, n)
        )


@dataclass(frozen=True)
class Command:
    """The task command (RobotState.command), laid out as the contract's command terms."""

    value: np.ndarray

    def checked(self) -> Command:
        return Command(_vector("value", self.value, None))


Payload = Odometry | Imu | JointStates | Command


def _vector(name: str, value: object, size: int | None) -> np.ndarray:
    """A finite float64 copy of `value` with `size` entries, or InputRejectedError saying why not."""
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputRejectedError(f"{name} is not numeric ({type(value).__name__})") from None
    if a.ndim != 1 or (size is not None and a.shape[0] != size):
        want = "a vector" if size is None else f"{size} values"
        raise InputRejectedError(f"{name} has shape {a.shape}, expected {want}")
    if not np.all(np.isfinite(a)):
        raise InputRejectedError(f"{name} is not finite: {a.tolist()}")
    a.flags.writeable = False
    return a


def _unit_quaternion(q: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # a huge but finite entry is just another bad quaternion
        n = float(np.linalg.norm(q))
    if not 0.9 < n < 1.1:
        raise InputRejectedError(f"quat_wxyz has norm {n:.3g}, expected a unit quaternion")
    return q


@dataclass(frozen=True)
class Sample:
    value: Payload
    stamp_s: float


@dataclass(frozen=True)
class InputStatus:
    """One input as the loop sees it at `now`: age is inf when nothing was ever received."""

    name: str
    present: bool
    age_s: float
    stale: bool
    invalid: str | None  # why the newest message was rejected; None when it was good
    received: int
    rejected: int

    @property
    def ok(self) -> bool:
        return self.present and not self.stale and self.invalid is None


class InputStore:
    """Thread-safe latest-value store for the inputs named by `specs`."""

    def __init__(self, specs: Iterable[InputSpec], clock: Callable[[], float] = time.monotonic) -> None:
        self.specs = {s.name: s for s in specs}
        self.clock = clock
        self._lock = threading.Lock()
        self._latest: dict[str, Sample] = {}
        self._invalid: dict[str, str] = {}
        self._received = dict.fromkeys(self.specs, 0)
        self._rejected = dict.fromkeys(self.specs, 0)

    def put(self, name: str, value: Payload, stamp_s: float | None = None) -> bool:
        """Store `value` as the newest `name`; False (and the input marked invalid) if it is unusable."""
        if name not in self.specs:
            raise KeyError(f"unknown input '{name}'; this store holds {sorted(self.specs)}")
        stamp = self.clock() if stamp_s is None else stamp_s
        why = None
        try:
            # A validated, read-only copy: a transport reusing its buffers cannot change it later.
            checked = value.checked()
        except InputRejectedError as exc:
            why = str(exc)
        except Exception as exc:  # garbage from the wire must not take the loop down
            why = f"unreadable {type(value).__name__}: {exc!r}"
        if why is None and not np.isfinite(stamp):
            why = f"timestamp {stamp} is not finite"
        with self._lock:
            if why is not None:
                self._invalid[name] = why
                self._rejected[name] += 1
                return False
            self._latest[name] = Sample(checked, float(stamp))
            self._invalid.pop(name, None)
            self._received[name] += 1
            return True

    def get(self, name: str) -> Sample | None:
        with self._lock:
            return self._latest.get(name)

    def latest(self, names: Iterable[str]) -> dict[str, Sample]:
        """The newest good sample of each present input among `names`, read under one lock."""
        with self._lock:
            return {n: self._latest[n] for n in names if n in self._latest}

    def status(self, name: str, now_s: float | None = None) -> InputStatus:
        now = self.clock() if now_s is None else now_s
        spec = self.specs[name]
        with self._lock:
            sample = self._latest.get(name)
            invalid = self._invalid.get(name)
            received, rejected = self._received[name], self._rejected[name]
        age = float("inf") if sample is None else now - sample.stamp_s
        stale = sample is None or (spec.max_age_s is not None and age > spec.max_age_s)
        return InputStatus(name, sample is not None, age, stale, invalid, received, rejected)

    def clear(self) -> None:
        """Forget every value (e.g. when the robot is re-initialized)."""
        with self._lock:
            self._latest.clear()
            self._invalid.clear()
