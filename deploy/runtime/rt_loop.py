"""A fixed-rate loop on absolute deadlines, with per-cycle timing statistics.

Deadline k is start + k · period (integer nanoseconds on the monotonic
clock), so errors never accumulate. Before each deadline the loop sleeps
until spin_margin_s before it, then spins on the clock: sleeping alone wakes
up to the kernel's timer slack and scheduling latency late, spinning alone
burns a core. After the step, a cycle whose step ended after the next
deadline missed it; if whole periods went by (the process was preempted),
those deadlines are skipped and each counts as missed, rather than run in a
burst to catch up.

Statistics per cycle: jitter (how late the cycle started relative to its
deadline, as cyclictest measures latency), compute time (the step's own
duration), missed deadlines and the current streak of them. snapshot() is
safe to call from another thread (diagnostics).

Two ways to start a cycle (`trigger`):

- timer: the fixed-rate loop above.
- sensor: a cycle starts as soon as the driving input arrives (notify(), called from the
  transport's thread by Runtime.put), so a command follows its sensor sample by the cycle's
  compute time instead of up to a whole period of waiting for the next tick. The fixed-rate
  timer stays as the watchdog: when no arrival comes within watchdog_periods of the last cycle
  start, a fallback cycle runs (and one per period after it while the sensor stays silent), so
  staleness is still judged and the failsafe still flies at the contract's rate. An arrival
  sooner than trigger_min_spacing_periods after the last cycle start starts no cycle (a sensor
  faster than the control rate does not speed up the policy; the next cycle reads the newest
  sample anyway); after a fallback cycle the next arrival starts one at once, so the loop locks
  back onto the sensor. A cycle's reference time ("deadline") is its trigger: the arrival, or the
  watchdog time; jitter is how late the cycle started after it, and a cycle whose step ends
  more than one period after its trigger misses 1 + the whole periods beyond that.
  Statistics count the cycles by trigger (sensor_cycles, watchdog_cycles).

Optional, from LoopOptions (runtime.yaml `loop:`): SCHED_FIFO at a configurable priority for
every thread of the process (the transport's receive threads deliver the sensor the cycle waits
for; threads started later inherit it), CPU affinity, mlockall(MCL_CURRENT | MCL_FUTURE), timer
slack, a short interpreter switch interval (a thread running Python code hands the interpreter
lock to a waiting cycle within it), and the cyclic garbage collector kept out of the cycle
(collect and gc.freeze() the start-up heap, automatic collection off while the loop runs; with
gc_collect_period_s, the youngest generation is collected right after a cycle, between cycles,
at most that often). Each is tried where configured; what the process is not permitted to do is
skipped with one warning that names it and how to grant it (CAP_SYS_NICE or an rtprio limit; the
memlock limit or CAP_IPC_LOCK), and the loop runs regardless. Which took effect is RealtimeStatus
(RealtimeLoop.realtime_status: the nodes' diagnostics and reports). Everything is restored when
the loop ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from deploy.runtime.config import LoopOptions
from deploy.runtime.wakeup import EventWakeup, TimerWakeup

log = logging.getLogger("tether.runtime.loop")

_MCL_CURRENT, _MCL_FUTURE = 1, 2
_PR_SET_TIMERSLACK, _PR_GET_TIMERSLACK = 29, 30


#: How cycles start: on a fixed-rate timer, or on the driving sensor's arrival (timer as watchdog).
TRIGGERS = ("sensor", "timer")


@dataclass(frozen=True)
class CycleInfo:
    index: int
    deadline_ns: int  # timer: the absolute deadline; sensor: the arrival, or the watchdog time
    start_ns: int
    miss_streak: int  # consecutive missed deadlines up to the previous cycle
    trigger: str = "timer"  # timer | sensor (started by an arrival) | watchdog (the sensor was late)

    @property
    def now_s(self) -> float:
        return self.start_ns * 1e-9


@dataclass(frozen=True)
class LoopStatsSnapshot:
    cycles: int
    deadline_misses: int
    miss_streak: int
    max_miss_streak: int
    jitter_us_p50: float
    jitter_us_p99: float
    jitter_us_max: float
    compute_us_p50: float
    compute_us_p99: float
    compute_us_max: float
    window_cycles: int
    cpu_percent: float
    trigger: str = "timer"  # the loop's mode: timer | sensor
    sensor_cycles: int = 0  # sensor mode: cycles started by the driving input's arrival
    watchdog_cycles: int = 0  # sensor mode: fallback cycles (no arrival within the watchdog time)
    response_us_max: float = 0.0  # the latest end of a cycle after its deadline (jitter + compute)
    gc_collections: int = 0  # youngest-generation collections between cycles (gc_collect_period_s)
    gc_us_max: float = 0.0  # the longest of them

    def to_dict(self) -> dict[str, float | int | str]:
        """The fields by name. Not dataclasses.asdict: the diagnostics thread calls this five times
        a second beside the loop, and each asdict() left one 240-byte block behind, up to 2000 of
        them (the cap of CPython's tuple free lists): 480 KB over the first 400 s, the 1 MiB step
        of the 10-minute soak."""
        return {name: getattr(self, name) for name in _SNAPSHOT_FIELDS}

    def summary(self) -> str:
        return (
            f"{self.cycles} cycles, jitter p50 {self.jitter_us_p50:.1f} µs, p99 {self.jitter_us_p99:.1f} µs, "
            f"max {self.jitter_us_max:.1f} µs; compute p50 {self.compute_us_p50:.1f} µs, "
            f"p99 {self.compute_us_p99:.1f} µs, max {self.compute_us_max:.1f} µs; "
            f"{self.deadline_misses} deadline misses (longest streak {self.max_miss_streak}); "
            f"CPU {self.cpu_percent:.1f} %"
            + (
                f"; sensor-triggered: {self.sensor_cycles} cycles on arrival, "
                f"{self.watchdog_cycles} by the watchdog"
                if self.trigger == "sensor"
                else ""
            )
        )


#: LoopStatsSnapshot's field names, in order (read once).
_SNAPSHOT_FIELDS = tuple(f.name for f in fields(LoopStatsSnapshot))


class CycleStats:
    """Ring buffers of the newest cycles' jitter and compute time; max and counts since reset."""

    def __init__(self, window: int = 10000, trigger: str = "timer") -> None:
        self._jitter = np.zeros(window, dtype=np.int64)
        self._compute = np.zeros(window, dtype=np.int64)
        # where snapshot() sorts its copies: allocated once (a diagnostics thread taking 2 × 80 KB
        # every 200 ms beside the loop made the C heap creep by ~90 KiB/min in `tether bench soak`)
        self._scratch = (np.zeros(window, dtype=np.int64), np.zeros(window, dtype=np.int64))
        self._snapshot_lock = threading.Lock()
        for ring in (self._jitter, self._compute, *self._scratch):  # pages touched now, not as they fill
            ring.fill(0)
        self._lock = threading.Lock()
        self.trigger = trigger
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.cycles = 0
            self.misses = 0
            self.streak = 0
            self.max_streak = 0
            self.max_jitter_ns = 0
            self.max_compute_ns = 0
            self.max_response_ns = 0
            self.gc_collections = 0
            self.max_gc_ns = 0
            self.by_trigger = {"timer": 0, "sensor": 0, "watchdog": 0}
            self._cpu0 = time.process_time()
            self._wall0 = time.perf_counter()

    def record(self, jitter_ns: int, compute_ns: int, missed: int, trigger: str = "timer") -> None:
        """One cycle: its start lateness, its step duration, how many deadlines it missed, and what
        started it (timer | sensor | watchdog)."""
        with self._lock:
            self.by_trigger[trigger] += 1
            k = self.cycles % len(self._jitter)
            self._jitter[k] = jitter_ns
            self._compute[k] = compute_ns
            self.cycles += 1
            self.max_jitter_ns = max(self.max_jitter_ns, jitter_ns)
            self.max_compute_ns = max(self.max_compute_ns, compute_ns)
            self.max_response_ns = max(self.max_response_ns, jitter_ns + compute_ns)
            if missed:
                self.misses += missed
                self.streak += missed
                self.max_streak = max(self.max_streak, self.streak)
            else:
                self.streak = 0

    def record_gc(self, duration_ns: int) -> None:
        """One collection of the youngest generation between cycles."""
        with self._lock:
            self.gc_collections += 1
            self.max_gc_ns = max(self.max_gc_ns, duration_ns)

    def snapshot(self) -> LoopStatsSnapshot:
        with self._snapshot_lock:  # one snapshot at a time: they share the scratch arrays
            return self._snapshot()

    def _snapshot(self) -> LoopStatsSnapshot:
        with self._lock:
            n = min(self.cycles, len(self._jitter))
            jitter, compute = self._scratch[0][:n], self._scratch[1][:n]
            np.copyto(jitter, self._jitter[:n])
            np.copyto(compute, self._compute[:n])
            cycles, misses, streak, max_streak = self.cycles, self.misses, self.streak, self.max_streak
            max_jitter, max_compute = self.max_jitter_ns, self.max_compute_ns
            by_trigger = dict(self.by_trigger)
            max_response, gc_n, gc_max = self.max_response_ns, self.gc_collections, self.max_gc_ns
            cpu_s, wall_s = time.process_time() - self._cpu0, time.perf_counter() - self._wall0

        def p50_p99(a: np.ndarray) -> tuple[float, float]:
            # both from one partial sort in place on the copy, not np.percentile's full passes
            # (diagnostics take this every 200 ms beside the loop, holding the interpreter)
            n = len(a)
            if not n:
                return 0.0, 0.0
            at = [(q / 100.0) * (n - 1) for q in (50, 99)]  # numpy's default (linear) percentile
            ks = sorted({k for x in at for k in (int(x), min(int(x) + 1, n - 1))})
            a.partition(ks)
            out = [float(a[int(x)]) + (x - int(x)) * float(a[min(int(x) + 1, n - 1)] - a[int(x)]) for x in at]
            return out[0] * 1e-3, out[1] * 1e-3

        jitter_p50, jitter_p99 = p50_p99(jitter)
        compute_p50, compute_p99 = p50_p99(compute)
        return LoopStatsSnapshot(
            cycles=cycles,
            deadline_misses=misses,
            miss_streak=streak,
            max_miss_streak=max_streak,
            jitter_us_p50=jitter_p50,
            jitter_us_p99=jitter_p99,
            jitter_us_max=max_jitter * 1e-3,
            compute_us_p50=compute_p50,
            compute_us_p99=compute_p99,
            compute_us_max=max_compute * 1e-3,
            window_cycles=n,
            cpu_percent=100.0 * cpu_s / wall_s if wall_s > 0 else 0.0,
            trigger=self.trigger,
            sensor_cycles=by_trigger["sensor"],
            watchdog_cycles=by_trigger["watchdog"],
            response_us_max=max_response * 1e-3,
            gc_collections=gc_n,
            gc_us_max=gc_max * 1e-3,
        )


@dataclass
class _Triggered:
    """The bookkeeping of a running sensor-triggered loop, shared by the loop's thread (watchdog
    cycles) and, with RealtimeLoop.inline, the thread that delivers the driving input."""

    step: Callable[[CycleInfo], bool | None]
    t0: int
    end_ns: int | None
    cycles: int | None
    watchdog_after: int
    last: int | None = None  # the last cycle's start
    last_sensor: int | None = None  # ... if an arrival started it (the spacing applies only then)
    last_end: int = 0
    wait_until_ns: int = 0  # where the loop's thread waits until (the watchdog, or the end)
    k: int = 0
    streak: int = 0
    done: bool = False


class RealtimeLoop:
    """Calls step(CycleInfo) at rate_hz until told to stop: on absolute deadlines (trigger
    "timer"), or on each notify() of the driving input with the timer as watchdog ("sensor").

    `clock_ns`, `sleep_s` and `wait_s` are injectable so tests can drive the loop on a
    simulated clock; by default they are time.monotonic_ns, time.sleep and, for the sensor
    trigger, a wait (deploy/runtime/wakeup.py) that notify() and stop() end early: on a timerfd
    armed at the watchdog's time, else on an event.
    """

    def __init__(
        self,
        rate_hz: float,
        options: LoopOptions | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        sleep_s: Callable[[float], None] = time.sleep,
        trigger: str = "timer",
        wait_s: Callable[[float], object] | None = None,
    ) -> None:
        if not rate_hz > 0:
            raise ValueError(f"loop rate must be positive, found {rate_hz} Hz")
        if trigger not in TRIGGERS:
            raise ValueError(f"loop trigger must be one of {list(TRIGGERS)}, found {trigger!r}")
        self.rate_hz = rate_hz
        self.period_ns = int(round(1e9 / rate_hz))
        self.options = options or LoopOptions()
        self.trigger = trigger
        self.stats = CycleStats(self.options.stats_window_cycles, trigger)
        self._clock = clock_ns
        self._sleep = sleep_s
        self._stop = threading.Event()
        #: How the loop's thread waits in sensor mode (deploy/runtime/wakeup.py): a timerfd re-armed
        #: by every cycle where the clock is the monotonic one, so it sleeps through the cycles the
        #: receive thread runs; an Event on an injected clock or wait, or where timerfd is missing.
        self._wake: EventWakeup | TimerWakeup = EventWakeup(wait_s)
        if trigger == "sensor" and clock_ns is time.monotonic_ns and wait_s is None:
            timer, why_not = TimerWakeup.create()
            if timer is not None:
                self._wake = timer
            else:
                log.info("sensor-triggered loop: waiting on an Event (%s)", why_not)
        self._arrival_lock = threading.Lock()
        self._arrival_ns: int | None = None  # the newest arrival no cycle has started on yet
        #: What the last run() applied of the real-time options (None: realtime=False, or not run).
        self.realtime_status: RealtimeStatus | None = None
        self._gc_period_ns = 0
        self._gc_next_ns = 0
        #: Sensor trigger: the thread that delivered the driving input runs its cycle, through
        #: run_pending() right after its callbacks (a transport's receive thread), instead of waking
        #: the loop thread; the loop thread keeps the watchdog. Set only where run_pending() is
        #: called after every delivery (deploy.transport.dds: `after_receive`).
        self.inline = False
        self._cycle_lock = threading.Lock()
        self._state: _Triggered | None = None  # the running sensor-triggered loop's bookkeeping
        self._error: BaseException | None = None  # a step that raised in the delivering thread
        #: Sensor trigger: how often the loop's thread returned from a wait in the last run (the
        #: watchdog's cycles, notify() without `inline`, stop; with timerfd, little else).
        self.thread_wakes = 0

    @property
    def wait_kind(self) -> str:
        """What the loop's thread waits on in sensor mode: "timerfd" or "event"."""
        return self._wake.kind

    def stop(self) -> None:
        """Ask the loop to end after the current cycle (any thread)."""
        self._stop.set()
        self._wake.set()

    def notify(self) -> None:
        """The driving input arrived (any thread): in sensor mode, a cycle starts now unless the
        last one started less than trigger_min_spacing_periods ago. No effect in timer mode."""
        t = self._clock()
        with self._arrival_lock:
            self._arrival_ns = t
        if not self.inline:
            self._wake.set()

    def run_pending(self) -> None:
        """With `inline`: run the cycle for a pending arrival now, in the calling thread (the
        transport's receive thread, right after its callbacks). No effect when nothing is pending,
        the loop is not running sensor-triggered, or the arrival comes too soon after the last
        cycle. A step that raises stops the loop; run() raises it in the loop's thread."""
        st = self._state
        if st is None or not self.inline:
            return
        with self._cycle_lock:
            if self._state is not st or st.done or self._stop.is_set():
                return
            try:
                self._next_cycle(st, arrivals_only=True)
            except BaseException as exc:  # noqa: BLE001 - handed to the loop's thread, which raises it
                self._error = exc
                st.done = True
                self._wake.set()

    def run(
        self,
        step: Callable[[CycleInfo], bool | None],
        seconds: float | None = None,
        cycles: int | None = None,
        realtime: bool = True,
    ) -> LoopStatsSnapshot:
        """Run until `seconds` or `cycles` elapse, stop() is called, or step returns False.

        realtime=False applies none of the privileged options (tests, simulations).
        """
        self._stop.clear()
        self.stats.reset()
        restore: Callable[[], None] = _noop
        self.realtime_status = None
        if realtime:
            applied = apply_realtime_options(self.options)
            restore, self.realtime_status = applied, applied.status
        period = self.options.gc_collect_period_s
        self._gc_period_ns = int(period * 1e9) if period and self.options.disable_gc and realtime else 0
        self._gc_next_ns = self._clock() + self._gc_period_ns
        try:
            if self.trigger == "sensor":
                self._run_triggered(step, seconds, cycles)
            else:
                self._run(step, seconds, cycles)
        finally:
            restore()
        return self.stats.snapshot()

    def _run(
        self, step: Callable[[CycleInfo], bool | None], seconds: float | None, cycles: int | None
    ) -> None:
        clock, period = self._clock, self.period_ns
        margin_ns = int(self.options.spin_margin_s * 1e9)
        t0 = clock() + period
        end_ns = None if seconds is None else t0 + int(seconds * 1e9)
        deadline, k, streak = t0, 0, 0
        while not self._stop.is_set():
            if cycles is not None and k >= cycles:
                break
            if end_ns is not None and deadline >= end_ns:
                break
            remaining = deadline - clock()
            if remaining > margin_ns:
                self._sleep((remaining - margin_ns) * 1e-9)
            while clock() < deadline:
                pass
            start = clock()
            keep_going = step(CycleInfo(k, deadline, start, streak))
            end = clock()
            next_deadline = deadline + period
            missed = 0
            if end > next_deadline:
                # Overran into the next period: that deadline and any others fully passed are missed.
                missed = 1 + (end - next_deadline) // period
                next_deadline += (missed - 1) * period + period
            streak = streak + missed if missed else 0
            self.stats.record(start - deadline, end - start, int(missed))
            if self._gc_period_ns and end >= self._gc_next_ns:
                self._collect_between_cycles(end)
            deadline = next_deadline
            k += 1
            if keep_going is False:
                break

    def _run_triggered(
        self, step: Callable[[CycleInfo], bool | None], seconds: float | None, cycles: int | None
    ) -> None:
        with self._arrival_lock:
            self._arrival_ns = None  # arrivals before the loop started start nothing
        t0 = self._clock()
        st = _Triggered(
            step=step,
            t0=t0,
            end_ns=None if seconds is None else t0 + int(seconds * 1e9),
            cycles=cycles,
            watchdog_after=self.period_ns,  # the first fallback comes one period after the start
            last_end=t0,
        )
        self._error = None
        self.thread_wakes = 0
        self._state = st
        try:
            while not self._stop.is_set() and not st.done:
                self._wake.clear()  # before looking: an arrival from here on wakes the wait below
                with self._cycle_lock:
                    wait_s = None if st.done else self._next_cycle(st, arrivals_only=False)
                if wait_s is not None:
                    self._wake.wait(wait_s, st.wait_until_ns)
                    self.thread_wakes += 1
        finally:
            with self._cycle_lock:
                st.done = True
                self._state = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _next_cycle(self, st: _Triggered, arrivals_only: bool) -> float | None:
        """One decision of the sensor-triggered loop (under _cycle_lock): run the cycle that is due
        (the newest arrival; else, unless `arrivals_only`, the watchdog's) and return None, or return
        how long to wait for one (s). Sets st.done when the loop is to end."""
        clock, period = self._clock, self.period_ns
        if st.cycles is not None and st.k >= st.cycles:
            st.done = True
            return None
        min_spacing = int(self.options.trigger_min_spacing_periods * period)
        with self._arrival_lock:
            arrival = self._arrival_ns
            if arrival is not None and st.last_sensor is not None and arrival < st.last_sensor + min_spacing:
                arrival = self._arrival_ns = None  # too soon after the last cycle: no cycle for it
        watchdog = (st.t0 if st.last is None else st.last) + st.watchdog_after
        now = clock()
        if arrival is not None:
            due, kind = arrival, "sensor"
        elif arrivals_only:
            return None
        elif now >= watchdog:
            # overdue while the last cycle still ran: its missed periods are counted there already
            due, kind = max(watchdog, st.last_end), "watchdog"
        else:
            if st.end_ns is not None and now >= st.end_ns:
                st.done = True
                return None
            wait_until = watchdog if st.end_ns is None else min(watchdog, st.end_ns)
            st.wait_until_ns = wait_until
            return max(wait_until - now, 0) * 1e-9
        if st.end_ns is not None and due >= st.end_ns:
            st.done = True
            return None
        with self._arrival_lock:
            if self._arrival_ns == arrival:
                self._arrival_ns = None  # consumed (a newer arrival stays for the next cycle)
        start = clock()
        keep_going = st.step(CycleInfo(st.k, due, start, st.streak, kind))
        end = clock()
        missed = 0
        if end > due + period:
            missed = 1 + (end - due - period) // period
        st.streak = st.streak + missed if missed else 0
        self.stats.record(start - due, end - start, int(missed), kind)
        if self._gc_period_ns and end >= self._gc_next_ns:
            self._collect_between_cycles(end)
        st.last, st.last_end = start, end
        st.last_sensor = start if kind == "sensor" else None
        # After a cycle on an arrival the watchdog allows the sensor watchdog_periods; while the
        # sensor stays silent the fallback runs at the contract's rate.
        st.watchdog_after = int(self.options.watchdog_periods * period) if kind == "sensor" else period
        # the loop's thread sleeps on until then, whichever thread ran this cycle (timerfd; no-op
        # for the Event)
        watchdog = start + st.watchdog_after
        self._wake.arm(watchdog if st.end_ns is None else min(watchdog, st.end_ns))
        st.k += 1
        if keep_going is False:
            st.done = True
        if st.done and self.inline:
            self._wake.set()  # the loop's thread ends too
        return None

    def _collect_between_cycles(self, end_ns: int) -> None:
        """The youngest generation, right after a cycle (the start-up heap is frozen)."""
        t = self._clock()
        gc.collect(0)
        self.stats.record_gc(self._clock() - t)
        self._gc_next_ns = end_ns + self._gc_period_ns


def _noop() -> None:
    return None


@dataclass(frozen=True)
class RealtimeStatus:
    """Which real-time options were asked for, which took effect, and why the others did not.

    `applied`: option → what took effect; `skipped`: option → the reason and how to grant it.
    Options: sched_fifo, cpu_affinity, lock_memory, timer_slack, switch_interval, gc."""

    requested: dict[str, Any]
    applied: dict[str, str]
    skipped: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": dict(self.requested),
            "applied": dict(self.applied),
            "skipped": dict(self.skipped),
        }

    def summary(self) -> str:
        line = "real-time options: " + (", ".join(self.applied.values()) if self.applied else "none applied")
        if self.skipped:
            line += "; NOT applied (the loop runs without them): " + "; ".join(
                f"{k}: {v}" for k, v in self.skipped.items()
            )
        return line

    def diagnostic_values(self) -> dict[str, str]:
        """Flat key → value pairs for ROS diagnostics: realtime.<option> = what took effect, or
        "not applied: <reason>"; options not asked for are "off"."""
        out = {}
        for key in ("sched_fifo", "cpu_affinity", "lock_memory", "timer_slack", "switch_interval", "gc"):
            if key in self.applied:
                out[f"realtime.{key}"] = self.applied[key]
            elif key in self.skipped:
                out[f"realtime.{key}"] = "not applied: " + self.skipped[key]
            else:
                out[f"realtime.{key}"] = "off"
        return out


class _Applied:
    """The undo of apply_realtime_options (call it), with what took effect (`status`)."""

    def __init__(self, undo: list[Callable[[], None]], status: RealtimeStatus) -> None:
        self._undo = undo
        self.status = status

    def __call__(self) -> None:
        for fn in reversed(self._undo):
            try:
                fn()
            except OSError as exc:  # restoring is best effort
                log.debug("could not restore a real-time option: %s", exc)
        self._undo = []


def _threads() -> list[int]:
    """Thread ids of this process (Linux: /proc/self/task); [0] (the caller) elsewhere."""
    try:
        return sorted(int(t) for t in os.listdir("/proc/self/task"))
    except OSError:
        return [0]


def _rlimit(name: str) -> str:
    try:
        import resource

        soft, _ = resource.getrlimit(getattr(resource, name))
        return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    except (ImportError, AttributeError, ValueError, OSError):
        return "unknown"


def _fifo_remedy(priority: int) -> str:
    return (
        f"grant CAP_SYS_NICE (setcap cap_sys_nice+ep on the Python interpreter, "
        f"AmbientCapabilities=CAP_SYS_NICE in a systemd unit, docker run --cap-add SYS_NICE) or an "
        f"rtprio limit ≥ {priority} ('<user> - rtprio {priority}' in /etc/security/limits.conf, then log in "
        f"again; `ulimit -r` is now {_rlimit('RLIMIT_RTPRIO')}); in a container, real-time group "
        "scheduling may also need a runtime budget (docker run --cpu-rt-runtime)"
    )


def _memlock_remedy() -> str:
    memlock = _rlimit("RLIMIT_MEMLOCK")
    now = memlock if memlock in ("unlimited", "unknown") else f"{int(memlock) // 1024} KiB"
    return (
        f"raise the locked-memory limit (`ulimit -l`, now {now}; '<user> - memlock unlimited' in "
        "/etc/security/limits.conf, LimitMEMLOCK=infinity in a systemd unit, docker run --ulimit "
        "memlock=-1) or grant CAP_IPC_LOCK"
    )


def _set_fifo_all_threads(priority: int) -> Callable[[], None]:
    """SCHED_FIFO at `priority` for every thread of the process; raises OSError (nothing changed)
    when the first is refused. Returns the undo (each thread back to its own policy)."""
    before: list[tuple[int, int, os.sched_param]] = []
    param = os.sched_param(priority)

    def undo() -> None:
        for tid, policy, old in reversed(before):
            try:
                os.sched_setscheduler(tid, policy, old)
            except ProcessLookupError:
                pass  # the thread has ended

    for tid in _threads():
        try:
            policy, old = os.sched_getscheduler(tid), os.sched_getparam(tid)
            os.sched_setscheduler(tid, os.SCHED_FIFO, param)
        except ProcessLookupError:
            continue  # ended between listing and setting
        except OSError:
            undo()
            raise
        before.append((tid, policy, old))
    return undo


def _locked_kib() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmLck:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def apply_realtime_options(options: LoopOptions) -> _Applied:
    """Apply what `options` ask for and the process may do; log one line (a warning naming what
    was not permitted and how to grant it); returns the undo, whose `status` says what took effect."""
    applied: dict[str, str] = {}
    skipped: dict[str, str] = {}
    undo: list[Callable[[], None]] = []
    requested: dict[str, Any] = {
        "sched_fifo_priority": options.sched_fifo_priority,
        "cpu_affinity": None if options.cpu_affinity is None else list(options.cpu_affinity),
        "lock_memory": options.lock_memory,
        "timer_slack_ns": options.timer_slack_ns,
        "disable_gc": options.disable_gc,
        "gc_collect_period_s": options.gc_collect_period_s,
        "switch_interval_s": options.switch_interval_s,
    }

    if options.cpu_affinity is not None:
        try:
            before = os.sched_getaffinity(0)
            os.sched_setaffinity(0, set(options.cpu_affinity))
            undo.append(lambda: os.sched_setaffinity(0, before))
            applied["cpu_affinity"] = f"CPU affinity {sorted(options.cpu_affinity)}"
        except (OSError, AttributeError, ValueError) as exc:
            skipped["cpu_affinity"] = f"CPU affinity {sorted(options.cpu_affinity)} ({exc})"
    if options.sched_fifo_priority is not None:
        prio = options.sched_fifo_priority
        try:
            undo.append(_set_fifo_all_threads(prio))
            applied["sched_fifo"] = f"SCHED_FIFO priority {prio} (every thread)"
        except PermissionError as exc:
            skipped["sched_fifo"] = (
                f"SCHED_FIFO priority {prio} not permitted ({exc.strerror}): {_fifo_remedy(prio)}"
            )
        except (OSError, AttributeError) as exc:
            skipped["sched_fifo"] = f"SCHED_FIFO priority {prio} failed ({exc})"
    libc = _libc()
    if options.lock_memory:
        if libc is not None and libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) == 0:
            undo.append(libc.munlockall)
            locked = _locked_kib()
            applied["lock_memory"] = "mlockall" + (
                "" if locked is None else f" ({locked // 1024} MiB locked)"
            )
        elif libc is None:
            skipped["lock_memory"] = "mlockall (libc not found)"
        else:
            err = ctypes.get_errno()
            skipped["lock_memory"] = (
                f"mlockall not permitted ({os.strerror(err) if err else 'refused'}): {_memlock_remedy()}"
            )
    if options.timer_slack_ns is not None:
        if libc is not None and hasattr(libc, "prctl"):
            before_slack = libc.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0)
            if libc.prctl(_PR_SET_TIMERSLACK, int(options.timer_slack_ns), 0, 0, 0) == 0:
                if before_slack > 0:
                    undo.append(lambda: libc.prctl(_PR_SET_TIMERSLACK, before_slack, 0, 0, 0))
                applied["timer_slack"] = f"timer slack {options.timer_slack_ns} ns"
            else:
                skipped["timer_slack"] = f"timer slack ({os.strerror(ctypes.get_errno())})"
        else:
            skipped["timer_slack"] = "timer slack (prctl not available)"
    if options.switch_interval_s is not None:
        # The interpreter lets the thread holding its lock run this long before it must hand the
        # lock to a thread waiting for it: how long a cycle waits for the lock while a diagnostics
        # or discovery thread runs Python code (Python's default, 5 ms, is 2.5 periods at 500 Hz;
        # a C call that keeps the lock is not cut short).
        before_interval = sys.getswitchinterval()
        sys.setswitchinterval(options.switch_interval_s)
        undo.append(lambda: sys.setswitchinterval(before_interval))
        applied["switch_interval"] = f"interpreter switch interval {options.switch_interval_s * 1e6:g} µs"
    if options.disable_gc:
        was_enabled = gc.isenabled()
        gc.collect()
        gc.freeze()  # the start-up heap: never scanned again
        gc.disable()

        def restore_gc() -> None:
            gc.unfreeze()
            if was_enabled:
                gc.enable()

        undo.append(restore_gc)
        period = options.gc_collect_period_s
        applied["gc"] = "start-up heap frozen, automatic GC off in the loop" + (
            f", youngest generation collected between cycles every {period:g} s" if period else ""
        )
    status = RealtimeStatus(requested, applied, skipped)
    if applied or skipped:
        (log.warning if skipped else log.info)("%s", status.summary())
    return _Applied(undo, status)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None
