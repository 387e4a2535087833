"""How the sensor-triggered loop's own thread waits for its watchdog time, a notify() or a stop().

When cycles run in the transport's receive thread (RealtimeLoop.inline), the loop's thread only
keeps the watchdog. Waiting on a threading.Event with a timeout, it woke once a period: at the
watchdog time of the cycle before, to find that a newer cycle had pushed the watchdog on (≈ 2.6 %
of a core at 500 Hz on the 2-core build machine, for nothing). TimerWakeup instead arms a Linux
timerfd at the watchdog's absolute time and re-arms it after every cycle, whichever thread ran
it (one system call, ≈ 1 µs); the thread sleeps in poll() until the timer really expires (the
sensor is late), notify() or stop() write its eventfd, or the loop ends.

EventWakeup is the portable form, and the one used on an injected clock or wait (tests drive the
loop on a simulated clock): wait() waits the relative time the loop computed, arm() does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import sys
import threading
from collections.abc import Callable

_CLOCK_MONOTONIC = 1  # time.monotonic_ns's clock on Linux
_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
#: A wait returns after this long at most, armed timer or not (a safety net; costs one wake a second).
MAX_WAIT_S = 1.0


class EventWakeup:
    """A threading.Event: set() by notify()/stop(), waited on for the time the loop computed."""

    kind = "event"

    def __init__(self, wait_s: Callable[[float], object] | None = None) -> None:
        self._event = threading.Event()
        self._wait = wait_s or self._event.wait

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def arm(self, deadline_ns: int) -> None:
        """Nothing to arm: wait() waits the loop's relative time."""

    def wait(self, timeout_s: float, deadline_ns: int) -> None:
        self._wait(timeout_s)

    def close(self) -> None:
        """Nothing to release."""


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class TimerWakeup:
    """A timerfd on CLOCK_MONOTONIC armed at absolute watchdog times, and an eventfd that set()
    writes; wait() sleeps until either is readable. Build with create(), which says why not."""

    kind = "timerfd"

    def __init__(self, libc: ctypes.PyDLL, timer_fd: int, event_fd: int) -> None:
        self._settime = libc.timerfd_settime
        self._timer_fd, self._event_fd = timer_fd, event_fd
        self._fds: tuple[int, ...] = (timer_fd, event_fd)  # open until close()
        self._spec = _Itimerspec()  # it_interval stays zero: one expiry per arm()
        self._spec_ref = ctypes.byref(self._spec)
        self._value = self._spec.it_value
        self._poll = select.poll()
        self._poll.register(timer_fd, select.POLLIN)
        self._poll.register(event_fd, select.POLLIN)
        self._armed_ns = 0
        self._lock = threading.Lock()  # arm() from two threads must not interleave its two fields

    @classmethod
    def create(cls) -> tuple[TimerWakeup | None, str]:
        """(the wakeup, "") on Linux with timerfd and eventfd; else (None, why not)."""
        if not sys.platform.startswith("linux") or not hasattr(os, "eventfd"):
            return None, f"timerfd needs Linux and os.eventfd (found {sys.platform})"
        name = ctypes.util.find_library("c")
        try:
            # PyDLL: neither call blocks, so the interpreter lock is kept (a cycle re-arms the
            # timer: with a CDLL, another thread could take the lock then and hold the cycle up)
            libc = ctypes.PyDLL(name, use_errno=True)
            create, settime = libc.timerfd_create, libc.timerfd_settime
        except (OSError, AttributeError, TypeError) as exc:
            return None, f"the C library offers no timerfd ({exc})"
        create.argtypes, create.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        settime.restype = ctypes.c_int
        timer_fd = create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if timer_fd < 0:
            return None, f"timerfd_create failed: {os.strerror(ctypes.get_errno())}"
        try:
            event_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except OSError as exc:
            os.close(timer_fd)
            return None, f"eventfd failed: {exc}"
        return cls(libc, timer_fd, event_fd), ""

    def set(self) -> None:
        os.eventfd_write(self._event_fd, 1)

    def clear(self) -> None:
        try:
            os.eventfd_read(self._event_fd)
        except BlockingIOError:
            pass

    def arm(self, deadline_ns: int) -> None:
        """Expire at `deadline_ns` on the monotonic clock (replacing the time armed before)."""
        with self._lock:
            if deadline_ns == self._armed_ns:
                return
            value = self._value
            value.tv_sec, value.tv_nsec = divmod(max(deadline_ns, 1), 1_000_000_000)
            if self._settime(self._timer_fd, _TFD_TIMER_ABSTIME, self._spec_ref, None) != 0:
                raise OSError(ctypes.get_errno(), f"timerfd_settime: {os.strerror(ctypes.get_errno())}")
            self._armed_ns = deadline_ns

    def wait(self, timeout_s: float, deadline_ns: int) -> None:
        """Arm the timer at `deadline_ns` and sleep until it expires (or is re-armed later and
        expires then), set() is called, or MAX_WAIT_S pass."""
        self.arm(deadline_ns)
        for fd, _ in self._poll.poll(MAX_WAIT_S * 1e3):
            if fd == self._timer_fd:
                with self._lock:
                    try:
                        os.read(fd, 8)  # the expiry count: read so the next poll waits again
                    except BlockingIOError:  # re-armed in between: it has not expired after all
                        continue
                    self._armed_ns = 0  # expired: the next arm() must set it again

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        fds, self._fds = getattr(self, "_fds", ()), ()
        for fd in fds:
            os.close(fd)
