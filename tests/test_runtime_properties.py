"""Property tests: whatever arrives (any float, NaN, inf, huge, wrong sizes, missing, stale, late),
every command leaving the runtime is finite, within the contract's limits and rate-limited."""

import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from deploy.runtime.config import RuntimeConfig
from deploy.runtime.input_store import Command, Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, RobotProfile
from deploy.runtime.runtime import Runtime
from deploy.runtime.safety import TRANSITIONS, State
from deploy.sim_bridge import airborne_profile
from sim.tasks.quadrotor_hover import HoverConfig
from tests.runtime_helpers import hover_policy, nan_policy

CONTRACT = HoverConfig.from_yaml().contract()
DT = CONTRACT.control_dt_s
MAX_STEP = 100.0 * DT  # the shipped profile's rate limit, per cycle
GOOD = Odometry(np.array([0.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3), np.zeros(3))
TARGET = Command(np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0]))

garbage = st.one_of(
    st.floats(-3.0, 3.0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1e-308, 0.0]),
)


def vec(n):
    return st.one_of(st.lists(garbage, min_size=n, max_size=n), st.lists(garbage, min_size=0, max_size=n + 2))


@st.composite
def unit_quaternions(draw):
    q = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4)))
    n = np.linalg.norm(q)
    return (q / n).tolist() if n > 0.1 else [1.0, 0.0, 0.0, 0.0]


garbage_odometry = st.builds(Odometry, vec(3), st.one_of(unit_quaternions(), vec(4)), vec(3), vec(3))
plausible_odometry = st.builds(
    Odometry,
    st.lists(st.floats(-1.0, 3.0), min_size=3, max_size=3),
    unit_quaternions(),
    st.lists(st.floats(-2.0, 2.0), min_size=3, max_size=3),
    st.lists(st.floats(-5.0, 5.0), min_size=3, max_size=3),
)
near_hover = st.builds(  # so that RUNNING is reached and kept in many examples
    Odometry,
    st.lists(st.floats(-0.5, 0.5), min_size=3, max_size=3).map(lambda p: [p[0], p[1], 2.0 + p[2]]),
    st.just([1.0, 0.0, 0.0, 0.0]),
    st.lists(st.floats(-0.5, 0.5), min_size=3, max_size=3),
    st.lists(st.floats(-0.5, 0.5), min_size=3, max_size=3),
)


def often(common, *rare):
    return st.sampled_from([True] * 4 + [False]).flatmap(lambda c: common if c else st.one_of(*rare))


cycle = st.fixed_dictionaries(
    {
        "odometry": often(near_hover, st.none(), garbage_odometry, plausible_odometry),
        "command": often(st.just(TARGET), st.none(), st.builds(Command, vec(6))),
        "stamp_offset_s": often(
            st.just(0.0), st.sampled_from([-0.005, -0.2, math.nan]), st.floats(-1.0, 0.0)
        ),
        "miss_streak": often(st.just(0), st.integers(0, 8)),
        "estop": st.sampled_from([False] * 15 + [True]),
        "disarm": st.sampled_from([False] * 15 + [True]),
    }
)


@pytest.fixture(scope="module")
def runners(tmp_path_factory):
    d = tmp_path_factory.mktemp("props")
    profile = airborne_profile(RobotProfile.from_yaml(DEFAULT_PROFILE))
    return {
        "hover": PolicyRunner(hover_policy(d / "hover.onnx"), profile),
        "nan": PolicyRunner(nan_policy(d / "nan.onnx"), profile),
    }


def _check(out, prev):
    assert out.action.shape == (4,) and out.actuator_command.shape == (4,)
    assert np.all(np.isfinite(out.action)) and np.all(np.isfinite(out.actuator_command))
    assert np.all(out.action >= -1.0) and np.all(out.action <= 1.0)
    assert np.all(out.actuator_command >= 0.0) and np.all(out.actuator_command <= 1.0)
    if out.source == "stop":
        assert np.all(out.actuator_command == 0.0) and out.state in (State.DISARMED, State.ESTOP)
    else:
        assert np.all(np.abs(out.action - prev) <= MAX_STEP + 1e-12)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["hover", "nan"]), st.lists(cycle, min_size=1, max_size=25))
def test_every_output_is_finite_within_limits_and_rate_limited(runners, which, cycles):
    rt = Runtime(runners[which], RuntimeConfig.from_yaml())
    rt.put("odometry", GOOD, 0.0)
    rt.put("command", TARGET, 0.0)
    hover = np.full(4, 2.0 * rt.profile.quadrotor.params.hover_command - 1.0)
    rt.arm(0.0, current_action=hover)
    prev = hover
    for k, c in enumerate(cycles, start=1):
        now = k * DT
        stamp = now + c["stamp_offset_s"]
        if c["odometry"] is not None:
            rt.put("odometry", c["odometry"], stamp)
        if c["command"] is not None:
            rt.put("command", c["command"], stamp)
        if c["estop"]:
            rt.estop("test")
        if c["disarm"]:
            rt.disarm()
        out = rt.step(now, miss_streak=c["miss_streak"])
        _check(out, prev)
        if which == "nan":
            assert out.source != "policy"
        prev = out.action
        event(f"source {out.source}")
    for t in rt.supervisor.history:
        assert TRANSITIONS[(t.before, t.event)] is t.after
