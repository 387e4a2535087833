"""Sensor-triggered cycles (deploy/runtime/rt_loop.py, trigger "sensor"): a cycle starts on the
driving input's arrival, the fixed-rate timer is the watchdog for a late one, and the mode and the
cycles by trigger are reported. Everything runs on a simulated clock whose waits deliver the
scheduled arrivals: assertions are on counts and order, never on elapsed time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from deploy.nodes.policy_node import PolicyNode
from deploy.runtime.config import DEFAULT_CONFIG, LoopOptions, RuntimeConfig
from deploy.runtime.input_store import Command, Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, RobotProfile, trigger_input
from deploy.runtime.rt_loop import CycleInfo, RealtimeLoop
from deploy.runtime.runtime import Runtime
from deploy.runtime.safety import State
from deploy.sim_bridge import airborne_profile
from deploy.transport import convert
from deploy.transport.names import TOPICS
from tests.runtime_helpers import NullTransport, hover_policy

MS = 1_000_000
ODO = Odometry(np.array([0.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3), np.zeros(3))
TARGET = Command(np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0]))


class SensorClock:
    """Simulated nanoseconds (1 µs per read, as a real clock moves on). A wait advances to the next
    scheduled arrival, if it comes before the wait's timeout, and delivers it there."""

    def __init__(self, arrivals_ms: list[float], deliver: Callable[[int], None] | None = None) -> None:
        self.t0 = self.t = 7_000_000_000
        self.arrivals = sorted(self.t0 + int(a * MS) for a in arrivals_ms)
        self.deliver = deliver or (lambda t: None)
        self.delivered: list[int] = []

    def clock(self) -> int:
        self.t += 1000
        return self.t

    def seconds(self) -> float:
        return self.clock() * 1e-9

    def wait(self, timeout_s: float) -> None:
        until = self.t + int(timeout_s * 1e9)
        if self.arrivals and self.arrivals[0] <= until:
            self.t = max(self.t, self.arrivals.pop(0))
            self.delivered.append(self.t)
            self.deliver(self.t)
        else:
            self.t = until

    def ms(self, t_ns: int) -> float:
        return (t_ns - self.t0) / MS


def _loop(
    clock: SensorClock,
    rate_hz: float = 100.0,
    trigger: str = "sensor",
    inline: bool = False,
    notify: bool = True,
) -> RealtimeLoop:
    """A loop on the simulated clock; with `notify`, the clock's arrivals notify it (else the test
    delivers them itself); `inline`: the delivering call then runs the cycle (run_pending), as the
    DDS receive thread does after its callbacks."""
    loop = RealtimeLoop(rate_hz, LoopOptions(), clock_ns=clock.clock, wait_s=clock.wait, trigger=trigger)
    loop.inline = inline
    if not notify:
        return loop

    def deliver(t: int) -> None:
        loop.notify()
        loop.run_pending()

    clock.deliver = deliver
    return loop


#: Both places a sensor-triggered cycle can run: the loop's thread, woken; the delivering thread.
INLINE = [pytest.param(False, id="loop-thread"), pytest.param(True, id="receive-thread")]


@pytest.mark.parametrize("inline", INLINE)
def test_each_cycle_starts_on_its_arrival_and_the_watchdog_covers_a_late_sensor(inline):
    # 100 Hz: arrivals every 10 ms, one 5 ms after the last (a faster sensor: no extra cycle), then
    # the sensor is silent for 38 ms and comes back
    clock = SensorClock([2, 12, 22, 27, 32, 70, 80])
    loop = _loop(clock, inline=inline)
    infos: list[CycleInfo] = []
    stats = loop.run(infos.append, cycles=9, realtime=False)
    got = [(i.trigger, round(clock.ms(i.deadline_ns))) for i in infos]
    assert got == [
        ("sensor", 2), ("sensor", 12), ("sensor", 22), ("sensor", 32),
        ("watchdog", 47),  # 1.5 periods after the last cycle on an arrival ...
        ("watchdog", 57), ("watchdog", 67),  # ... then one per period while the sensor is silent
        ("sensor", 70), ("sensor", 80),  # the first arrival after a fallback cycle starts one at once
    ]  # fmt: skip
    for info in infos:
        assert info.start_ns >= info.deadline_ns
        if info.trigger == "sensor":  # started by that very arrival, not by the next timer tick
            arrival = max(d for d in clock.delivered if d <= info.start_ns)
            assert 0 <= info.deadline_ns - arrival < 10_000  # a few simulated clock reads
    assert stats.trigger == "sensor" and stats.cycles == 9
    assert (stats.sensor_cycles, stats.watchdog_cycles, stats.deadline_misses) == (6, 3, 0)
    assert "sensor-triggered: 6 cycles on arrival, 3 by the watchdog" in stats.summary()


@pytest.mark.parametrize("inline", INLINE)
def test_a_sensor_faster_than_the_control_rate_does_not_speed_up_the_cycle(inline):
    clock = SensorClock([float(a) for a in range(1, 100, 5)])  # 200 Hz sensor, 100 Hz contract
    loop = _loop(clock, inline=inline)
    infos: list[CycleInfo] = []
    loop.run(infos.append, seconds=0.1, realtime=False)
    assert [i.trigger for i in infos] == ["sensor"] * 10  # every second sample starts a cycle
    assert all(b.deadline_ns - a.deadline_ns == 10 * MS for a, b in zip(infos, infos[1:], strict=False))


@pytest.mark.parametrize("inline", INLINE)
def test_a_long_cycle_counts_its_missed_periods_in_sensor_mode_as_in_timer_mode(inline):
    clock = SensorClock([1, 11, 21, 31, 41, 51, 61, 71, 81])
    loop = _loop(clock, inline=inline)

    def step(info: CycleInfo) -> None:
        if info.index == 2:
            clock.t += 25 * MS  # the third cycle stalls 2.5 periods

    infos: list[CycleInfo] = []
    stats = loop.run(lambda i: (infos.append(i), step(i))[0], cycles=5, realtime=False)
    assert stats.deadline_misses == 2 and stats.max_miss_streak == 2
    assert infos[3].miss_streak == 2


def test_in_the_receive_thread_arrivals_run_their_cycles_there_and_a_raising_step_ends_the_loop():
    clock = SensorClock([2, 12, 22, 32])
    loop = _loop(clock, inline=True)
    threads: list[str] = []
    seen = threading.current_thread().name

    def deliver(t: int) -> None:  # the arrivals come from another thread, as from DDS
        def receive() -> None:
            loop.notify()
            loop.run_pending()

        rx = threading.Thread(target=receive, name="rx")
        rx.start()
        rx.join()

    clock.deliver = deliver

    def step(info: CycleInfo) -> None:
        threads.append(threading.current_thread().name if info.trigger == "sensor" else seen)
        if info.index == 3:
            raise RuntimeError("inference failed")

    with pytest.raises(RuntimeError, match="inference failed"):  # raised in the loop's thread
        loop.run(step, cycles=10, realtime=False)
    assert threads == ["rx"] * 4
    loop.run_pending()  # after the loop: nothing pending, nothing runs
    assert len(threads) == 4
    # without `inline`, run_pending does nothing and the loop's thread runs the cycle
    clock2 = SensorClock([2, 12])
    loop2 = _loop(clock2, inline=False)
    names: list[str] = []
    loop2.run(lambda i: names.append(threading.current_thread().name), cycles=2, realtime=False)
    assert names == [seen, seen]


@pytest.fixture(scope="module")
def policy(tmp_path_factory) -> Path:
    return hover_policy(tmp_path_factory.mktemp("trigger") / "hover.onnx")


def _runtime(policy: Path, clock: SensorClock) -> Runtime:
    profile = airborne_profile(RobotProfile.from_yaml(DEFAULT_PROFILE))
    return Runtime(PolicyRunner(policy, profile), RuntimeConfig.from_yaml(), clock=clock.seconds)


def test_the_runtime_runs_its_cycles_on_odometry_and_fails_safe_on_watchdog_cycles_when_it_stops(policy):
    arrivals = [2.0 + 10 * k for k in range(10)]
    clock = SensorClock(arrivals)
    rt = _runtime(policy, clock)
    assert rt.trigger_input == "odometry"
    clock.deliver = lambda t: rt.put("odometry", ODO, t * 1e-9)
    rt.put("odometry", ODO, clock.seconds())
    rt.put("command", TARGET, clock.seconds())
    rt.arm()
    outs, ages = [], []

    def before(info: CycleInfo) -> None:
        sample = rt.inputs.get("odometry")
        ages.append((info.trigger, info.start_ns * 1e-9 - sample.stamp_s))

    loop = _loop(clock, notify=False)  # the runtime's put() notifies it
    stats = rt.run(outs.append, before_step=before, loop=loop, realtime=False, cycles=20)
    triggers = [t for t, _ in ages]
    assert triggers[:10] == ["sensor"] * 10 and set(triggers[10:]) == {"watchdog"}
    # each sensor-triggered cycle ran on the sample whose arrival started it (nothing newer existed)
    assert all(age < 1e-3 for t, age in ages if t == "sensor")
    assert [o.source for o in outs[:10]] == ["policy"] * 10
    # the sensor stopped: the watchdog keeps the cycle going until odometry is stale, then FAILSAFE
    first_failsafe = next(k for k, o in enumerate(outs) if o.state is State.FAILSAFE)
    assert first_failsafe >= 10 and triggers[first_failsafe] == "watchdog"
    assert "stale_input: odometry" in "; ".join(str(f) for f in outs[first_failsafe].faults)
    assert (stats.sensor_cycles, stats.watchdog_cycles) == (10, 10)
    assert rt.diagnostics(stats)["loop"]["trigger"] == "sensor"
    assert rt._on_trigger is None  # after the run, arrivals notify nothing


def test_the_timer_trigger_is_kept_and_ignores_arrivals(policy):
    clock = SensorClock([])
    rt = _runtime(policy, clock)
    loop = RealtimeLoop(100.0, LoopOptions(), clock_ns=clock.clock, sleep_s=clock.wait)
    seen = []
    stats = rt.run(
        lambda out: None, before_step=lambda i: (seen.append(i.trigger), rt.put("odometry", ODO)),
        loop=loop, realtime=False, cycles=5,
    )  # fmt: skip
    assert seen == ["timer"] * 5 and stats.trigger == "timer" and stats.sensor_cycles == 0


def test_the_trigger_input_comes_from_the_profile_else_the_contracts_first_sensor(policy):
    profile = RobotProfile.from_yaml(DEFAULT_PROFILE)
    contract = PolicyRunner(policy, airborne_profile(profile)).contract
    assert trigger_input(contract, profile) == "odometry"
    go2 = RobotProfile.from_yaml(DEFAULT_PROFILE.with_name("profile_go2.yaml"))
    assert go2.trigger_input == "imu"  # sent after the joint states of the same instant
    with pytest.raises(ValueError, match="trigger_input 'imu' is not one of its sensors"):
        RobotProfile.from_dict({**_profile_dict(), "trigger_input": "imu"})


def _profile_dict() -> dict:
    import yaml

    d = yaml.safe_load(DEFAULT_PROFILE.read_text())
    d["quadrotor"]["params_file"] = str(DEFAULT_PROFILE.parent / d["quadrotor"]["params_file"])
    return d


def test_loop_options_name_bad_trigger_settings():
    with pytest.raises(ValueError, match="trigger_min_spacing_periods"):
        LoopOptions(trigger_min_spacing_periods=1.0)
    with pytest.raises(ValueError, match="watchdog_periods"):
        LoopOptions(watchdog_periods=0.5)
    with pytest.raises(ValueError, match="loop trigger must be one of"):
        RealtimeLoop(100.0, trigger="interrupt")


# -- the policy node: sensor-triggered by default, the mode in its report --------------------------------


def _node(tmp_path: Path, policy: Path, clock: SensorClock, **params) -> tuple[PolicyNode, NullTransport]:
    config = tmp_path / "runtime.yaml"  # stamps judged by order only: the clock here is simulated
    config.write_text(DEFAULT_CONFIG.read_text().replace("clock: system", "clock: none"))
    t = NullTransport()
    node = PolicyNode(
        t, {"policy_file": str(policy), "airborne_start": True, "runtime_config": str(config), **params},
        clock=clock.seconds,
    )  # fmt: skip
    node.loop = RealtimeLoop(
        100.0, node.runtime.config.loop, clock_ns=clock.clock, sleep_s=clock.wait, wait_s=clock.wait,
        trigger=node.loop.trigger,
    )  # fmt: skip
    return node, t


def test_the_node_answers_each_odometry_with_one_cycle_and_reports_the_mode(tmp_path, policy):
    arrivals = [3.0 + 10 * k for k in range(8)]
    clock = SensorClock(arrivals)
    node, t = _node(tmp_path, policy, clock)
    stamps = iter(range(1, 100))
    clock.deliver = lambda _: t.deliver(
        "/odom",
        convert.odometry_msg(t.make, float(next(stamps)), [0, 0, 2], [1, 0, 0, 0], [0, 0, 0], [0, 0, 0]),
    )
    node.run(seconds=0.12)
    report = node.report()
    assert report["cycle_trigger"] == {"mode": "sensor", "input": "odometry", "thread": "loop"}
    assert report["loop"]["sensor_cycles"] == len(arrivals) and report["loop"]["watchdog_cycles"] > 0
    # one command per odometry, carrying its stamp; received → cycle start → sent, in that order
    assert [k for k, *_ in report["latency"]] == [[s, 0] for s in range(1, len(arrivals) + 1)]
    for _, rx, start, tx in report["latency"]:
        assert rx <= start <= tx
    commands = t.published[TOPICS["actuator_command"].name]
    assert len(commands) == report["loop"]["cycles"]


def test_the_node_keeps_the_timer_trigger_as_a_parameter(tmp_path, policy):
    clock = SensorClock([])
    node, _ = _node(tmp_path, policy, clock, cycle_trigger="timer")
    node.run(seconds=0.05)
    report = node.report()
    assert report["cycle_trigger"]["mode"] == "timer" and report["loop"]["trigger"] == "timer"
    assert report["loop"]["cycles"] == 5 and report["loop"]["sensor_cycles"] == 0
    with pytest.raises(ValueError, match="cycle_trigger must be one of"):
        _node(tmp_path, policy, clock, cycle_trigger="interrupt")
