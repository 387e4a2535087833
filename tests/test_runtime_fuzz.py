"""Fuzzing the robot-side input path and runtime: random and adversarial messages (NaN, inf, huge
values, zero or denormal quaternions, wrong sizes, wrong types, bad arrival and header stamps: NaN,
from the future, backwards, ancient) in any order, while the runtime is armed and cycling. Whatever
arrives, no exception escapes and every command is finite and within the contract's range.

Each example is a burst of 1-8 messages and cycles. The default suite runs 1,000 examples (~4,500
messages); `make test-slow` runs 25,000 (~112,000 messages, test marked slow)."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.runtime.config import RuntimeConfig
from deploy.runtime.input_store import Command, Imu, Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, RobotProfile
from deploy.runtime.runtime import ArmingRefusedError, Runtime
from deploy.runtime.stamps import StampClock
from tests.runtime_helpers import hover_policy

FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf, 1.0]),
)


def vectors(size: int) -> st.SearchStrategy:
    """Mostly the right size, sometimes not; sometimes not numbers at all."""
    right = st.lists(FLOATS, min_size=size, max_size=size)
    wrong = st.lists(FLOATS, min_size=0, max_size=size + 3)
    junk = st.sampled_from([None, "1,2,3", [[1.0, 2.0]], object()])
    return st.one_of(right, right, right, wrong, junk)


QUATERNIONS = st.one_of(
    vectors(4),
    st.just([0.0, 0.0, 0.0, 0.0]),
    st.just([1.0, 0.0, 0.0, 0.0]),
    st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4),
)
STAMPS = st.one_of(st.none(), FLOATS, st.floats(-1e3, 1e3))

# the sender's own stamp (deploy/runtime/stamps.py): absent, anything, near the stamp clock's 0 s
HEADER_STAMPS = st.one_of(st.none(), FLOATS, st.floats(-1.0, 1.0))

MESSAGES = st.one_of(
    st.builds(
        lambda p, q, v, w, t, h: ("odometry", Odometry(p, q, v, w), t, h),
        vectors(3), QUATERNIONS, vectors(3), vectors(3), STAMPS, HEADER_STAMPS,
    ),
    st.builds(
        lambda q, w, a, t, h: ("imu", Imu(q, w, a), t, h),
        QUATERNIONS, vectors(3), vectors(3), STAMPS, HEADER_STAMPS,
    ),
    st.builds(lambda c, t, h: ("command", Command(c), t, h), vectors(6), STAMPS, HEADER_STAMPS),
)  # fmt: skip


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    profile = RobotProfile.from_yaml(DEFAULT_PROFILE)
    path = hover_policy(tmp_path_factory.mktemp("fuzz") / "hover.onnx")
    rt = Runtime(
        PolicyRunner(path, profile), RuntimeConfig.from_yaml(), clock=lambda: 0.0,
        stamp_clock=StampClock("system", wall=lambda: 0.0),
    )  # fmt: skip
    contract = rt.contract
    low = np.concatenate([np.full(t.size, t.offset + t.scale * t.low) for t in contract.actions])
    high = np.concatenate([np.full(t.size, t.offset + t.scale * t.high) for t in contract.actions])
    return rt, low, high


def _fuzz(runtime, messages, cycle_times):
    rt, low, high = runtime
    now = 0.0
    level = Odometry(np.array([0.0, 0.0, 2.0]), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3))
    rt.put("odometry", level, now)
    rt.put("command", Command(np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0])), now)
    with contextlib.suppress(ArmingRefusedError):  # a refusal (e.g. the last example's e-stop) is fine
        rt.arm(now)
    for (name, msg, stamp, header), dt in zip(messages, cycle_times, strict=False):
        try:
            rt.put(name, msg, stamp, header)
        except KeyError:
            pass  # an input this contract does not use: refused by name, never stored
        now += dt
        out = rt.step(now)
        assert np.all(np.isfinite(out.actuator_command)), (name, msg, out)
        cmd = out.actuator_command
        assert np.all(cmd >= low - 1e-12) and np.all(cmd <= high + 1e-12), (name, msg, cmd)
    rt.disarm()


def _run(examples: int):
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(
        messages=st.lists(MESSAGES, min_size=1, max_size=8),
        cycle_times=st.lists(st.sampled_from([0.0, 0.001, 0.01, 0.2, -0.01, 1e9]), min_size=8, max_size=8),
    )
    def check(runtime_, messages, cycle_times):
        _fuzz(runtime_, messages, cycle_times)

    return check


def test_the_runtime_survives_adversarial_inputs(runtime):
    _run(1_000)(runtime)


@pytest.mark.slow
def test_the_runtime_survives_a_hundred_thousand_adversarial_inputs(runtime):
    _run(25_000)(runtime)
