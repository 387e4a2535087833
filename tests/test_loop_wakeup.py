"""The sensor-triggered loop's own thread sleeps through the cycles the receive thread runs
(deploy/runtime/wakeup.py): a timerfd armed at the watchdog's time and pushed on by every cycle.
Assertions are on order and counts (the timer never fires before its time; a wake is counted),
never on how long anything took."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

import pytest

from deploy.runtime.config import LoopOptions
from deploy.runtime.rt_loop import CycleInfo, RealtimeLoop
from deploy.runtime.wakeup import EventWakeup, TimerWakeup

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux's")
MS = 1_000_000


@pytest.fixture
def timer() -> TimerWakeup:
    wakeup, why_not = TimerWakeup.create()
    assert wakeup is not None, why_not
    yield wakeup
    wakeup.close()


def test_the_timer_never_returns_before_its_time_and_a_later_arm_replaces_an_earlier(timer):
    t0 = time.monotonic_ns()
    timer.arm(t0 + 5 * MS)
    timer.arm(t0 + 30 * MS)  # pushed on, as a cycle in the receive thread does
    timer.wait(1.0, t0 + 30 * MS)
    assert time.monotonic_ns() >= t0 + 30 * MS
    timer.wait(1.0, time.monotonic_ns() + 2 * MS)  # expired and read: a new time arms it again
    # a time already past returns at once
    timer.wait(1.0, t0)


def test_re_arming_keeps_the_interpreter_lock(timer):
    """Every cycle re-arms the timer: a non-blocking call, made without releasing the lock."""
    assert timer._settime._flags_ & ctypes._FUNCFLAG_PYTHONAPI


def test_set_ends_a_wait_armed_far_ahead_and_clear_drains_it(timer):
    done = threading.Event()

    def sleeper() -> None:
        timer.wait(10.0, time.monotonic_ns() + 10_000 * MS)
        done.set()

    th = threading.Thread(target=sleeper, daemon=True)
    th.start()
    timer.set()
    th.join(timeout=5.0)
    assert done.is_set()
    timer.set()
    timer.clear()  # drained: the next wait sleeps until its timer
    t0 = time.monotonic_ns()
    timer.wait(1.0, t0 + 3 * MS)
    assert time.monotonic_ns() >= t0 + 3 * MS


def test_close_releases_both_descriptors_once():
    wakeup, _ = TimerWakeup.create()
    assert wakeup is not None
    fds = list(wakeup._fds)
    wakeup.close()
    wakeup.close()  # twice is fine
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


def _run_with_sender(loop: RealtimeLoop, rate_hz: float, cycles: int) -> tuple[list[CycleInfo], object]:
    """The loop sensor-triggered, cycles run in a sender thread (as the DDS receive thread runs
    them) that notifies at the rate; stops after `cycles` cycles."""
    infos: list[CycleInfo] = []
    loop.inline = True
    stop = threading.Event()

    def sender() -> None:
        period = 1.0 / rate_hz
        t_next = time.monotonic()
        for _ in range(cycles * 4):  # bounded: ends with the loop at the latest
            if stop.is_set():
                return
            t_next += period
            time.sleep(max(0.0, t_next - time.monotonic()))
            loop.notify()
            loop.run_pending()

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    try:
        stats = loop.run(infos.append, cycles=cycles, realtime=False)
    finally:
        stop.set()
        th.join(timeout=10.0)
    return infos, stats


def test_the_loop_thread_sleeps_through_cycles_the_receive_thread_runs():
    loop = RealtimeLoop(200.0, LoopOptions(), trigger="sensor")
    assert isinstance(loop._wake, TimerWakeup)
    infos, stats = _run_with_sender(loop, 200.0, 80)
    assert len(infos) == 80
    # each wake of the loop's thread is a watchdog cycle (a late sample on a busy machine), the
    # first wait, the end, or a timer that expired just as a cycle started elsewhere: not one a
    # period, as a wait on an Event with a timeout does
    assert loop.thread_wakes <= stats.watchdog_cycles + 2 + stats.cycles // 10, (
        loop.thread_wakes,
        stats.watchdog_cycles,
    )


def test_the_watchdog_still_runs_when_the_sensor_stops_on_the_timerfd():
    loop = RealtimeLoop(200.0, LoopOptions(), trigger="sensor")
    loop.inline = True
    stats = loop.run(lambda info: None, cycles=6, realtime=False)  # no sensor at all
    assert stats.watchdog_cycles == 6 and stats.sensor_cycles == 0
    assert loop.thread_wakes >= 6


def test_an_injected_clock_or_the_timer_trigger_keeps_the_event():
    assert isinstance(RealtimeLoop(100.0, trigger="timer")._wake, EventWakeup)
    fake = iter(range(10**9, 10**12, 1000))
    loop = RealtimeLoop(100.0, trigger="sensor", clock_ns=lambda: next(fake), wait_s=lambda s: None)
    assert isinstance(loop._wake, EventWakeup)
