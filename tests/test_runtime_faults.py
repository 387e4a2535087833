"""Each fault, injected into a closed loop of the runtime and the MuJoCo engine, ends in the state
the safety table documents, with a safe output (finite, within limits, rate-limited) within its bound.

The vehicle starts level at the hover target, flown by a linear test policy (tests/runtime_helpers.py);
time is simulated (one control period per cycle), so every bound is checked to the cycle.
"""

import dataclasses

import numpy as np
import pytest

from deploy.runtime.config import InferenceOptions, RuntimeConfig
from deploy.runtime.input_store import Odometry
from deploy.runtime.limits import tilt_deg
from deploy.runtime.robot_profile import DEFAULT_PROFILE, RobotProfile
from deploy.runtime.runtime import ArmingRefusedError
from deploy.runtime.safety import State
from deploy.runtime.stamps import StampClock
from deploy.sim_bridge import make_sim_runtime
from sim.tasks.quadrotor_hover import HoverConfig
from tests.runtime_helpers import hover_policy, write_linear_policy

PROFILE = RobotProfile.from_yaml(DEFAULT_PROFILE)
FS = PROFILE.quadrotor.failsafe
DT = 0.01
MAX_STEP = PROFILE.action_rate_limits_per_s["motor_command"] * DT
START_Z_M = 2.0
# FAILSAFE → DISARMED at the latest after hold + descent + margin (else it would be ESTOP).
LANDING_BOUND_CYCLES = int((FS.hold_s + START_Z_M / FS.land_speed_m_s + FS.land_timeout_margin_s) / DT) + 1


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("faults") / "hover.onnx")


class ClosedLoop:
    """The runtime flying the simulated Crazyflie; checks every output it produces."""

    def __init__(self, policy, profile=PROFILE, stamp_clock=None, config=None):
        self.rt, self.bridge = make_sim_runtime(policy, profile, config=config, stamp_clock=stamp_clock)
        self.bridge.reset_to(np.array([0.0, 0.0, START_Z_M]))
        self.k = 0
        self.bridge.publish(0.0)
        self.rt.arm(0.0, current_action=self.bridge.current_action())
        self.prev = self.rt.limiter.previous
        self.seen: Odometry | None = None  # the odometry the runtime received this cycle

    @property
    def now(self) -> float:
        return self.k * DT

    def cycle(self, transform=None, miss_streak=0):
        def observe(odo):
            odo = odo if transform is None else transform(odo)
            self.seen = odo
            return odo

        self.k += 1
        out = self.bridge.cycle(self.now, miss_streak, observe)
        assert np.all(np.isfinite(out.action)) and np.all(np.abs(out.action) <= 1.0)
        assert np.all(np.isfinite(out.actuator_command))
        assert np.all((out.actuator_command >= 0.0) & (out.actuator_command <= 1.0))
        if out.source == "stop":
            assert np.all(out.actuator_command == 0.0)
        else:
            assert np.all(np.abs(out.action - self.prev) <= MAX_STEP + 1e-12)
        self.prev = out.action
        return out

    def fly(self, cycles, **kw):
        for _ in range(cycles):
            out = self.cycle(**kw)
            assert out.state is State.RUNNING and out.source == "policy", out.faults
        return out

    def until(self, state, max_cycles, **kw):
        for n in range(1, max_cycles + 1):
            out = self.cycle(**kw)
            if out.state is state:
                return out, n
        raise AssertionError(
            f"not {state.value} within {max_cycles} cycles; now {out.state.value}, {out.faults}"
        )

    def land(self):
        """From FAILSAFE: the PID holds, lands, and the runtime disarms within the landing bound."""
        out, n = self.until(State.DISARMED, LANDING_BOUND_CYCLES)
        assert out.source == "stop"
        pos = self.bridge.position_m()
        assert pos[2] - FS.ground_z_m <= FS.landed_height_m, pos
        return out, n


@pytest.fixture
def loop(policy):
    loops = []

    def make(profile=PROFILE, stamped=False, config=None):
        # stamped: stamps are judged on the simulated time, as a robot judges them on its clock
        clock = StampClock("system", wall=lambda: loops[-1].now) if stamped else None
        loops.append(ClosedLoop(policy, profile, clock, config))
        return loops[-1]

    yield make
    for lp in loops:
        lp.bridge.env.close()


def _sources(outs):
    return [o.source for o in outs]


def test_stale_odometry_fails_safe_the_cycle_it_exceeds_its_limit_then_lands(loop):
    lp = loop()
    lp.fly(50)
    last_stamp = lp.now
    limit = lp.rt.inputs.specs["odometry"].max_age_s
    drop = lambda odo: None  # noqa: E731
    for _ in range(30):  # 0.3 s without odometry
        out = lp.cycle(transform=drop)
        age = lp.now - last_stamp
        if age <= limit:
            assert out.state is State.RUNNING
        else:
            assert out.state is State.FAILSAFE, age
            assert any("stale_input: odometry" in str(f) for f in out.faults)
            expected = "failsafe:hold" if age <= FS.state_max_age_s else "failsafe:blind_descent"
            assert out.source == expected, (age, out.source)
    out, _ = lp.land()  # odometry is back: the PID lands
    assert out.state is State.DISARMED


def test_lost_odometry_descends_blind_then_stops_the_motors_in_estop(loop):
    lp = loop()
    lp.fly(50)
    last_stamp = lp.now
    drop = lambda odo: None  # noqa: E731
    outs = []
    bound = int((FS.state_max_age_s + FS.blind_descent_max_s) / DT) + 10
    for _ in range(bound):
        outs.append(lp.cycle(transform=drop))
        if outs[-1].state is State.ESTOP:
            break
    assert outs[-1].state is State.ESTOP and outs[-1].source == "stop"
    blind = [o for o in outs if o.source == "failsafe:blind_descent"]
    assert blind and all(np.ptp(o.action) == 0.0 for o in blind)  # equal thrust on every motor
    assert blind[-1].action[0] < lp.rt.startup.hover_action[0]  # below hover: it descends
    assert lp.now - last_stamp <= FS.state_max_age_s + FS.blind_descent_max_s + 2 * DT + 0.05
    for _ in range(20):  # latched
        assert lp.cycle(transform=drop).state is State.ESTOP


def test_nonfinite_odometry_is_rejected_and_fails_safe_that_cycle(loop):
    lp = loop()
    lp.fly(50)

    def nan_position(odo):
        return dataclasses.replace(odo, pos_m=np.array([np.nan, 0.0, 2.0]))

    out = lp.cycle(transform=nan_position)
    assert out.state is State.FAILSAFE and out.source == "failsafe:hold"
    assert any("nonfinite_input: odometry: pos_m is not finite" in str(f) for f in out.faults)
    lp.land()


def test_nonfinite_policy_output_is_replaced_by_the_failsafe_that_cycle(loop, monkeypatch):
    # the Python cycle (the compiled one calls the policy's C itself, not this method)
    python_cycle = dataclasses.replace(
        RuntimeConfig.from_yaml(), inference=InferenceOptions(engine="auto", cycle="python")
    )
    lp = loop(config=python_cycle)
    assert lp.rt.compiled_cycle is None
    lp.fly(50)
    bad = np.array([[0.1, np.nan, np.inf, 0.1]], dtype=np.float32)  # what the engine hands back
    monkeypatch.setattr(lp.rt.runner.bound, "run", lambda: bad)
    out = lp.cycle()
    assert out.state is State.FAILSAFE and out.source == "failsafe:hold"
    assert any("nonfinite_output: policy action" in str(f) for f in out.faults)
    lp.land()


def test_a_nonfinite_action_of_the_compiled_cycle_fails_safe_that_cycle(tmp_path):
    # finite weights whose products overflow float32 at a finite velocity error: 3e38 · 5 is inf,
    # −3e38 · 5 is −inf, and their sum NaN, whatever the order of the sum
    contract = HoverConfig.from_yaml().contract()
    layout = [(t.name, t.size) for t in contract.observations[:3]]
    assert layout == [("position_error_m", 3), ("rotation_matrix", 9), ("linear_velocity_error_m_s", 3)]
    w = np.zeros((contract.observation_size, contract.action_size))
    w[12], w[13] = 3e38, -3e38
    policy = write_linear_policy(tmp_path / "overflow.onnx", contract, w, np.zeros(contract.action_size))
    lp = ClosedLoop(policy)
    assert lp.rt.compiled_cycle is not None and lp.rt.compiled_cycle.usable(lp.rt)
    lp.cycle()
    fast = lambda odo: dataclasses.replace(odo, lin_vel_m_s=np.array([5.0, 5.0, 0.0]))  # noqa: E731
    out = lp.cycle(transform=fast)
    assert out.state is State.FAILSAFE and out.source == "failsafe:hold"
    reason = "nonfinite_output: policy action [nan, nan, nan, nan]"
    assert any(reason in str(f) for f in out.faults), out.faults


def test_a_streak_of_deadline_misses_fails_safe(loop):
    lp = loop()
    lp.fly(20)
    n = lp.rt.config.max_deadline_miss_streak
    lp.fly(1, miss_streak=n - 1)
    out = lp.cycle(miss_streak=n)
    assert out.state is State.FAILSAFE and out.source == "failsafe:hold"
    assert any(f"deadline_miss_streak: {n} consecutive missed deadlines" in str(f) for f in out.faults)
    lp.land()


def test_tilt_beyond_the_limit_hands_over_to_the_pid_which_recovers_and_lands(loop):
    lp = loop()
    lp.fly(50)
    lp.bridge.engine.set_external_wrench(np.zeros((1, 3)), np.array([[2e-3, 0.0, 0.0]]))  # roll kick
    for _ in range(100):
        out = lp.cycle()
        tilt = tilt_deg(lp.seen.quat_wxyz)
        if tilt <= PROFILE.limits.max_tilt_deg:
            assert out.state is State.RUNNING
            continue
        assert out.state is State.FAILSAFE and out.source == "failsafe:hold"  # the very cycle it is seen
        assert any(str(f).startswith("tilt_limit: tilt") for f in out.faults)
        break
    else:
        raise AssertionError("the kick did not tilt the vehicle beyond the limit")
    lp.bridge.engine.set_external_wrench(np.zeros((1, 3)), np.zeros((1, 3)))
    tilts = []
    for _ in range(100):
        lp.cycle()
        tilts.append(tilt_deg(lp.seen.quat_wxyz))
    assert min(tilts) < 10.0  # the PID brought it back upright
    lp.land()


def test_leaving_the_geofence_holds_inside_it_and_lands(loop):
    fence = dataclasses.replace(PROFILE.limits, geofence_max_m=(0.2, 4.0, 6.0))
    lp = loop(dataclasses.replace(PROFILE, limits=fence))
    lp.fly(30)
    lp.bridge.engine.set_external_wrench(np.array([[0.05, 0.0, 0.0]]), np.zeros((1, 3)))  # a gust along +x
    for _ in range(300):
        out = lp.cycle()
        if lp.seen.pos_m[0] <= 0.2:
            assert out.state is State.RUNNING
            continue
        assert out.state is State.FAILSAFE and out.source == "failsafe:hold"
        assert any(str(f).startswith("geofence: position") for f in out.faults)
        break
    else:
        raise AssertionError("the gust did not push the vehicle out of the geofence")
    lp.bridge.engine.set_external_wrench(np.zeros((1, 3)), np.zeros((1, 3)))
    lp.land()
    assert lp.bridge.position_m()[0] <= 0.2  # landed inside the fence


def test_external_estop_stops_the_motors_at_the_next_cycle_and_latches(loop):
    lp = loop()
    lp.fly(50)
    lp.rt.estop("operator button")
    out = lp.cycle()
    assert out.state is State.ESTOP and out.source == "stop" and np.all(out.actuator_command == 0.0)
    for _ in range(30):
        assert lp.cycle().state is State.ESTOP
    with pytest.raises(ArmingRefusedError, match="e-stop still engaged"):
        lp.rt.reset_estop(lp.now)
    lp.rt.release_estop()
    lp.rt.reset_estop(lp.now)
    assert lp.cycle().state is State.DISARMED


def test_commanded_disarm_in_flight_lands_instead_of_dropping(loop):
    lp = loop()
    lp.fly(50)
    lp.rt.disarm()
    out = lp.cycle()
    assert out.state is State.FAILSAFE and out.source == "failsafe:hold"
    speeds = []
    while True:
        out = lp.cycle()
        speeds.append(abs(lp.seen.lin_vel_m_s[2]))
        if out.state is not State.FAILSAFE:
            break
        assert lp.k < LANDING_BOUND_CYCLES + 60
    assert out.state is State.DISARMED
    assert max(speeds) < 2 * FS.land_speed_m_s  # a controlled descent


# -- stamps: a message judged by its own stamp gets the same response as a stale one ------------------


def _stamped(lp, stamp_of):
    """A transform that hands the odometry to the runtime with header stamp stamp_of(now) itself."""

    def put(odo):
        lp.rt.put("odometry", odo, lp.now, stamp_of(lp.now))
        return None  # the bridge must not put it a second time, unstamped

    return put


@pytest.mark.parametrize(
    "stamp_of, fault",
    [
        (lambda now: now - 0.5, "stamp_too_old"),  # 500 ms old by its stamp, arriving on time
        (lambda now: now - 0.02 - 0.001, "stamp_backwards"),  # 1 ms before the previous message's
        (lambda now: now + 0.5, "stamp_future"),  # 500 ms ahead of the clock
    ],
)
def test_a_stamp_fault_fails_safe_that_cycle_like_a_stale_input_then_lands(loop, stamp_of, fault):
    lp = loop(stamped=True)
    good = _stamped(lp, lambda now: now - 0.01)  # 10 ms of sensor latency: fine
    # (too old: the sender stamped nothing until then, else the old stamp would go backwards first)
    for _ in range(50):
        out = lp.cycle(transform=None if fault == "stamp_too_old" else good)
        assert out.state is State.RUNNING and out.source == "policy", out.faults
    out = lp.cycle(transform=_stamped(lp, stamp_of))
    # the stale-input response: FAILSAFE that very cycle, the PID holding on the last good state
    assert out.state is State.FAILSAFE and out.source == "failsafe:hold"
    assert any(str(f).startswith(f"{fault}: odometry: ") for f in out.faults), out.faults
    assert lp.rt.inputs.status("odometry").stamp_refused[fault] == 1
    assert f"{fault}: odometry" in lp.rt.supervisor.history[-1].reason
    for _ in range(5):  # good stamps again: FAILSAFE is latched, it lands
        assert lp.cycle(transform=good).state is State.FAILSAFE
    lp.land()


def test_odometry_that_ages_past_its_stamp_limit_fails_safe_before_it_is_stale_by_arrival(loop):
    lp = loop(stamped=True)
    spec = lp.rt.inputs.specs["odometry"]
    late_s = spec.stamp_max_age_s - 0.005  # accepted, but it has little margin left
    lp.fly(20)
    assert lp.cycle(transform=_stamped(lp, lambda now: now - late_s)).state is State.RUNNING
    assert lp.rt.inputs.status("odometry", lp.now).stamp_age_s == pytest.approx(late_s)
    out = lp.cycle(transform=lambda odo: None)  # nothing new: 10 ms later by arrival
    assert out.state is State.FAILSAFE and out.source == "failsafe:hold"
    assert [str(f).split(":")[0] for f in out.faults] == ["stamp_too_old"]  # not yet stale by arrival
    lp.land()


def test_unstamped_odometry_flies_on_arrival_checks_and_is_counted(loop):
    lp = loop(stamped=True)
    lp.fly(30)  # the bridge puts its odometry without a stamp
    st = lp.rt.inputs.status("odometry", lp.now)
    assert st.ok and st.unstamped >= 30 and st.stamp_age_s is None
