"""The fixed-rate loop on a simulated clock (deadlines, misses, streaks), graceful degradation of the
real-time options, and the `tether run` / `tether bench loop` commands. No timed assertions."""

import dataclasses
import gc
import json
import logging
import subprocess
import sys

import numpy as np
import pytest

import deploy.runtime.rt_loop as rt_loop
from deploy.runtime.config import LoopOptions, RuntimeConfig
from deploy.runtime.input_store import Command, Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, RobotProfile
from deploy.runtime.rt_loop import CycleStats, RealtimeLoop, apply_realtime_options
from deploy.runtime.runtime import Runtime
from deploy.runtime.safety import State
from deploy.runtime.stage_times import STAGES
from deploy.sim_bridge import airborne_profile
from tests.runtime_helpers import hover_policy

PERIOD_NS = 1_000_000


class FakeClock:
    """Nanoseconds that advance 1 µs per read, and by exactly the requested time on sleep."""

    def __init__(self) -> None:
        self.t = 5_000_000_000

    def clock(self) -> int:
        self.t += 1000
        return self.t

    def sleep(self, s: float) -> None:
        self.t += int(s * 1e9)


def _fake_loop(rate_hz=1000.0):
    fake = FakeClock()
    return fake, RealtimeLoop(
        rate_hz, LoopOptions(spin_margin_s=0.0002), clock_ns=fake.clock, sleep_s=fake.sleep
    )


def test_deadlines_are_absolute_and_an_overrun_skips_the_deadlines_it_missed():
    fake, loop = _fake_loop()
    infos = []

    def step(info):
        infos.append(info)
        if info.index == 5:
            fake.t += int(2.5 * PERIOD_NS)  # this cycle overruns by 1.5 periods

    stats = loop.run(step, cycles=10, realtime=False)
    deadlines = np.array([i.deadline_ns for i in infos])
    gaps = np.diff(deadlines) // PERIOD_NS
    assert list(gaps) == [1, 1, 1, 1, 1, 3, 1, 1, 1]  # two deadlines skipped, no burst to catch up
    assert np.all((deadlines - deadlines[0]) % PERIOD_NS == 0)  # no drift
    assert [i.miss_streak for i in infos] == [0] * 6 + [2, 0, 0, 0]
    assert stats.cycles == 10 and stats.deadline_misses == 2 and stats.max_miss_streak == 2
    assert all(i.start_ns >= i.deadline_ns for i in infos)
    assert stats.jitter_us_max < 10.0  # simulated clock: the spin ends within a few reads of the deadline


def test_seconds_bound_the_number_of_cycles():
    _, loop = _fake_loop(rate_hz=500.0)
    assert loop.run(lambda info: None, seconds=0.1, realtime=False).cycles == 50


def test_cycle_statistics_give_percentiles_of_the_newest_window_and_maxima_since_reset():
    stats = CycleStats(window=100)
    for k in range(1, 151):  # cycle k: k µs late, 2k µs of compute; a 1 ms spike at cycle 10
        stats.record(1_000_000 if k == 10 else k * 1000, 2 * k * 1000, 2 if k >= 149 else 0)
    s = stats.snapshot()
    assert s.cycles == 150 and s.window_cycles == 100  # the window holds cycles 51 … 150
    assert s.jitter_us_p50 == pytest.approx(100.5) and s.jitter_us_p99 == pytest.approx(149.01)
    assert s.compute_us_p50 == pytest.approx(201.0) and s.compute_us_max == pytest.approx(300.0)
    assert s.jitter_us_max == pytest.approx(1000.0)  # the spike left the window, not the maximum
    assert s.deadline_misses == 4 and s.miss_streak == 4 and s.max_miss_streak == 4
    stats.record(0, 0, 0)
    assert stats.snapshot().miss_streak == 0 and stats.snapshot().max_miss_streak == 4
    stats.reset()
    assert stats.snapshot().cycles == 0 and stats.snapshot().jitter_us_max == 0.0


def test_a_real_clock_run_produces_a_full_snapshot():
    # the figures' values depend on the host (see test_cycle_statistics_… for their arithmetic)
    d = RealtimeLoop(1000.0).run(lambda info: None, cycles=20, realtime=False).to_dict()
    assert d["cycles"] == 20 and d["window_cycles"] == 20
    assert all(np.isfinite(v) for v in d.values() if isinstance(v, float)), d


def test_a_snapshot_as_a_dict_has_every_field_by_name_in_order():
    snap = RealtimeLoop(1000.0).run(lambda info: None, cycles=5, realtime=False)
    assert list(snap.to_dict().items()) == list(dataclasses.asdict(snap).items())


def test_realtime_options_degrade_gracefully_with_one_log_line(monkeypatch, caplog):
    def refuse(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(rt_loop.os, "sched_setscheduler", refuse)
    monkeypatch.setattr(rt_loop.os, "sched_setaffinity", refuse)
    monkeypatch.setattr(rt_loop, "_libc", lambda: None)
    opts = LoopOptions(sched_fifo_priority=80, cpu_affinity=(0,), lock_memory=True, timer_slack_ns=1000)
    with caplog.at_level(logging.INFO, logger="tether.runtime.loop"):
        restore = apply_realtime_options(opts)
    assert not gc.isenabled()
    restore()
    assert gc.isenabled()
    lines = [r.getMessage() for r in caplog.records if r.name == "tether.runtime.loop"]
    assert len(lines) == 1
    assert "automatic GC off" in lines[0] and "NOT applied" in lines[0]
    for what in ("SCHED_FIFO", "CPU affinity", "mlockall", "timer slack"):
        assert what in lines[0]


def test_runtime_on_the_loop_fails_safe_on_a_streak_of_missed_deadlines(tmp_path):
    fake, loop = _fake_loop(rate_hz=100.0)
    profile = airborne_profile(RobotProfile.from_yaml(DEFAULT_PROFILE))
    rt = Runtime(PolicyRunner(hover_policy(tmp_path / "p.onnx"), profile), RuntimeConfig.from_yaml())
    odo = Odometry(np.array([0.0, 0.0, 2.0]), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3))
    cmd = Command(np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0]))

    def publish(now_s):
        rt.put("odometry", odo, now_s)
        rt.put("command", cmd, now_s)

    outputs = []

    def sink(out):
        outputs.append(out)
        if len(outputs) == 10:
            fake.t += 6 * 10_000_000  # the 10th cycle stalls for six periods

    publish(fake.t * 1e-9)
    rt.arm(fake.t * 1e-9)
    stats = rt.run(sink, before_step=lambda info: publish(info.now_s), loop=loop, realtime=False, cycles=15)
    assert stats.deadline_misses == 6
    assert [o.state for o in outputs[:10]] == [State.RUNNING] * 10
    assert outputs[10].state is State.FAILSAFE and outputs[10].source == "failsafe:hold"
    assert "deadline_miss_streak: 6 consecutive" in "; ".join(str(f) for f in outputs[10].faults)
    assert rt.diagnostics(stats)["loop"]["deadline_misses"] == 6


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("cli") / "hover.onnx")


def _tether(*args):
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *args], capture_output=True, text=True, timeout=180
    )


def test_tether_run_drives_the_engine_through_the_runtime_and_prints_loop_statistics(tmp_path, policy_file):
    out = tmp_path / "run.json"
    r = _tether(
        "run", "--policy", str(policy_file), "--engine", "mujoco", "--seconds", "1", "--json", str(out)
    )
    assert r.returncode == 0, r.stderr
    assert "loop at 100 Hz:" in r.stdout and "jitter p50" in r.stdout and "deadline misses" in r.stdout
    assert "DISARMED → STARTING" in r.stderr and "STARTING → RUNNING" in r.stderr
    report = json.loads(out.read_text())
    assert report["loop"]["cycles"] > 0 and report["cycles_by_source"].get("policy", 0) > 0
    assert report["diagnostics"]["inputs"]["odometry"]["received"] > 0


def test_tether_run_refuses_a_policy_that_does_not_fit_the_robot(tmp_path, policy_file):
    profile = tmp_path / "p.yaml"
    text = DEFAULT_PROFILE.read_text().replace("control_rate_hz: 100.0", "control_rate_hz: 200.0")
    profile.write_text(
        text.replace(
            "../../sim/robots/presets/", str(DEFAULT_PROFILE.parents[2] / "sim/robots/presets") + "/"
        )
    )
    r = _tether("run", "--policy", str(policy_file), "--seconds", "1", "--profile", str(profile))
    assert r.returncode == 2
    assert "control rate: the policy runs at 100 Hz, the robot profile at 200 Hz" in r.stderr


def test_tether_bench_loop_writes_the_documented_json(tmp_path, policy_file):
    out = tmp_path / "loop.json"
    r = _tether(
        "bench",
        "loop",
        "--rate-hz",
        "200",
        "--seconds",
        "0.5",
        "--policy",
        str(policy_file),
        "--json",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    figures = json.loads(out.read_text())
    for key in (
        "jitter_us_p50",
        "jitter_us_p99",
        "jitter_us_max",
        "deadline_misses",
        "cycles",
        "cpu_percent",
    ):
        assert key in figures
    assert figures["cycles"] > 0 and "jitter" in r.stdout
    # per stage of the node's cycle, and the node's loop sensor-triggered by default
    (policy,) = figures["policies"]
    assert set(policy["stages_us"]) == {*STAGES, "total"} and policy["stage_cycles"] > 0
    assert all(s["p50_us"] <= s["p99_us"] for s in policy["stages_us"].values())
    assert policy["trigger"] == "sensor" and policy["sensor_cycles"] > 0
    assert "in-node compute per sensor sample, by stage" in r.stdout
