"""Inputs judged by their own stamps (deploy/runtime/stamps.py): too old, backwards, from the
future, unstamped; counted per reason; in the runtime's faults and diagnostics; wired in the
policy node (zero stamps, /clock). No DDS: the node runs on a NullTransport. The closed-loop
safety response to a stamp fault is in tests/test_runtime_faults.py."""

from __future__ import annotations

import numpy as np
import pytest

from deploy.nodes.policy_node import PolicyNode
from deploy.runtime.config import InputSpec, RuntimeConfig, StampOptions
from deploy.runtime.input_store import Command, InputStore, Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, RobotProfile
from deploy.runtime.runtime import ArmingRefusedError, Runtime
from deploy.runtime.safety import Fault
from deploy.runtime.stamps import StampClock, judge_stamp
from deploy.transport import convert
from tests.runtime_helpers import NullTransport, hover_policy

ODO = Odometry(np.array([0.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3), np.zeros(3))
TARGET = Command(np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0]))


class FakeWall:
    """A settable wall clock for StampClock('system')."""

    def __init__(self, t_s: float = 1000.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s


def _store(wall: FakeWall, stamp_max_age_s: float | None = 0.1, tolerance_s: float | None = 0.02):
    return InputStore(
        [InputSpec("odometry", 0.05, stamp_max_age_s)],
        clock=lambda: 0.0,
        stamp_clock=StampClock("system", wall=wall),
        future_tolerance_s=tolerance_s,
    )


# -- the rules ----------------------------------------------------------------------------------------


def test_each_rule_has_its_named_fault():
    assert judge_stamp(9.99, 10.0, None, 0.1, 0.02).fault is Fault.STAMP_BACKWARDS
    assert judge_stamp(10.5, None, 10.0, 0.1, 0.02).fault is Fault.STAMP_FUTURE
    assert judge_stamp(9.5, None, 10.0, 0.1, 0.02).fault is Fault.STAMP_TOO_OLD
    assert judge_stamp(9.95, 9.9, 10.0, 0.1, 0.02) is None
    assert judge_stamp(10.0, 10.0, 10.0, 0.1, 0.02) is None  # a repeated stamp is not backwards
    assert judge_stamp(10.01, None, 10.0, 0.1, 0.02) is None  # within the tolerance
    assert judge_stamp(-50.0, None, None, 0.1, 0.02) is None  # no clock: only the order is judged
    assert judge_stamp(500.0, None, 10.0, None, None) is None  # both limits off


def test_a_message_too_old_by_its_stamp_is_refused_counted_and_named():
    wall = FakeWall()
    store = _store(wall)
    assert store.put("odometry", ODO, 0.0, wall.t_s - 0.01)
    wall.t_s += 60.0
    assert not store.put("odometry", ODO, 0.0, wall.t_s - 50.0)  # in order, but 50 s old, arriving now
    st = store.status("odometry", 0.0)
    assert st.stamp_problem.fault is Fault.STAMP_TOO_OLD and not st.ok
    assert "50000.0 ms behind the system clock (stamp_max_age_s 100.0 ms)" in st.stamp_problem.detail
    assert st.stamp_refused == {"stamp_backwards": 0, "stamp_future": 0, "stamp_too_old": 1}
    assert store.get("odometry").header_stamp_s == wall.t_s - 60.01  # the refused one never replaced it
    assert st.rejected == 0  # content rejections are counted apart


def test_a_stamp_going_backwards_is_refused_and_the_next_in_order_is_accepted():
    wall = FakeWall()
    store = _store(wall)
    assert store.put("odometry", ODO, 0.0, 999.99)
    assert not store.put("odometry", ODO, 0.0, 999.98)
    st = store.status("odometry", 0.0)
    assert st.stamp_problem.fault is Fault.STAMP_BACKWARDS and st.stamp_refused["stamp_backwards"] == 1
    assert "10.0 ms before the previous message's" in st.stamp_problem.detail
    # the sender's clock really stepped back: one message is refused, the next ones are judged afresh
    assert store.put("odometry", ODO, 0.0, 999.985)
    assert store.status("odometry", 0.0).ok


def test_a_stamp_from_the_future_is_refused_and_does_not_lock_the_input_out():
    wall = FakeWall()
    store = _store(wall)
    assert not store.put("odometry", ODO, 0.0, wall.t_s + 3600.0)
    st = store.status("odometry", 0.0)
    assert st.stamp_problem.fault is Fault.STAMP_FUTURE and st.stamp_refused["stamp_future"] == 1
    assert "ms ahead of the system clock (tolerance 20.0 ms)" in st.stamp_problem.detail
    # the future stamp did not become the reference for "backwards": a good message is accepted
    assert store.put("odometry", ODO, 0.0, wall.t_s - 0.005)
    assert store.status("odometry", 0.0).ok


def test_the_value_in_use_becomes_too_old_by_its_stamp_as_the_clock_runs():
    wall = FakeWall()
    store = _store(wall)
    assert store.put("odometry", ODO, 0.0, wall.t_s - 0.09)
    assert store.status("odometry", 0.0).ok
    wall.t_s += 0.02  # nothing new arrived; the stamp clock ran on
    st = store.status("odometry", 0.0)
    assert st.stamp_problem.fault is Fault.STAMP_TOO_OLD and st.stamp_age_s == pytest.approx(0.11)
    assert st.stamp_refused["stamp_too_old"] == 0  # no message was refused: the value aged


def test_unstamped_messages_skip_the_stamp_checks_and_are_counted():
    wall = FakeWall()
    store = _store(wall)
    for _ in range(3):
        assert store.put("odometry", ODO, 0.0, None)
    st = store.status("odometry", 0.0)
    assert st.ok and st.unstamped == 3 and st.stamp_age_s is None and st.received == 3
    assert convert.header_stamp_s(NullTransport().make("builtin_interfaces/msg/Time")) is None  # 0 s 0 ns
    one_ns = NullTransport().make("builtin_interfaces/msg/Time", sec=0, nanosec=1)
    assert convert.header_stamp_s(one_ns) == 1e-9


def test_a_sim_clock_judges_nothing_but_order_until_it_has_a_time():
    mono = FakeWall(50.0)
    clock = StampClock("sim", monotonic=mono)
    store = InputStore([InputSpec("odometry", 0.05, 0.1)], lambda: 0.0, clock, 0.02)
    assert store.put("odometry", ODO, 0.0, 5.0)  # no /clock yet: only the order is judged
    clock.set_sim_time(0.0)  # a frozen simulator's zero clock is "no time" as well
    assert clock.now_s() is None and store.put("odometry", ODO, 0.0, 6.0)
    clock.set_sim_time(6.01)
    assert store.put("odometry", ODO, 0.0, 6.005)
    assert not store.put("odometry", ODO, 0.0, 7.0)  # ahead of /clock by 990 ms
    assert store.status("odometry", 0.0).stamp_problem.fault is Fault.STAMP_FUTURE


def test_a_sim_clock_advances_from_its_newest_message_so_a_late_clock_is_no_future():
    """A node descheduled for 140 ms handles the odometry that queued up before the /clock that
    did: judged against the last /clock it saw, 140 ms old, those stamps would be the future."""
    mono = FakeWall(50.0)
    clock = StampClock("sim", monotonic=mono)
    store = InputStore([InputSpec("odometry", 0.1, 0.15)], lambda: 0.0, clock, 0.05)
    clock.set_sim_time(4.86)
    assert store.put("odometry", ODO, 0.0, 4.86)
    mono.t_s += 0.14  # descheduled; the simulator ran on
    for k in range(1, 15):
        assert store.put("odometry", ODO, 0.0, 4.86 + 0.01 * k), k
    assert clock.now_s() == pytest.approx(5.0)
    assert store.status("odometry", 0.0).stamp_age_s == pytest.approx(0.0)


def test_non_finite_header_stamps_are_rejected_as_invalid():
    store = _store(FakeWall())
    assert not store.put("odometry", ODO, 0.0, float("nan"))
    assert "header stamp nan is not finite" in store.status("odometry", 0.0).invalid


def test_configuration_names_bad_stamp_settings():
    cfg = RuntimeConfig.from_yaml()
    assert cfg.stamps == StampOptions("system", 0.02)
    assert cfg.inputs["odometry"].stamp_max_age_s == 0.1 and cfg.inputs["command"].stamp_max_age_s is None
    with pytest.raises(ValueError, match=r"stamps.clock must be one of \[.*\], found 'gps'"):
        RuntimeConfig.from_dict({"stamps": {"clock": "gps"}})
    with pytest.raises(ValueError, match="stamp_max_age_s must be a positive number of seconds or null"):
        RuntimeConfig.from_dict({"inputs": {"odometry": {"max_age_s": 0.05, "stamp_max_age_s": -1}}})
    with pytest.raises(ValueError, match=r"unknown keys \['tolerance'\]"):
        RuntimeConfig.from_dict({"stamps": {"tolerance": 1}})
    assert RuntimeConfig.from_yaml("launch/config/runtime_sim.yaml").stamps.clock == "sim"


# -- the runtime: stamp faults are faults, in the arming checks and the diagnostics ------------------


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("stamps") / "hover.onnx")


@pytest.mark.parametrize(
    "stamps, fault",
    [
        ((999.99, 999.98), "stamp_backwards"),
        ((999.99, 1001.0), "stamp_future"),
        ((990.0,), "stamp_too_old"),
    ],
)
def test_arming_is_refused_while_an_input_is_in_stamp_fault(policy, stamps, fault):
    wall = FakeWall()
    rt = Runtime(
        PolicyRunner(policy, RobotProfile.from_yaml(DEFAULT_PROFILE)), RuntimeConfig.from_yaml(),
        clock=lambda: 0.0, stamp_clock=StampClock("system", wall=wall),
    )  # fmt: skip
    rt.put("command", TARGET, 0.0)
    for s in stamps:
        rt.put("odometry", ODO, 0.0, s)
    with pytest.raises(ArmingRefusedError, match=f"{fault}: odometry: "):
        rt.arm(0.0)
    d = rt.diagnostics(now_s=0.0)["inputs"]["odometry"]
    assert d["stamp_refused"][fault] == 1 and d["stamp_fault"].startswith(fault)
    rt.put("odometry", ODO, 0.0, wall.t_s - 0.001)  # a good message ends the fault
    rt.arm(0.0)


# -- the policy node: the same wiring as on DDS, without DDS -------------------------------------------


def _odom_msg(t: NullTransport, stamp_s: float):
    return convert.odometry_msg(t.make, stamp_s, [0, 0, 2], [1, 0, 0, 0], [0, 0, 0], [0, 0, 0])


def test_the_node_passes_stamps_treats_zero_as_unstamped_and_feeds_the_sim_clock(policy, caplog):
    t = NullTransport()
    node = PolicyNode(t, {"policy_file": str(policy), "airborne_start": True,
                          "runtime_config": "launch/config/runtime_sim.yaml"})  # fmt: skip
    assert "/clock" in t.callbacks  # stamps.clock: sim
    with caplog.at_level("WARNING", logger="tether.policy_node"):
        for _ in range(3):  # a frozen simulator: zero stamps, zero clock
            t.deliver("/clock", t.make("rosgraph_msgs/msg/Clock"))
            t.deliver("/odom", _odom_msg(t, 0.0))
    assert sum("zero header.stamp" in r.getMessage() for r in caplog.records) == 1  # logged once
    st = node.runtime.inputs.status("odometry")
    assert st.ok and st.unstamped == 3
    t.deliver("/clock", t.make("rosgraph_msgs/msg/Clock", clock=convert.s_to_stamp(2.0)))
    t.deliver("/odom", _odom_msg(t, 1.995))
    assert node.runtime.inputs.status("odometry").ok
    t.deliver("/odom", _odom_msg(t, 1.5))  # backwards
    t.deliver("/odom", _odom_msg(t, 1.99))
    t.deliver("/odom", _odom_msg(t, 9.0))  # 7 s ahead of /clock
    st = node.runtime.inputs.status("odometry")
    assert st.stamp_refused == {"stamp_backwards": 1, "stamp_future": 1, "stamp_too_old": 0}
    values = node.diagnostics_statuses()[0][4]
    assert values["input.odometry.stamp_future"] == 1 and values["input.odometry.unstamped"] == 3
    assert values["stamp_clock"] == "sim"


def test_on_the_system_clock_the_node_subscribes_no_clock(policy):
    t = NullTransport()
    PolicyNode(t, {"policy_file": str(policy), "airborne_start": True})
    assert "/clock" not in t.callbacks
