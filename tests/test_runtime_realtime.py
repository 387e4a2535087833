"""Real-time options of the loop (deploy/runtime/rt_loop.py): SCHED_FIFO for every thread, mlockall,
the GC kept out of the cycle, the one warning when something is not permitted (EPERM simulated by
monkeypatching), what took effect in the node's diagnostics, and the settings' validation; the soak
benchmark's output. Nothing here changes this process's scheduling or locks its memory, and
nothing is timed."""

import ctypes
import dataclasses
import errno
import gc
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import deploy.runtime.rt_loop as rt_loop
from bench.soak import LATE_CAUSES, late_cause, realtime_tasks_elsewhere
from deploy.runtime.config import DEFAULT_CONFIG, LoopOptions, RuntimeConfig
from deploy.runtime.rt_loop import RealtimeLoop, apply_realtime_options
from tests.runtime_helpers import hover_policy

ROOT = Path(__file__).resolve().parents[1]


def _refuse(*args):
    raise PermissionError(errno.EPERM, "Operation not permitted")


class _FakeLibc:
    """mlockall refused as an unprivileged process over its memlock limit is (ENOMEM)."""

    def __init__(self, mlock_result: int = -1, err: int = errno.ENOMEM) -> None:
        self.mlock_result, self.err, self.unlocked = mlock_result, err, 0

    def mlockall(self, flags: int) -> int:
        assert flags == 3  # MCL_CURRENT | MCL_FUTURE
        if self.mlock_result != 0:
            ctypes.set_errno(self.err)
        return self.mlock_result

    def munlockall(self) -> int:
        self.unlocked += 1
        return 0

    def prctl(self, *args: int) -> int:
        return 0


def _loop_lines(caplog):
    return [r for r in caplog.records if r.name == "tether.runtime.loop"]


def test_the_documented_defaults_request_fifo_mlockall_and_no_gc_in_the_loop():
    opts = RuntimeConfig.from_yaml(DEFAULT_CONFIG).loop
    assert opts == LoopOptions()  # the dataclass defaults are the file's
    assert opts.sched_fifo_priority == 50 and opts.lock_memory and opts.disable_gc
    assert opts.gc_collect_period_s is None
    for sim in ("launch/config/runtime_sim.yaml", "launch/config/runtime_sim_legged.yaml"):
        loop = RuntimeConfig.from_yaml(ROOT / sim).loop
        assert loop.sched_fifo_priority == 50 and loop.lock_memory, sim


def test_eperm_falls_back_with_one_warning_naming_what_and_how_to_grant_it(monkeypatch, caplog):
    monkeypatch.setattr(rt_loop.os, "sched_setscheduler", _refuse)
    libc = _FakeLibc()
    monkeypatch.setattr(rt_loop, "_libc", lambda: libc)
    with caplog.at_level(logging.INFO, logger="tether.runtime.loop"):
        restore = apply_realtime_options(LoopOptions(sched_fifo_priority=50, lock_memory=True))
    try:
        (record,) = _loop_lines(caplog)
        assert record.levelno == logging.WARNING
        line = record.getMessage()
        expected = (
            "SCHED_FIFO priority 50 not permitted", "CAP_SYS_NICE", "rtprio 50", "limits.conf", "ulimit -r",
            "mlockall not permitted", "ulimit -l", "memlock", "CAP_IPC_LOCK",
        )  # fmt: skip
        for words in expected:
            assert words in line, (words, line)
        status = restore.status
        assert set(status.skipped) == {"sched_fifo", "lock_memory"}
        assert set(status.applied) == {"timer_slack", "switch_interval", "gc"}
        assert status.requested["sched_fifo_priority"] == 50 and status.requested["lock_memory"] is True
        values = status.diagnostic_values()
        assert values["realtime.sched_fifo"].startswith("not applied: SCHED_FIFO priority 50 not permitted")
        assert values["realtime.lock_memory"].startswith("not applied: mlockall")
        assert values["realtime.cpu_affinity"] == "off" and "frozen" in values["realtime.gc"]
        assert json.loads(json.dumps(status.to_dict())) == status.to_dict()
    finally:
        restore()
    assert libc.unlocked == 0  # nothing was locked, nothing to undo


def test_fifo_is_set_on_every_thread_and_restored(monkeypatch, caplog):
    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(rt_loop, "_threads", lambda: [101, 102, 103])
    monkeypatch.setattr(rt_loop.os, "sched_getscheduler", lambda tid: rt_loop.os.SCHED_OTHER)
    monkeypatch.setattr(rt_loop.os, "sched_getparam", lambda tid: rt_loop.os.sched_param(0))

    def setscheduler(tid, policy, param):
        if tid == 102 and policy == rt_loop.os.SCHED_FIFO:
            raise ProcessLookupError  # ended between listing and setting: skipped, not a failure
        calls.append((tid, policy, param.sched_priority))

    monkeypatch.setattr(rt_loop.os, "sched_setscheduler", setscheduler)
    libc = _FakeLibc(mlock_result=0)
    monkeypatch.setattr(rt_loop, "_libc", lambda: libc)
    with caplog.at_level(logging.INFO, logger="tether.runtime.loop"):
        restore = apply_realtime_options(LoopOptions(sched_fifo_priority=70, disable_gc=False))
    fifo = rt_loop.os.SCHED_FIFO
    assert calls == [(101, fifo, 70), (103, fifo, 70)]
    assert restore.status.applied["sched_fifo"] == "SCHED_FIFO priority 70 (every thread)"
    assert "lock_memory" in restore.status.applied and not restore.status.skipped
    (record,) = _loop_lines(caplog)
    assert record.levelno == logging.INFO  # everything permitted: no warning
    restore()
    assert calls[2:] == [(103, rt_loop.os.SCHED_OTHER, 0), (101, rt_loop.os.SCHED_OTHER, 0)]
    assert libc.unlocked == 1


def test_a_refusal_part_way_through_the_threads_restores_those_already_set(monkeypatch):
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(rt_loop, "_threads", lambda: [1, 2])
    monkeypatch.setattr(rt_loop.os, "sched_getscheduler", lambda tid: rt_loop.os.SCHED_OTHER)
    monkeypatch.setattr(rt_loop.os, "sched_getparam", lambda tid: rt_loop.os.sched_param(0))

    def setscheduler(tid, policy, param):
        if tid == 2:
            _refuse()
        calls.append((tid, policy))

    monkeypatch.setattr(rt_loop.os, "sched_setscheduler", setscheduler)
    monkeypatch.setattr(rt_loop, "_libc", lambda: None)
    restore = apply_realtime_options(LoopOptions(sched_fifo_priority=50, lock_memory=False, disable_gc=False))
    assert calls == [(1, rt_loop.os.SCHED_FIFO), (1, rt_loop.os.SCHED_OTHER)]  # thread 1 back at once
    assert "sched_fifo" in restore.status.skipped and "sched_fifo" not in restore.status.applied
    restore()


def test_the_gc_is_frozen_and_off_during_the_loop_and_collected_between_cycles_when_asked(monkeypatch):
    monkeypatch.setattr(rt_loop, "_libc", lambda: None)
    monkeypatch.setattr(rt_loop.os, "sched_setscheduler", _refuse)
    t = [0]

    def clock():
        t[0] += 1000
        return t[0]

    def sleep(s):
        t[0] += int(s * 1e9)

    seen = []
    opts = LoopOptions(sched_fifo_priority=None, lock_memory=False, gc_collect_period_s=0.05)
    loop = RealtimeLoop(100.0, opts, clock_ns=clock, sleep_s=sleep)
    loop.run(lambda info: seen.append((gc.isenabled(), gc.get_freeze_count() > 0)), cycles=30)
    assert seen and all(s == (False, True) for s in seen)  # off and frozen in every cycle
    assert gc.isenabled() and gc.get_freeze_count() == 0  # restored after
    snap = loop.stats.snapshot()
    assert 4 <= snap.gc_collections <= 7  # 30 cycles of 10 ms, one collection per 50 ms at most
    assert loop.realtime_status is not None and "between cycles" in loop.realtime_status.applied["gc"]
    off = RealtimeLoop(100.0, LoopOptions(), clock_ns=clock, sleep_s=sleep)
    off.run(lambda info: None, cycles=5, realtime=False)
    assert off.realtime_status is None and off.stats.snapshot().gc_collections == 0


def test_the_switch_interval_is_short_while_the_loop_runs_and_restored_after(monkeypatch):
    """A thread holding the interpreter lock hands it to a waiting cycle after switch_interval_s, not
    after Python's 5 ms; null leaves Python's own."""
    monkeypatch.setattr(rt_loop, "_libc", lambda: None)
    before = sys.getswitchinterval()
    seen = []
    opts = LoopOptions(
        sched_fifo_priority=None, lock_memory=False, disable_gc=False, switch_interval_s=0.0003
    )
    loop = RealtimeLoop(100.0, opts, clock_ns=iter(range(0, 10**12, 10**6)).__next__, sleep_s=lambda s: None)
    loop.run(lambda info: seen.append(sys.getswitchinterval()), cycles=3)
    assert seen == [pytest.approx(0.0003)] * 3
    assert sys.getswitchinterval() == before
    status = loop.realtime_status
    assert status.applied["switch_interval"] == "interpreter switch interval 300 µs"
    assert status.requested["switch_interval_s"] == 0.0003
    assert status.diagnostic_values()["realtime.switch_interval"] == "interpreter switch interval 300 µs"
    off = apply_realtime_options(dataclasses.replace(opts, switch_interval_s=None))
    try:
        assert sys.getswitchinterval() == before and "switch_interval" not in off.status.applied
        assert off.status.diagnostic_values()["realtime.switch_interval"] == "off"
    finally:
        off()


@pytest.mark.parametrize(
    ("loop", "match"),
    [
        ({"switch_interval_s": 0}, "switch_interval_s must be a number of seconds in \\(0, 0.1\\]"),
        ({"switch_interval_s": 0.5}, "switch_interval_s must be a number of seconds"),
        ({"switch_interval_s": float("nan")}, "switch_interval_s must be a number of seconds"),
        ({"switch_interval_s": "fast"}, "switch_interval_s must be a number of seconds"),
        ({"sched_fifo_priority": 0}, "sched_fifo_priority must be an integer 1..99"),
        ({"sched_fifo_priority": 100}, "sched_fifo_priority must be an integer 1..99"),
        ({"sched_fifo_priority": "high"}, "sched_fifo_priority must be an integer 1..99"),
        ({"sched_fifo_priority": True}, "sched_fifo_priority must be an integer 1..99"),
        ({"lock_memory": "yes"}, "loop.lock_memory must be true or false"),
        ({"disable_gc": 1}, "loop.disable_gc must be true or false"),
        ({"gc_collect_period_s": 0}, "gc_collect_period_s must be a positive number"),
        ({"gc_collect_period_s": ".5"}, "gc_collect_period_s must be a positive number"),
        ({"gc_collect_period_s": 1.0, "disable_gc": False}, "needs loop.disable_gc: true"),
        ({"cpu_affinity": []}, "cpu_affinity must be a non-empty list"),
        ({"cpu_affinity": [-1]}, "cpu_affinity must be a non-empty list"),
        ({"timer_slack_ns": 0}, "timer_slack_ns must be an integer"),
        ({"sched_priority": 50}, "unknown keys \\['sched_priority'\\]"),
        ({"sensor_cycle_thread": "dds"}, "sensor_cycle_thread must be one of \\['receive', 'loop'\\]"),
    ],
)
def test_loop_settings_are_validated_by_name(loop, match):
    with pytest.raises(ValueError, match=match):
        RuntimeConfig.from_dict({"inputs": {}, "loop": loop})


def test_valid_loop_settings_load():
    cfg = RuntimeConfig.from_dict(
        {
            "loop": {
                "sched_fifo_priority": 99,
                "cpu_affinity": [1],
                "lock_memory": False,
                "gc_collect_period_s": 0.5,
                "timer_slack_ns": None,
                "sensor_cycle_thread": "loop",
            }
        }  # fmt: skip
    )
    assert cfg.loop.sensor_cycle_thread == "loop"
    assert RuntimeConfig.from_yaml().loop.sensor_cycle_thread == "receive"  # the documented default
    assert cfg.loop.sched_fifo_priority == 99 and cfg.loop.cpu_affinity == (1,)
    assert cfg.loop.gc_collect_period_s == 0.5 and cfg.loop.timer_slack_ns is None
    assert RuntimeConfig.from_dict({"loop": {"sched_fifo_priority": None}}).loop.sched_fifo_priority is None


def test_soak_reports_misses_jitter_memory_and_what_took_effect(tmp_path):
    """`tether bench soak` for one second, in its own process (it may lock its memory and run
    SCHED_FIFO there): the figures are all present; their values are not judged here."""
    policy = hover_policy(tmp_path / "linear_hover.onnx")
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tether.cli", "bench", "soak", "--minutes", str(1 / 60),
         "--policy", str(policy), "--transport", "none", "--warmup-s", "0.2", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["rate_hz"] == 500.0 and r["cycles"] > 0 and r["final_state"] == "RUNNING"
    assert set(r["misses"]) >= {"over_ms", "threshold_ms", "deadline_misses", "max_miss_streak"}
    assert r["misses"]["late_recorded"] == min(r["misses"]["over_ms"], 1000)
    assert r["diagnostics_publications"] >= 0 and "host_steal_s" in r
    assert r["misses"]["threshold_ms"] == 2.0
    assert set(r["jitter_us"]) == {"p50", "p99", "max"}
    assert r["jitter_us"]["p50"] <= r["jitter_us"]["p99"] <= r["jitter_us"]["max"]
    mem = r["rss_kib"]
    assert mem["start"] > 0 and mem["end"] > 0 and mem["growth"] == mem["end"] - mem["start"]
    assert r["bounds"] == {"misses_over_ms": 0, "rss_growth_kib_below": 1024}
    assert isinstance(r["within_bounds"], bool) and isinstance(r["gc"]["unreachable_after_run"], int)
    assert set(r["realtime"]["requested"]) >= {"sched_fifo_priority", "lock_memory", "disable_gc"}
    assert "gc" in r["realtime"]["applied"] and "switch_interval" in r["realtime"]["applied"]
    assert set(r["misses"]["late_by_cause"]) == set(LATE_CAUSES)
    assert sum(r["misses"]["late_by_cause"].values()) == r["misses"]["late_recorded"]
    assert set(r["realtime_tasks_elsewhere"]) == {"start", "end"}
    assert "soak: " in proc.stdout and "RSS" in proc.stdout


def test_a_late_cycle_is_put_down_to_what_held_it_up():
    ms = 1_000_000
    # (voluntary, involuntary switches since the thread's last cycle; jitter, compute ns)
    assert late_cause(1, 1, 3 * ms, ms // 10) == "preempted"  # the kernel took the CPU away
    assert late_cause(4, 0, 3 * ms, ms // 10) == "blocked"  # waited on a lock after its own wait
    assert late_cause(1, 0, 3 * ms, ms // 10) == "woke late"  # only its wait: it started late
    assert late_cause(0, 0, 0, 3 * ms) == "long step"
    assert set(LATE_CAUSES) == {"preempted", "blocked", "woke late", "long step"}


def test_the_soak_names_real_time_threads_of_other_processes():
    """A child that makes itself SCHED_FIFO is listed (by the soak, before and after its run, as
    what can hold its cycles up); this process's own threads are not."""
    code = (
        "import os, sys, time\n"
        "try:\n    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(7))\n"
        "except PermissionError:\n    print('refused', flush=True); sys.exit(0)\n"
        "print('fifo', flush=True); time.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        if child.stdout.readline().strip() != "fifo":
            pytest.skip("SCHED_FIFO not permitted here (CAP_SYS_NICE or an rtprio limit needed)")
        found = realtime_tasks_elsewhere()
        assert f"python ({child.pid}/{child.pid}) FIFO 7" in [f.replace("python3", "python") for f in found]
        assert not any(f"({os.getpid()}/" in f for f in found)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert not any(f"({child.pid}/" in f for f in realtime_tasks_elsewhere())


@pytest.mark.slow
def test_ten_minute_soak_at_500_hz_within_bounds(tmp_path):
    """The soak bound: 10 minutes at 500 Hz, 0 cycles ending more than 2 ms after their deadline and
    < 1 MB growth of the resident set. Needs SCHED_FIFO and mlockall (a root container, or
    CAP_SYS_NICE + a memlock limit) and a machine not running anything at real-time priority."""
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tether.cli", "bench", "soak", "--minutes", "10", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    detail = json.dumps({k: r[k] for k in ("misses", "jitter_us", "rss_kib", "realtime", "gc")})[:4000]
    assert not r["realtime"]["skipped"], detail
    assert r["misses"]["over_ms"] == 0, detail
    assert r["rss_kib"]["growth"] < 1024, detail


def test_soak_attributes_late_cycles_to_diagnostics_and_to_host_steal():
    from bench.soak import _attribute, _late_with_steal

    ms = 1_000_000
    # late cycles as (end, jitter, compute), ns: one ending inside a publication, one starting
    # 0.4 ms after one ended (within the margin), one far from any
    late = [(10 * ms, 2 * ms, ms // 5), (20 * ms, 2 * ms, ms // 5), (90 * ms, 2 * ms, ms // 5)]
    publications = [(9 * ms, 9 * ms + ms // 2), (17 * ms + ms // 3, 17 * ms + ms // 2)]
    assert _attribute(late, publications, ms // 2) == 2
    assert _attribute(late, publications, 0) == 1
    # steal readings (s since the start, steal s): it grew between 0.1 and 0.2 s only
    steal = [(0.0, 5.0), (0.1, 5.0), (0.2, 5.01), (0.3, 5.01)]
    wall0 = 100.0
    ends = [(int((wall0 + t) * 1e9), 0, 0) for t in (0.05, 0.15, 0.25, 0.5)]
    assert _late_with_steal(ends, steal, wall0) == 1
