"""Soak: the policy node's loop for minutes at 500 Hz, its misses, jitter and memory growth.

The node is the policy node itself (deploy.nodes.policy_node.PolicyNode) with the runtime's
documented real-time options (deploy/runtime/runtime.yaml `loop:` — SCHED_FIFO, mlockall, the
start-up heap frozen and no automatic GC in the loop; which took effect is reported): a sender
thread delivers odometry at the rate through the node's subscription callback, as a transport's
receive thread would, each arrival starts a cycle (--trigger sensor, the node's default), and the
node writes its actuator command to Cyclone DDS on loopback (--transport none: built only). Input
staleness limits are relaxed as in `tether bench loop`, so a pause is measured, not failed safe.

Reported (JSON with --json FILE, and a summary):
- misses: cycles that ended more than --miss-ms (default 2 ms, one period at 500 Hz) after their
  deadline (the sensor sample's arrival), and the loop's deadline misses and longest streak;
- jitter: how late each cycle started after its deadline, p50 / p99 over the newest 10 000
  cycles and the maximum over the run; compute likewise;
- memory: the process's resident set (VmRSS) after the warm-up and at the end, the growth
  between them and the largest reading; and how many objects a garbage collection after the
  run still found unreachable (reference cycles the loop left while the collector was off);
- the real-time options that took effect, and whether the run is within --max-misses and
  --max-growth-kib (default 0 misses over 2 ms and < 1024 KiB growth).

The hover policy is policies/quadrotor_hover.onnx, or while none is shipped a random-weight MLP
with the hover contract, written by a child process so that PyTorch never loads into this one
(a policy node does not have it either: its memory is what is measured).

Run: `tether bench soak --minutes 10 [--rate-hz 500] [--json soak.json]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.loop import DEFAULT_POLICY, ROOT, STALENESS_S, Feed, Subject, _arm, _node, _transport
from bench.sim_throughput import machine_description
from deploy.runtime.config import DEFAULT_CONFIG, RuntimeConfig
from deploy.runtime.rt_loop import TRIGGERS, CycleStats

log = logging.getLogger("tether.bench")

MAX_GROWTH_KIB = 1024  # < 1 MB growth over a 10-minute soak
MISS_MS = 2.0  # ... and no cycle ending more than 2 ms after its deadline


def rss_kib() -> int:
    """This process's resident set (VmRSS), KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


#: How often the sender thread reads the host's steal time (to find the late cycles it explains).
STEAL_PERIOD_S = 0.1
#: Late cycles whose start, compute and end times are kept for the report (the first ones).
LATE_RECORDS = 1000


class _Records:
    """Up to `capacity` rows of `width` numbers in an array allocated and touched once, so that
    what the soak records for its report does not count as the node's memory growth."""

    def __init__(self, capacity: int, width: int, dtype: type = np.int64) -> None:
        self._a = np.zeros((capacity, width), dtype=dtype)
        self._a.fill(0)  # touch every page now
        self.n = 0

    def append(self, *values: float) -> None:
        if self.n < len(self._a):
            self._a[self.n] = values
            self.n += 1

    def rows(self) -> list[tuple]:
        return [tuple(r) for r in self._a[: self.n].tolist()]

    def __len__(self) -> int:
        return self.n


def _thread_usage() -> tuple[int, int, int]:
    """The calling thread's voluntary and involuntary context switches and CPU time (ns) so far."""
    u = resource.getrusage(resource.RUSAGE_THREAD)
    return u.ru_nvcsw, u.ru_nivcsw, int((u.ru_utime + u.ru_stime) * 1e9)


#: What held up a late cycle, from the context switches of the thread that ran it since its
#: previous cycle (which include one voluntary switch: that thread's wait for this cycle), and from
#: which part of the cycle was late (start or step).
LATE_CAUSES = {
    "preempted": "the kernel ran another task on the thread's CPU while the thread was running "
    "(involuntary switch): a real-time task, a kernel thread or an interrupt",
    "blocked": "the thread waited again after its usual wait (voluntary switch): for the interpreter "
    "lock or another lock held by a thread that was not running",
    "woke late": "started late with no switch since its wait: its wake-up (a watchdog cycle's timer) "
    "came late, the CPUs being busy, or the hypervisor stole the CPU",
    "long step": "the step itself ran long with no switch (or the hypervisor stole the CPU)",
}
_TRIGGER_CODES = {"timer": 0, "sensor": 1, "watchdog": 2}


def late_cause(voluntary: int, involuntary: int, jitter_ns: int, compute_ns: int) -> str:
    """One of LATE_CAUSES for a late cycle."""
    if involuntary > 0:
        return "preempted"
    if voluntary > 1:
        return "blocked"
    return "woke late" if jitter_ns >= compute_ns else "long step"


class _LateCounter(CycleStats):
    """The loop's statistics, plus the cycles that ended more than `late_ns` after their deadline
    (the first LATE_RECORDS kept as (end on the monotonic clock, ns; jitter ns; compute ns; the
    running thread's voluntary and involuntary context switches and CPU time (ns) since its
    previous cycle; what started the cycle, _TRIGGER_CODES))."""

    def __init__(self, window: int, trigger: str, late_ns: int) -> None:
        self.late_ns = late_ns
        self.late = 0
        self.late_records = _Records(LATE_RECORDS, 7)
        self._usage: dict[int, tuple[int, int, int]] = {}  # thread → its usage after its last cycle
        super().__init__(window, trigger)

    def record(self, jitter_ns: int, compute_ns: int, missed: int, trigger: str = "timer") -> None:
        now = _thread_usage()  # (~2 µs, after the cycle's end was taken: not in its figures)
        thread = threading.get_ident()
        before = self._usage.get(thread, now)
        self._usage[thread] = now
        if jitter_ns + compute_ns > self.late_ns:
            self.late += 1
            self.late_records.append(
                time.monotonic_ns(),
                jitter_ns,
                compute_ns,
                *(a - b for a, b in zip(now, before, strict=True)),
                _TRIGGER_CODES[trigger],
            )
        super().record(jitter_ns, compute_ns, missed, trigger)


#: sched_setscheduler policies of real-time threads; the flag of kernel threads (proc_pid_stat(5))
_RT_POLICIES = {1: "FIFO", 2: "RR"}
_PF_KTHREAD = 0x00200000


def realtime_tasks_elsewhere() -> list[str]:
    """User-space threads of other processes under a real-time policy, as "comm (pid/tid) FIFO 50":
    at the soak's priority or above they can hold its cycles up (Linux /proc; [] elsewhere)."""
    own = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/task/*/stat"):
        pid = stat.parts[2]
        if pid == own:
            continue
        try:
            text = stat.read_text()
        except OSError:  # ended while listed
            continue
        comm, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        # fields 9 (flags), 40 (rt_priority), 41 (policy) of proc_pid_stat(5), counted from field 3
        flags, priority, policy = int(rest[6]), int(rest[37]), int(rest[38])
        if policy in _RT_POLICIES and not flags & _PF_KTHREAD:
            found.append(f"{comm} ({pid}/{stat.parts[4]}) {_RT_POLICIES[policy]} {priority}")
    return sorted(found)


def steal_s() -> float | None:
    """Seconds the hypervisor ran something else while this machine's CPUs wanted to run, summed
    over the CPUs since boot (/proc/stat `steal`); None where the kernel does not report it."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == "cpu" and len(fields) > 8 else None
    except (OSError, ValueError, IndexError):
        return None


def _late_with_steal(
    late: list[tuple[int, int, int]], steal: list[tuple[float, float]], wall0_s: float
) -> int:
    """How many late cycles ended in an interval between two readings over which the host's steal
    time grew."""
    n = 0
    for end, _j, _c in late:
        t = end * 1e-9 - wall0_s
        for (a, sa), (b, sb) in zip(steal, steal[1:], strict=False):
            if a <= t < b:
                n += sb > sa
                break
    return n


def _attribute(late: list[tuple[int, int, int]], spans: list[tuple[int, int]], margin_ns: int) -> int:
    """How many late cycles overlapped (within `margin_ns`) one of the `spans` (start, end ns)."""
    n = 0
    for end, jitter, compute in late:
        start = end - compute - jitter  # the cycle's deadline: from there it was waiting or running
        if any(a - margin_ns <= end and start <= b + margin_ns for a, b in spans):
            n += 1
    return n


def _hover_policy(directory: Path) -> Subject:
    if DEFAULT_POLICY.exists():
        return Subject("hover", DEFAULT_POLICY, str(DEFAULT_POLICY.relative_to(ROOT)))
    path = directory / "random_mlp.onnx"
    code = (
        "import sys; from sim.tasks.quadrotor_hover import HoverConfig; "
        "from training.random_policy import describe, write_random_policy; "
        "c = HoverConfig.from_yaml().contract(); write_random_policy(sys.argv[1], c); print(describe(c))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=ROOT, check=True, capture_output=True, text=True
    )
    what = out.stdout.strip().splitlines()[-1]
    return Subject("hover", path, f"{what} (no {DEFAULT_POLICY.relative_to(ROOT)} shipped yet)")


def _policy(name: str, directory: Path) -> Subject:
    if name == "hover":
        return _hover_policy(directory)
    return Subject(Path(name).stem, Path(name), name)


def run(
    minutes: float = 10.0,
    rate_hz: float = 500.0,
    policy: str = "hover",
    trigger: str = "sensor",
    transport_kind: str = "dds",
    miss_ms: float = MISS_MS,
    max_misses: int = 0,
    max_growth_kib: float = MAX_GROWTH_KIB,
    warmup_s: float | None = None,
    config_path: str | None = None,
    gc_collect_period_s: float | None = None,
    json_path: str | None = None,
) -> dict[str, Any]:
    """One soak; returns the figures (see the module docstring)."""
    if not minutes > 0:
        raise ValueError(f"--minutes must be positive, found {minutes}")
    seconds = minutes * 60.0
    warmup = min(10.0, 0.1 * seconds) if warmup_s is None else warmup_s
    if not 0 <= warmup < seconds:
        raise ValueError(f"the warm-up ({warmup:g} s) must be shorter than the soak ({seconds:g} s)")
    with tempfile.TemporaryDirectory() as tmp:
        config = yaml.safe_load(Path(config_path or DEFAULT_CONFIG).read_text())
        for spec in config["inputs"].values():
            for key in ("max_age_s", "stamp_max_age_s"):
                if spec.get(key) is not None:
                    spec[key] = max(spec[key], STALENESS_S)
        config.setdefault("safety", {})["max_deadline_miss_streak"] = 10**9  # measured, not failed safe on
        if gc_collect_period_s is not None:
            config.setdefault("loop", {})["gc_collect_period_s"] = gc_collect_period_s
        relaxed = Path(tmp) / "runtime.yaml"
        relaxed.write_text(yaml.safe_dump(config))
        RuntimeConfig.from_yaml(relaxed)  # checked before the node starts
        subject = _policy(policy, Path(tmp))
        transport, lease, note = _transport(transport_kind)
        try:
            result = _soak(subject, transport, relaxed, rate_hz, seconds, warmup, trigger, miss_ms)
        finally:
            transport.close()
            if lease is not None:
                lease.__exit__(None, None, None)
    result.update(
        {
            "minutes": minutes,
            "rate_hz": rate_hz,
            "trigger": trigger,
            "transport": note,
            "machine": machine_description(),
            "bounds": {"misses_over_ms": max_misses, "rss_growth_kib_below": max_growth_kib},
        }
    )
    result["within_bounds"] = bool(
        result["misses"]["over_ms"] <= max_misses and result["rss_kib"]["growth"] < max_growth_kib
    )
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(result, indent=2))
    return result


def _soak(
    subject: Subject,
    transport: Any,
    config: Path,
    rate_hz: float,
    seconds: float,
    warmup_s: float,
    trigger: str,
    miss_ms: float,
) -> dict[str, Any]:
    node = _node(subject, transport, config, {})
    feed = Feed(node, transport.make)
    _arm(node, feed, rate_hz)  # inputs, arm, RUNNING, caches warm (no real-time options yet)
    from deploy.runtime.rt_loop import RealtimeLoop

    opts = node.runtime.config.loop
    node.use_loop(RealtimeLoop(rate_hz, opts, trigger=trigger))
    stats = _LateCounter(opts.stats_window_cycles, trigger, int(miss_ms * 1e6))
    node.loop.stats = stats
    node._stop.clear()
    before = dict(node.sources)
    stop = threading.Event()
    rss: dict[str, int] = {}
    # RSS each second after the warm-up, in an array made now: a growing list of int objects
    # would take new pages of Python's small-object heap, counted as the node's own growth
    rss_records = _Records(int(seconds) + 2, 1)
    # (since the start, host steal), s, every STEAL_PERIOD_S; (start, end) of each diagnostics
    # publication, ns: both in arrays made before the RSS readings start
    steal_records = _Records(int(seconds / STEAL_PERIOD_S) + 100, 2, np.float64)
    diagnostics_rate_hz = float(node.params["diagnostics_rate_hz"])
    diagnostic_records = _Records(int(seconds * diagnostics_rate_hz * 1.5) + 100, 2)
    publish = node.publish_diagnostics

    def timed_diagnostics() -> None:
        t = time.monotonic_ns()
        try:
            publish()
        finally:
            diagnostic_records.append(t, time.monotonic_ns())

    node.publish_diagnostics = timed_diagnostics  # type: ignore[method-assign]

    rt_elsewhere_before = realtime_tasks_elsewhere()
    steal0, wall0 = steal_s(), time.monotonic()

    def sender() -> None:
        """Odometry at the rate through the node's callback; RSS after the warm-up, then each second."""
        period = 1.0 / rate_hz
        t0 = time.monotonic()
        t_next, k, next_sample, next_steal = t0, 0, t0 + warmup_s, t0
        while not stop.is_set():
            feed.deliver(feed.messages(k))
            k += 1
            now = time.monotonic()
            if now >= next_sample:
                value = rss_kib()
                rss.setdefault("start", value)
                rss["end"] = value
                rss["max"] = max(rss.get("max", 0), value)
                rss_records.append(value)
                next_sample = now + 1.0
            if now >= next_steal:
                stolen_now = steal_s()
                if stolen_now is not None:
                    steal_records.append(now - wall0, stolen_now)
                next_steal = now + STEAL_PERIOD_S
            t_next += period
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    thread = threading.Thread(target=sender, name="sensor", daemon=True)
    thread.start()  # before the loop: its real-time options (SCHED_FIFO) cover this thread too
    try:
        node.run(seconds=seconds)
    finally:
        stop.set()
        thread.join(timeout=2.0)
    steal1, wall = steal_s(), time.monotonic() - wall0
    rt_elsewhere_after = realtime_tasks_elsewhere()
    late_rows = stats.late_records.rows()
    late_cycles = [row[:3] for row in late_rows]  # (end, jitter, compute), ns
    triggers = {code: name for name, code in _TRIGGER_CODES.items()}
    steal_samples = steal_records.rows()
    diagnostics = diagnostic_records.rows()
    stolen = None if steal0 is None or steal1 is None else steal1 - steal0
    samples = [row[0] for row in rss_records.rows()]
    if not samples:  # a run shorter than its warm-up plus a second: read once now
        rss["start"] = rss["end"] = rss["max"] = rss_kib()
        samples.append(rss["end"])
    # (the end is the last reading in the loop: after it, munlockall has already released pages)
    slope = float(np.polyfit(np.arange(len(samples)), samples, 1)[0]) * 60.0 if len(samples) > 2 else 0.0
    unreachable = gc.collect()  # the loop has restored the collector: cycles it left are found now
    snap = node.loop.stats.snapshot()
    status = node.loop.realtime_status
    sources = {k: v - before.get(k, 0) for k, v in node.sources.items() if v - before.get(k, 0)}
    return {
        "policy": subject.note,
        "seconds": seconds,
        "warmup_s": warmup_s,
        "cycles": snap.cycles,
        "misses": {
            "over_ms": stats.late,
            "threshold_ms": miss_ms,
            "deadline_misses": snap.deadline_misses,
            "max_miss_streak": snap.max_miss_streak,
            # of the late cycles kept: how many overlapped a diagnostics publication (±0.5 ms)
            "late_recorded": len(late_cycles),
            "late_during_diagnostics": _attribute(late_cycles, diagnostics, 500_000),
            "late_cycles_s": [
                {
                    "t_s": round((e - int(wall0 * 1e9)) * 1e-9, 4),
                    "late_us": round((j + c) / 1e3, 1),
                    "jitter_us": round(j / 1e3, 1),
                    "compute_us": round(c / 1e3, 1),
                    "trigger": triggers[k],
                    # the running thread since its previous cycle: what held this one up
                    "cause": late_cause(v, iv, j, c),
                    "voluntary_switches": v,
                    "involuntary_switches": iv,
                    "thread_cpu_us": round(cpu / 1e3, 1),
                }
                for e, j, c, v, iv, cpu, k in late_rows[:100]
            ],
            # of the late cycles kept: how many by cause (LATE_CAUSES)
            "late_by_cause": {
                cause: sum(late_cause(*row[3:5], *row[1:3]) == cause for row in late_rows)
                for cause in LATE_CAUSES
            },
            # of the late cycles kept: how many fell in a second when the hypervisor stole time
            "late_in_a_window_with_steal": _late_with_steal(late_cycles, steal_samples, wall0),
            "windows_with_steal": sum(
                b > a for (_, a), (_, b) in zip(steal_samples, steal_samples[1:], strict=False)
            ),
            "windows_observed": max(len(steal_samples) - 1, 0),
            "window_s": STEAL_PERIOD_S,
        },
        # other processes' threads under a real-time policy when the soak started and ended
        "realtime_tasks_elsewhere": {"start": rt_elsewhere_before, "end": rt_elsewhere_after},
        "diagnostics_publications": len(diagnostics),
        "diagnostics_us_max": max(((b - a) / 1e3 for a, b in diagnostics), default=0.0),
        # the hypervisor's steal time over the run, summed over the CPUs (None: not reported)
        "host_steal_s": stolen,
        "host_steal_percent": None if stolen is None else 100.0 * stolen / (wall * (os.cpu_count() or 1)),
        "jitter_us": {"p50": snap.jitter_us_p50, "p99": snap.jitter_us_p99, "max": snap.jitter_us_max},
        "compute_us": {"p50": snap.compute_us_p50, "p99": snap.compute_us_p99, "max": snap.compute_us_max},
        "response_us_max": snap.response_us_max,
        "cpu_percent": snap.cpu_percent,
        "sensor_cycles": snap.sensor_cycles,
        "watchdog_cycles": snap.watchdog_cycles,
        "rss_kib": {
            "start": rss["start"],
            "end": rss["end"],
            "growth": rss["end"] - rss["start"],
            "max": rss["max"],
            "growth_per_minute_fit": slope,  # least-squares slope of the per-second readings
            "every_second": samples,
        },
        "gc": {
            "collections_between_cycles": snap.gc_collections,
            "collection_us_max": snap.gc_us_max,
            "unreachable_after_run": unreachable,
        },
        "realtime": None if status is None else status.to_dict(),
        "final_state": node.runtime.state.value,
        "cycles_by_source": sources,
    }


def _steal(r: dict[str, Any]) -> str:
    if r["host_steal_s"] is None:
        return "n/a"
    return f"{r['host_steal_s']:.2f} s ({r['host_steal_percent']:.2f} % of the CPUs' time)"


def _late_lines(r: dict[str, Any]) -> list[str]:
    """What held the late cycles up, and the real-time tasks of other processes, where there are any."""
    lines = []
    m = r["misses"]
    if m["late_recorded"]:
        causes = ", ".join(f"{n} {cause}" for cause, n in m["late_by_cause"].items() if n)
        first = "; ".join(
            f"{c['t_s']:.2f} s: {c['late_us']:.0f} µs late ({c['trigger']}, {c['cause']})"
            for c in m["late_cycles_s"][:5]
        )
        lines.append(f"  late cycles by cause: {causes}; the first: {first}")
    elsewhere = r["realtime_tasks_elsewhere"]
    if elsewhere["start"] or elsewhere["end"]:
        seen = sorted(set(elsewhere["start"]) | set(elsewhere["end"]))
        more = f" and {len(seen) - 8} more" if len(seen) > 8 else ""
        listed = ", ".join(seen[:8]) + more
        lines.append(f"  real-time threads of other processes (they can hold cycles up): {listed}")
    return lines


def summary(r: dict[str, Any]) -> str:
    m, j, mem = r["misses"], r["jitter_us"], r["rss_kib"]
    rt = r["realtime"] or {"applied": {}, "skipped": {}}
    return "\n".join(
        [
            f"soak: {r['minutes']:g} min at {r['rate_hz']:g} Hz, {r['trigger']}-triggered, policy "
            f"{r['policy']}, transport {r['transport']}, on {r['machine']}",
            f"  {r['cycles']} cycles; {m['over_ms']} ended > {m['threshold_ms']:g} ms after their deadline "
            f"({m['late_during_diagnostics']} of the first {m['late_recorded']} during a diagnostics "
            f"publication, {m['late_in_a_window_with_steal']} in a {m['window_s']:g} s window with host "
            f"steal, as were {m['windows_with_steal']} of {m['windows_observed']} windows; "
            f"{r['diagnostics_publications']} publications, the longest "
            f"{r['diagnostics_us_max']:.0f} µs); {m['deadline_misses']} deadline misses (longest streak "
            f"{m['max_miss_streak']}); host steal {_steal(r)}",
            *_late_lines(r),
            f"  jitter p50 {j['p50']:.1f} µs, p99 {j['p99']:.1f} µs, max {j['max']:.1f} µs; compute p50 "
            f"{r['compute_us']['p50']:.1f} µs, p99 {r['compute_us']['p99']:.1f} µs; "
            f"CPU {r['cpu_percent']:.1f} %",
            f"  RSS {mem['start']} KiB after {r['warmup_s']:g} s warm-up → {mem['end']} KiB at the end "
            f"(growth {mem['growth']:+d} KiB, fit {mem['growth_per_minute_fit']:+.0f} KiB/min, max "
            f"{mem['max']} KiB); "
            f"{r['gc']['unreachable_after_run']} unreachable objects found by a collection after the run",
            "  real-time: "
            + (", ".join(rt["applied"].values()) or "none")
            + ("; NOT applied: " + "; ".join(rt["skipped"].values()) if rt["skipped"] else ""),
            f"  within bounds (≤ {r['bounds']['misses_over_ms']} misses over {m['threshold_ms']:g} ms, "
            f"growth < {r['bounds']['rss_growth_kib_below']:g} KiB): {'yes' if r['within_bounds'] else 'NO'}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench soak", description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="soak length (default: %(default)s)")
    ap.add_argument("--rate-hz", type=float, default=500.0, help="loop and sensor rate (%(default)s)")
    ap.add_argument("--policy", default="hover", help="hover or an ONNX file (default: %(default)s)")
    ap.add_argument("--trigger", choices=TRIGGERS, default="sensor", help="loop trigger (%(default)s)")
    ap.add_argument(
        "--transport", choices=["dds", "none"], default="dds",
        help="dds: commands written to Cyclone DDS on loopback; none: built only (default: %(default)s)",
    )  # fmt: skip
    ap.add_argument("--miss-ms", type=float, default=MISS_MS, help="a cycle ending later than this after "
                    "its deadline is a miss (default: %(default)s)")  # fmt: skip
    ap.add_argument("--max-misses", type=int, default=0, help="bound on misses (default: %(default)s)")
    ap.add_argument("--max-growth-kib", type=float, default=MAX_GROWTH_KIB,
                    help="bound on RSS growth (default: %(default)s)")  # fmt: skip
    ap.add_argument("--warmup-s", type=float, help="RSS start reading after this (default: 10 %% of the "
                    "run, at most 10 s)")  # fmt: skip
    ap.add_argument("--config", help="runtime YAML (default: deploy/runtime/runtime.yaml)")
    ap.add_argument("--gc-collect-period", type=float, metavar="S",
                    help="collect the youngest generation between cycles, at most every S s")  # fmt: skip
    ap.add_argument("--json", help="write the figures to this JSON file")
    ap.add_argument("--check", action="store_true", help="exit 1 when the run is outside the bounds")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    r = run(
        args.minutes, args.rate_hz, args.policy, args.trigger, args.transport, args.miss_ms, args.max_misses,
        args.max_growth_kib, args.warmup_s, args.config, args.gc_collect_period, args.json,
    )  # fmt: skip
    print(summary(r))
    if args.json:
        print(f"wrote {args.json}")
    if args.check and not r["within_bounds"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
