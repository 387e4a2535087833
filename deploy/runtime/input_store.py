"""The latest value of each asynchronous input, with its timestamp, age and validity.

Transports (DDS, rclpy, a simulator bridge) call put() from their own threads
whenever a message arrives; the control loop reads a consistent view once per
cycle. A value that is malformed or not finite is rejected: it never replaces
the last good value and never reaches the policy, and the input is marked
invalid until the next good value arrives (a fault while it lasts). What
is stored is a checked, read-only float64 copy, so every stored value is
finite and well-formed.
Staleness limits per input come from the runtime configuration.

Each message may also carry its own stamp (the sender's header.stamp, seconds on the stamp clock,
deploy.runtime.stamps): a message stamped backwards, from the future or too long ago is refused
like a malformed one, counted per reason, and the stored value's stamp age is checked every cycle.
A message without a stamp (None; the transports pass a zero header stamp as None) is judged by
arrival only and counted as unstamped.

With a compiled cycle (deploy/runtime/compiled_cycle.py), the store also keeps the C's view of the
inputs (its InputMirror) in step on every put, and a sample the C stored from its bytes
(accept_compiled) is taken into the Python view, with put()'s bookkeeping, before anything here
reads or changes it; what every reader sees is the same as if put() had stored it.

Payloads are in Tether's frames (REP-103, quaternions w, x, y, z); converting
from a message's frames (PX4 NED/FRD, ROS Odometry's body-frame twist)
happens in the transport, once. Timestamps are seconds on the runtime's
monotonic clock (the receive time when the transport gives none).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from deploy.runtime.config import InputSpec
from deploy.runtime.safety import Fault
from deploy.runtime.stamps import STAMP_FAULTS, StampClock, StampProblem, judge_stamp, too_old_detail

if TYPE_CHECKING:
    from deploy.runtime.compiled_cycle import CompiledCycle, InputMirror


class InputRejectedError(ValueError):
    """A message that cannot be used: the reason says which field and why."""


class _Checked:
    """A payload that passed its checked() (or the same checks in of_floats): the store keeps it as
    it is."""

    def checked(self) -> _Checked:
        return self


@dataclass(frozen=True)
class Odometry:
    """Base pose and twist: position (world ENU, m), attitude body→world (w, x, y, z),
    linear velocity (world, m/s), angular velocity (body FLU, rad/s)."""

    pos_m: np.ndarray
    quat_wxyz: np.ndarray
    lin_vel_m_s: np.ndarray
    ang_vel_rad_s: np.ndarray

    def checked(self) -> Odometry:
        return _CheckedOdometry(
            _vector("pos_m", self.pos_m, 3),
            _unit_quaternion(_vector("quat_wxyz", self.quat_wxyz, 4)),
            _vector("lin_vel_m_s", self.lin_vel_m_s, 3),
            _vector("ang_vel_rad_s", self.ang_vel_rad_s, 3),
        )

    @staticmethod
    def of_floats(
        pos_m: tuple[float, float, float],
        quat_wxyz: tuple[float, float, float, float],
        lin_vel_m_s: tuple[float, float, float],
        ang_vel_rad_s: tuple[float, float, float],
    ) -> Odometry:
        """An Odometry of a message's plain floats (a transport's decoder), checked on the floats
        at once when checked() would accept it, so the store does not copy and check it again;
        otherwise unchecked, and the store refuses it with checked()'s reason."""
        vectors = (*pos_m, *lin_vel_m_s, *ang_vel_rad_s)
        if _finite_unit_quaternion(quat_wxyz) and all(map(math.isfinite, vectors)):
            return Odometry.of_checked_values(
                read_only_copy((*pos_m, *quat_wxyz, *lin_vel_m_s, *ang_vel_rad_s))
            )
        return Odometry(np.array(pos_m), np.array(quat_wxyz), np.array(lin_vel_m_s), np.array(ang_vel_rad_s))

    @staticmethod
    def of_checked_values(values: np.ndarray) -> Odometry:
        """The checked Odometry of read-only float64 `values` (13: position, attitude w x y z,
        world linear velocity, body angular velocity) that already passed of_floats' checks
        (of_floats; deploy/transport/compiled_decode.py): kept as views, not checked again."""
        return _CheckedOdometry(values[0:3], values[3:7], values[7:10], values[10:13])


class _CheckedOdometry(_Checked, Odometry):
    """An Odometry that passed checked(): finite read-only float64 vectors, a unit quaternion."""


def _finite_unit_quaternion(q: tuple[float, float, float, float]) -> bool:
    """What checked() accepts of a quaternion: finite, norm within (0.9, 1.1)."""
    w, x, y, z = q
    if not all(map(math.isfinite, q)):
        return False
    n = math.sqrt(w * w + x * x + y * y + z * z)  # as _unit_quaternion
    return 0.9 < n < 1.1


def read_only_copy(values: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """A read-only float64 copy of a sample's values (its floats, or a decoder's output buffer),
    which the payload's of_checked_values cuts into its vectors: one array per sample instead of
    one per field (≈ 2 against ≈ 5.4 µs for odometry's four)."""
    a = np.array(values, dtype=np.float64)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Imu:
    """Attitude body→world (w, x, y, z), angular velocity (body, rad/s), specific force (body, m/s²)."""

    quat_wxyz: np.ndarray
    ang_vel_rad_s: np.ndarray
    lin_acc_m_s2: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def checked(self) -> Imu:
        return _CheckedImu(
            _unit_quaternion(_vector("quat_wxyz", self.quat_wxyz, 4)),
            _vector("ang_vel_rad_s", self.ang_vel_rad_s, 3),
            _vector("lin_acc_m_s2", self.lin_acc_m_s2, 3),
        )

    @staticmethod
    def of_floats(
        quat_wxyz: tuple[float, float, float, float],
        ang_vel_rad_s: tuple[float, float, float],
        lin_acc_m_s2: tuple[float, float, float],
    ) -> Imu:
        """As Odometry.of_floats, for an IMU sample."""
        if _finite_unit_quaternion(quat_wxyz) and all(map(math.isfinite, (*ang_vel_rad_s, *lin_acc_m_s2))):
            return Imu.of_checked_values(read_only_copy((*quat_wxyz, *ang_vel_rad_s, *lin_acc_m_s2)))
        return Imu(np.array(quat_wxyz), np.array(ang_vel_rad_s), np.array(lin_acc_m_s2))

    @staticmethod
    def of_checked_values(values: np.ndarray) -> Imu:
        """As Odometry.of_checked_values, for an IMU sample's 10 values (attitude w x y z,
        angular velocity, linear acceleration)."""
        return _CheckedImu(values[0:4], values[4:7], values[7:10])


class _CheckedImu(_Checked, Imu):
    """An Imu that passed checked()."""


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
        return _CheckedJointStates(
            names, _vector("pos_rad", self.pos_rad, n), _vector("vel_rad_s", self.vel_rad_s, n)
        )

    @staticmethod
    def of_floats(
        names: tuple[str, ...], pos_rad: tuple[float, ...], vel_rad_s: tuple[float, ...]
    ) -> JointStates:
        """As Odometry.of_floats, for joints given by `names` (str), positions and velocities."""
        n = len(names)
        if (
            len(pos_rad) == n
            and len(vel_rad_s) == n
            and len(set(names)) == n
            and all(map(math.isfinite, pos_rad))
            and all(map(math.isfinite, vel_rad_s))
        ):
            return JointStates.of_checked_values(names, read_only_copy((*pos_rad, *vel_rad_s)))
        return JointStates(names, np.array(pos_rad, dtype=np.float64), np.array(vel_rad_s, dtype=np.float64))

    @staticmethod
    def of_checked_values(names: tuple[str, ...], values: np.ndarray) -> JointStates:
        """As Odometry.of_checked_values, for distinct `names` and their positions then velocities."""
        n = len(names)
        return _CheckedJointStates(names, values[:n], values[n:])


class _CheckedJointStates(_Checked, JointStates):
    """JointStates that passed checked()."""


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
    # plain floats for a message's few values (several times cheaper than NumPy's isfinite + all)
    finite = all(map(math.isfinite, a.tolist())) if a.size <= _FLOAT_CHECK_MAX else bool(np.isfinite(a).all())
    if not finite:
        raise InputRejectedError(f"{name} is not finite: {a.tolist()}")
    a.flags.writeable = False
    return a


#: Vectors up to this size are checked on plain floats.
_FLOAT_CHECK_MAX = 64


def _unit_quaternion(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q.tolist()
    # a huge but finite entry is just another bad quaternion (a float product overflows to inf)
    n = math.sqrt(w * w + x * x + y * y + z * z)  # the order np.linalg.norm sums in
    if not 0.9 < n < 1.1:
        raise InputRejectedError(f"quat_wxyz has norm {n:.3g}, expected a unit quaternion")
    return q


@dataclass(frozen=True)
class Sample:
    value: Payload
    stamp_s: float  # arrival, on the runtime's clock
    header_stamp_s: float | None = None  # the sender's stamp, on the stamp clock; None: unstamped


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
    #: the newest message was refused for its stamp, or the value in use is too old by its stamp
    stamp_problem: StampProblem | None = None
    stamp_age_s: float | None = None  # of the value in use, on the stamp clock; None: unknown
    unstamped: int = 0  # good messages that carried no stamp
    stamp_refused: dict[str, int] = field(default_factory=dict)  # per stamp fault

    @property
    def ok(self) -> bool:
        return self.present and not self.stale and self.invalid is None and self.stamp_problem is None


class InputStore:
    """Thread-safe latest-value store for the inputs named by `specs`.

    `stamp_clock` and `future_tolerance_s` judge the senders' stamps (deploy.runtime.stamps);
    without a stamp clock only the order of stamps is checked.
    """

    def __init__(
        self,
        specs: Iterable[InputSpec],
        clock: Callable[[], float] = time.monotonic,
        stamp_clock: StampClock | None = None,
        future_tolerance_s: float | None = None,
    ) -> None:
        self.specs = {s.name: s for s in specs}
        self.clock = clock
        self.stamp_clock = stamp_clock or StampClock("none")
        self.future_tolerance_s = future_tolerance_s
        self._lock = threading.Lock()
        self._latest: dict[str, Sample] = {}
        self._invalid: dict[str, str] = {}
        self._received = dict.fromkeys(self.specs, 0)
        self._rejected = dict.fromkeys(self.specs, 0)
        self._stamp_problem: dict[str, StampProblem] = {}
        self._previous_stamp: dict[str, float] = {}
        self._unstamped = dict.fromkeys(self.specs, 0)
        self._stamp_refused = {n: dict.fromkeys((f.value for f in STAMP_FAULTS), 0) for n in self.specs}
        #: The compiled cycle's view of the inputs (deploy.runtime.compiled_cycle.InputMirror), kept
        #: in step by every put; None without a compiled cycle.
        self._mirror: InputMirror | None = None
        #: Samples the compiled cycle accepted (accept_compiled) that this view has not taken yet:
        #: taken before anything here is read or changed.
        self._deferred = False

    def attach_mirror(self, mirror: InputMirror) -> None:
        """Keep `mirror` in step with this store from now on (the compiled cycle's inputs)."""
        with self._lock:
            self._take_deferred()
            self._mirror = mirror
            for name in self.specs:
                self._mirror_write(name)

    def accept_compiled(
        self, cycle: CompiledCycle, name: str, data: bytes, stamp_s: float
    ) -> tuple[int, int] | None:
        """A sample of `name` given as its CDR bytes, arrived at `stamp_s` (runtime clock), stored
        by the compiled cycle when it accepts it (checked and judged by put()'s rules): its stamp
        (sec, nanosec), or None, having changed nothing (put() then refuses or stores it)."""
        clock_now = self.stamp_clock.now_s()
        with self._lock:
            got = cycle.arrive(name, data, stamp_s, clock_now)
            if got is not None:
                self._deferred = True
            return got

    def step_compiled(self, cycle: CompiledCycle, now_s: float, miss_streak: int) -> int:
        """The compiled cycle's step (CompiledCycle.step) with this store's lock held, so it reads
        the mirror as one put left it, never halfway through another thread's put."""
        clock_now = self.stamp_clock.now_s()
        with self._lock:
            return cycle.step(now_s, clock_now, miss_streak)

    def _take_deferred(self) -> None:
        """Take the samples the compiled cycle accepted into this view (under the lock), with the
        bookkeeping put() does for a stored sample."""
        self._deferred = False
        mirror = self._mirror
        if mirror is None:
            return
        for name in ("odometry", "imu", "joint_states"):
            got = mirror.taken(name) if name in self.specs else None
            if got is None:
                continue
            payload, arrival, header, n, unstamped = got
            self._latest[name] = Sample(payload, arrival, header)  # type: ignore[arg-type]
            self._received[name] += n
            self._unstamped[name] += unstamped
            self._invalid.pop(name, None)
            self._stamp_problem.pop(name, None)
            previous = mirror.previous_s[mirror.slot(name)]  # type: ignore[index]
            if not math.isnan(previous):
                self._previous_stamp[name] = float(previous)

    def _mirror_write(self, name: str) -> None:
        if self._mirror is not None:
            self._mirror.write(
                name,
                self._latest.get(name),
                name in self._invalid or name in self._stamp_problem,
                self._previous_stamp.get(name),
            )

    def put(
        self, name: str, value: Payload, stamp_s: float | None = None, header_stamp_s: float | None = None
    ) -> bool:
        """Store `value` as the newest `name`; False (and the input in fault) if it is unusable.

        `stamp_s`: arrival time on the runtime's clock (now when None). `header_stamp_s`: the
        sender's stamp on the stamp clock, None when the message has none (unstamped)."""
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
        if why is None and not math.isfinite(stamp):
            why = f"timestamp {stamp} is not finite"
        header = None
        if why is None and header_stamp_s is not None:
            try:
                header = float(header_stamp_s)
            except (TypeError, ValueError):
                why = f"header stamp {header_stamp_s!r} is not a number"
            else:
                if not math.isfinite(header):
                    why = f"header stamp {header} is not finite"
        clock_now = None if header is None or why is not None else self.stamp_clock.now_s()
        with self._lock:
            if self._deferred:
                self._take_deferred()
            if why is not None:
                self._invalid[name] = why
                self._rejected[name] += 1
                self._mirror_write(name)
                return False
            problem = None
            if header is not None:
                spec = self.specs[name]
                problem = judge_stamp(
                    header,
                    self._previous_stamp.get(name),
                    clock_now,
                    spec.stamp_max_age_s,
                    self.future_tolerance_s,
                    self.stamp_clock.describe(),
                )
                if problem is None or problem.fault is not Fault.STAMP_FUTURE:
                    self._previous_stamp[name] = header
            self._invalid.pop(name, None)
            if problem is not None:
                self._stamp_problem[name] = problem
                self._stamp_refused[name][problem.fault.value] += 1
                self._mirror_write(name)
                return False
            self._latest[name] = Sample(checked, float(stamp), header)
            self._stamp_problem.pop(name, None)
            self._received[name] += 1
            if header is None:
                self._unstamped[name] += 1
            self._mirror_write(name)
            return True

    def get(self, name: str) -> Sample | None:
        with self._lock:
            if self._deferred:
                self._take_deferred()
            return self._latest.get(name)

    def latest(self, names: Iterable[str]) -> dict[str, Sample]:
        """The newest good sample of each present input among `names`, read under one lock."""
        with self._lock:
            if self._deferred:
                self._take_deferred()
            return {n: self._latest[n] for n in names if n in self._latest}

    def age_s(self, name: str, now_s: float) -> float:
        """Seconds since the newest good `name` arrived (inf when none did); status()'s age_s."""
        if self._deferred:
            with self._lock:
                self._take_deferred()
        sample = self._latest.get(name)  # one dict read: atomic, no lock needed
        return float("inf") if sample is None else now_s - sample.stamp_s

    def status(self, name: str, now_s: float | None = None) -> InputStatus:
        now = self.clock() if now_s is None else now_s
        spec = self.specs[name]
        with self._lock:
            if self._deferred:
                self._take_deferred()
            sample = self._latest.get(name)
            invalid = self._invalid.get(name)
            received, rejected = self._received[name], self._rejected[name]
            problem = self._stamp_problem.get(name)
            unstamped, refused = self._unstamped[name], dict(self._stamp_refused[name])
        age, stale, problem, stamp_age = self._ages(spec, sample, now, problem)
        return InputStatus(
            name, sample is not None, age, stale, invalid, received, rejected, problem, stamp_age,
            unstamped, refused,
        )  # fmt: skip

    def judge(self, name: str, now_s: float) -> tuple[bool, float, bool, str | None, StampProblem | None]:
        """What a control cycle needs of `name` at `now_s`, as status() judges it, without the
        counters: (present, age_s, stale, invalid, stamp_problem)."""
        spec = self.specs[name]
        with self._lock:
            if self._deferred:
                self._take_deferred()
            sample = self._latest.get(name)
            invalid = self._invalid.get(name)
            problem = self._stamp_problem.get(name)
        age, stale, problem, _ = self._ages(spec, sample, now_s, problem)
        return sample is not None, age, stale, invalid, problem

    def _ages(
        self, spec: InputSpec, sample: Sample | None, now: float, problem: StampProblem | None
    ) -> tuple[float, bool, StampProblem | None, float | None]:
        """(age by arrival, stale, stamp problem, age by stamp) of the value in use at `now`."""
        age = float("inf") if sample is None else now - sample.stamp_s
        stale = sample is None or (spec.max_age_s is not None and age > spec.max_age_s)
        stamp_age = None
        if sample is not None and sample.header_stamp_s is not None:
            clock_now = self.stamp_clock.now_s()
            if clock_now is not None:
                stamp_age = clock_now - sample.header_stamp_s
                limit = spec.stamp_max_age_s
                if problem is None and limit is not None and stamp_age > limit:
                    problem = StampProblem(
                        Fault.STAMP_TOO_OLD, too_old_detail(stamp_age, limit, self.stamp_clock.describe())
                    )
        return age, stale, problem, stamp_age

    def clear(self) -> None:
        """Forget every value and stamp (e.g. when the robot is re-initialized)."""
        with self._lock:
            self._take_deferred()
            self._latest.clear()
            self._invalid.clear()
            self._stamp_problem.clear()
            self._previous_stamp.clear()
            for name in self.specs:
                self._mirror_write(name)
