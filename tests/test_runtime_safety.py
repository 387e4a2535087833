"""Safety supervisor, command limiter, input store, and the legged start-up / damping path."""

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import deploy.runtime.safety as safety
from deploy.contract import ActionTerm, Contract, ContractError, ObservationTerm
from deploy.runtime.command_limiter import CommandLimiter
from deploy.runtime.config import InputSpec, RuntimeConfig
from deploy.runtime.input_store import Imu, InputStore, JointStates, Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import RobotProfile
from deploy.runtime.runtime import ArmingRefusedError, Runtime
from deploy.runtime.safety import TRANSITIONS, Event, SafetySupervisor, State
from sim.tasks.quadrotor_hover import HoverConfig
from tests.runtime_helpers import write_linear_policy


def test_the_docstring_table_is_the_transition_table():
    rows = re.findall(
        r"^(DISARMED|STARTING|RUNNING|FAILSAFE|ESTOP)\s+(\w+)\s+([A-Z]+)\s", safety.__doc__, re.M
    )
    documented = {(State(a), Event(e)): State(b) for a, e, b in rows}
    assert documented == TRANSITIONS


def test_every_state_can_reach_a_stop_and_estop_is_reachable_from_every_active_state():
    for s in (State.DISARMED, State.STARTING, State.RUNNING, State.FAILSAFE):
        assert TRANSITIONS[(s, Event.ESTOP)] is State.ESTOP
    assert TRANSITIONS[(State.RUNNING, Event.DISARM)] is State.FAILSAFE  # never a drop from the air
    assert (State.FAILSAFE, Event.ARM) not in TRANSITIONS  # latched: no re-arm before landing


def test_supervisor_ignores_unlisted_events_and_records_transitions():
    sup = SafetySupervisor()
    assert not sup.handle(Event.STARTED, 0.0)
    assert not sup.handle(Event.RESET, 0.0)
    assert sup.state is State.DISARMED
    assert sup.handle(Event.ARM, 1.0, "commanded")
    assert sup.handle(Event.STARTED, 1.5)
    assert sup.handle(Event.FAULT, 2.0, "stale_input: odometry")
    assert not sup.handle(Event.ARM, 3.0)
    assert not sup.handle(Event.FAULT, 3.0)
    assert sup.state is State.FAILSAFE
    assert [t.after for t in sup.history] == [State.STARTING, State.RUNNING, State.FAILSAFE]
    assert sup.history[-1].reason == "stale_input: odometry"


def test_a_fault_during_start_up_aborts_it():
    sup = SafetySupervisor()
    sup.handle(Event.ARM, 0.0)
    assert sup.handle(Event.FAULT, 0.5) and sup.state is State.DISARMED


# -- command limiter ----------------------------------------------------------------------------------

CONTRACT = HoverConfig.from_yaml().contract()
MAX_STEP = 100.0 * CONTRACT.control_dt_s


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        arrays(np.float64, 4, elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
        min_size=1,
        max_size=20,
    )
)
def test_limiter_output_is_finite_in_bounds_and_rate_limited_whatever_comes_in(requests):
    lim = CommandLimiter(CONTRACT, {"motor_command": 100.0}, CONTRACT.control_dt_s)
    lim.reset(np.full(4, -1.0))
    prev = lim.previous
    for r in requests:
        out = lim.limit(r)
        assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0)
        assert np.all(np.abs(out - prev) <= MAX_STEP + 1e-12)
        prev = out


def test_limiter_passes_a_command_within_limits_bit_for_bit_and_holds_on_nan():
    lim = CommandLimiter(CONTRACT, {"motor_command": 100.0}, CONTRACT.control_dt_s)
    lim.reset(np.zeros(4))
    a = np.array([0.1234567890123, -0.3, 0.99, 0.5])
    assert np.array_equal(lim.limit(a), a)
    assert np.array_equal(lim.limit(np.array([np.nan, 0.2, np.inf, -np.inf])), [a[0], 0.2, 0.99, 0.5])
    assert np.array_equal(lim.stop(np.full(4, -1.0)), np.full(4, -1.0))  # stop bypasses the rate limit


# -- input store ----------------------------------------------------------------------------------------


def _odo(pos=(0.0, 0.0, 1.0), quat=(1.0, 0.0, 0.0, 0.0)):
    return Odometry(np.asarray(pos), np.asarray(quat), np.zeros(3), np.zeros(3))


def test_input_store_ages_rejects_bad_values_and_keeps_the_last_good_one():
    store = InputStore([InputSpec("odometry", 0.05), InputSpec("command", None)], clock=lambda: 10.0)
    s = store.status("odometry", 10.0)
    assert not s.present and s.stale and s.age_s == float("inf")
    assert store.put("odometry", _odo(), stamp_s=9.98)
    assert store.status("odometry").age_s == pytest.approx(0.02) and store.status("odometry").ok
    assert store.status("odometry", 10.1).stale
    assert not store.put("odometry", _odo(pos=(np.nan, 0.0, 1.0)), stamp_s=10.0)
    s = store.status("odometry", 10.0)
    assert s.invalid is not None and "pos_m is not finite" in s.invalid and not s.ok
    assert store.get("odometry").stamp_s == 9.98  # the bad value never replaced the good one
    assert not store.put("odometry", _odo(quat=(0.0, 0.0, 0.0, 0.0)))
    assert "unit quaternion" in store.status("odometry").invalid
    assert not store.put("odometry", Odometry([1.0, 2.0], [1.0, 0, 0, 0], [0, 0, 0], [0, 0, 0]))
    assert "expected 3 values" in store.status("odometry").invalid
    assert store.put("odometry", _odo(), stamp_s=10.0) and store.status("odometry").invalid is None
    with pytest.raises(KeyError, match="unknown input 'imu'"):
        store.put("imu", _odo())



@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"pos": (np.nan, 0.0, 1.0)}, "pos_m is not finite"),
        ({"lin": (0.0, np.inf, 0.0)}, "lin_vel_m_s is not finite"),
        ({"ang": (0.0, 0.0, -np.inf)}, "ang_vel_rad_s is not finite"),
        ({"quat": (np.nan, 0.0, 0.0, 0.0)}, "quat_wxyz is not finite"),
        ({"quat": (0.5, 0.0, 0.0, 0.0)}, "unit quaternion"),
        ({"quat": (1e300, 1e300, 0.0, 0.0)}, "unit quaternion"),
    ],
)
def test_odometry_of_a_decoders_floats_is_stored_as_checked_or_refused_with_the_same_reason(bad, reason):
    """Odometry.of_floats (the CDR decoder's path) checks on the floats what checked() checks."""
    good = {
        "pos": (0.1, 0.2, 1.0), "quat": (1.0, 0.0, 0.0, 0.0), "lin": (0.0, 0.1, 0.0), "ang": (0.0, 0.0, 0.3)
    }  # fmt: skip
    store = InputStore([InputSpec("odometry", 0.05)], clock=lambda: 10.0)
    ok = Odometry.of_floats(good["pos"], good["quat"], good["lin"], good["ang"])
    assert ok.checked() is ok  # checked on the floats: the store keeps it as it is
    assert store.put("odometry", ok, stamp_s=9.99)
    stored = store.get("odometry").value
    assert all(not a.flags.writeable and a.dtype == np.float64 for a in vars(stored).values())
    assert stored.pos_m.tolist() == [0.1, 0.2, 1.0] and stored.quat_wxyz.tolist() == [1.0, 0.0, 0.0, 0.0]
    values = good | bad
    refused = Odometry.of_floats(values["pos"], values["quat"], values["lin"], values["ang"])
    assert not store.put("odometry", refused, stamp_s=10.0)
    assert reason in store.status("odometry").invalid
    assert store.get("odometry").value is stored  # the last good value stays


def test_config_needs_a_staleness_limit_for_every_required_input():
    cfg = RuntimeConfig.from_yaml()
    assert cfg.inputs["odometry"].max_age_s == 0.05 and cfg.inputs["command"].max_age_s is None
    with pytest.raises(ValueError, match="no staleness limit for it"):
        RuntimeConfig(inputs={}).input_spec("odometry")
    with pytest.raises(ValueError, match=r"unknown keys \['spin'\]"):
        RuntimeConfig.from_dict({"loop": {"spin": 1}})


# -- legged: start-up interpolates to the default pose, FAILSAFE is damping ---------------------------

JOINTS = tuple(f"{leg}_{j}_joint" for leg in ("FL", "FR", "RL", "RR") for j in ("hip", "thigh", "calf"))


@pytest.fixture(scope="module")
def legged(tmp_path_factory):
    contract = Contract(
        task="test-stand",
        robot="quadruped-test",
        control_rate_hz=50.0,
        observations=(ObservationTerm("angular_velocity_rad_s", 3), ObservationTerm("previous_action", 12)),
        actions=(ActionTerm("joint_position", JOINTS, scale=1.0, offset=0.0, unit="rad"),),
        sensors=("imu", "joint_states"),
    )
    default = dict.fromkeys(JOINTS, 0.0) | {n: 0.8 for n in JOINTS if "thigh" in n}
    profile = RobotProfile.from_dict(
        {
            "name": "quadruped-test",
            "kind": "legged",
            "robot": "quadruped-test",
            "control_rate_hz": 50.0,
            "actuators": list(reversed(JOINTS)),  # hardware order differs from the policy's
            "joints": list(JOINTS),
            "sensors": ["imu", "joint_states"],
            "action_rate_limits_per_s": {"joint_position": 10.0},
            "limits": {
                "joint_limits_rad": {n: [-0.45, 0.45] if "calf" in n else [-1.0, 1.0] for n in JOINTS}
            },
            "legged": {"default_pose_rad": default, "damping_kd": 3.0, "stand_up_s": 1.0, "damping_s": 0.5},
        }
    )
    bias = np.array([default[n] for n in JOINTS])  # the policy holds the default pose
    path = write_linear_policy(
        tmp_path_factory.mktemp("legged") / "p.onnx", contract, np.zeros((15, 12)), bias
    )
    return contract, profile, path


def _legged_inputs(rt, now, q):
    rt.put("imu", Imu(np.array([1.0, 0, 0, 0]), np.zeros(3)), now)
    rt.put("joint_states", JointStates(tuple(reversed(JOINTS)), q[::-1].copy(), np.zeros(12)), now)


def test_legged_starts_by_interpolating_to_the_default_pose_then_damps_on_a_joint_limit(legged):
    contract, profile, path = legged
    rt = Runtime(PolicyRunner(path, profile), RuntimeConfig.from_yaml())
    q = np.zeros(12)  # lying down, every joint at 0
    with pytest.raises(ArmingRefusedError, match="stale_input: imu: nothing received"):
        rt.arm(0.0)
    _legged_inputs(rt, 0.0, q)
    rt.arm(0.0, current_action=q)
    thigh = [i for i, n in enumerate(JOINTS) if "thigh" in n]
    targets, dt = [], contract.control_dt_s
    for k in range(60):
        now = k * dt
        _legged_inputs(rt, now, q)
        out = rt.step(now)
        assert np.all(np.isfinite(out.actuator_command)) and np.all(np.abs(out.action) <= 1.0)
        by_name = dict(zip(out.actuator_names, out.actuator_command, strict=True))
        targets.append([by_name[JOINTS[i]] for i in thigh])
        if k < 50:
            assert out.state is State.STARTING and out.source == "starting"
            assert np.all(out.kp == 20.0)
    targets = np.array(targets)
    assert np.all(np.diff(targets, axis=0) >= -1e-12)  # monotone towards the default pose
    assert np.allclose(targets[-1], 0.8) and out.state is State.RUNNING and out.source == "policy"
    # A calf beyond its limit: FAILSAFE with damping that very cycle, in the profile's actuator order.
    q = np.array([0.8 if "thigh" in n else 0.0 for n in JOINTS])
    q[JOINTS.index("FL_calf_joint")] = 0.6
    now += dt
    _legged_inputs(rt, now, q)
    out = rt.step(now)
    assert out.state is State.FAILSAFE and out.source == "damping"
    assert any("joint FL_calf_joint at 0.600 rad outside" in str(f) for f in out.faults)
    assert np.all(out.kp == 0.0) and np.all(out.kd == 3.0)
    for k in range(1, 40):
        _legged_inputs(rt, now + k * dt, q)
        out = rt.step(now + k * dt)
    assert out.state is State.DISARMED and out.source == "stop"
    assert np.all(out.kp == 0.0) and np.all(out.kd == 3.0)  # DISARMED keeps damping on a legged robot


def test_joint_drives_in_the_contract_give_the_runtime_its_default_pose(legged):
    from deploy.contract import JointDrive
    from deploy.runtime.input_store import Sample
    from deploy.runtime.robot_profile import problems
    from deploy.runtime.state_assembly import StateAssembler

    base, profile, _ = legged
    pose = profile.legged.default_pose_rad
    drives = tuple(JointDrive(n, pose[n], 20.0, 0.5, 23.7) for n in JOINTS)
    observations = base.observations + (ObservationTerm("joint_pos_rel_default_rad", 12),)
    contract = dataclasses.replace(base, observations=observations, joints=drives)
    assert problems(contract, profile) == []
    q = np.linspace(-0.5, 0.5, 12)
    samples = {
        "imu": Sample(Imu(np.array([1.0, 0, 0, 0]), np.zeros(3)), 0.0),
        "joint_states": Sample(JointStates(tuple(reversed(JOINTS)), q[::-1].copy(), np.zeros(12)), 0.0),
    }
    state = StateAssembler(contract, profile).assemble(samples, 0.0, np.zeros(12)).state
    np.testing.assert_array_equal(state.joint_default_pos_rad[0], [pose[n] for n in profile.joints])
    np.testing.assert_array_equal(
        state.joint_pos_rad[0] - state.joint_default_pos_rad[0], q - [pose[n] for n in JOINTS]
    )

    moved = dataclasses.replace(contract, joints=(JointDrive(JOINTS[0], 0.3, 20.0, 0.5, 23.7),) + drives[1:])
    (message,) = problems(moved, profile)
    assert "default_pose_rad differs" in message and f"'{JOINTS[0]}': (0.0, 0.3)" in message
    extra = dataclasses.replace(profile, joints=profile.joints + ("tail_joint",))
    assert any("['tail_joint'] of `joints:`" in m and "have no drive" in m for m in problems(contract, extra))


# -- quadrotor start-up ----------------------------------------------------------------------------------


def test_quadrotor_start_up_idles_spins_up_to_hover_then_hands_over_and_aborts_on_a_fault(tmp_path):
    from deploy.runtime.input_store import Command
    from deploy.runtime.robot_profile import DEFAULT_PROFILE
    from tests.runtime_helpers import hover_policy

    profile = RobotProfile.from_yaml(DEFAULT_PROFILE)  # idle 1 s, then spin-up over 1 s
    q = profile.quadrotor
    runner = PolicyRunner(hover_policy(tmp_path / "p.onnx"), profile)
    on_ground = Odometry(np.array([0.0, 0.0, 0.01]), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3))
    target = Command(np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0]))

    rt = Runtime(runner, RuntimeConfig.from_yaml())
    rt.put("odometry", on_ground, 0.0)
    rt.put("command", target, 0.0)
    rt.arm(0.0)
    commands = []
    for k in range(1, 300):
        now = k * 0.01
        rt.put("odometry", on_ground, now)
        out = rt.step(now)
        if out.state is State.RUNNING:
            break
        assert out.state is State.STARTING and out.source == "starting"
        commands.append(out.actuator_command[0])
    assert out.source == "policy" and now == pytest.approx(q.starting.idle_s + q.starting.spinup_s)
    commands = np.array(commands)
    idle_cycles = int(round(q.starting.idle_s / 0.01)) - 1
    assert np.allclose(commands[:idle_cycles], q.starting.idle_command)
    assert np.all(np.diff(commands[idle_cycles:]) > 0) and q.params.hover_command - 0.02 < commands[-1]

    rt = Runtime(runner, RuntimeConfig.from_yaml())
    rt.put("odometry", on_ground, 0.0)
    rt.put("command", target, 0.0)
    rt.arm(0.0)
    assert rt.step(0.01).state is State.STARTING
    out = rt.step(0.5)  # odometry last came at 0.0: stale
    assert out.state is State.DISARMED and out.source == "stop" and np.all(out.actuator_command == 0.0)


def test_a_legged_policy_whose_joint_names_differ_from_the_profile_is_refused(legged):
    contract, profile, path = legged
    renamed = [n.replace("FL_calf", "FL_knee") for n in profile.actuators]
    other = dataclasses.replace(profile, actuators=tuple(renamed))
    with pytest.raises(ContractError) as exc:
        PolicyRunner(path, other)
    message = str(exc.value)
    assert "does not fit robot profile 'quadruped-test'" in message
    assert "FL_calf_joint" in message and "FL_knee_joint" in message  # both sides named


def test_the_final_guard_repairs_any_output_that_is_non_finite_or_out_of_range(legged):
    contract, profile, path = legged
    rt = Runtime(PolicyRunner(path, profile), RuntimeConfig.from_yaml())
    q = np.array([0.8 if "thigh" in n else 0.0 for n in JOINTS])
    _legged_inputs(rt, 0.0, q)
    rt.arm(0.0, current_action=q)
    out = rt.step(0.0)
    assert rt.output_guard_trips == 0  # an intact path never needs it
    # something upstream breaks: the limiter starts emitting NaN and out-of-range actions
    broken = np.full(12, 3.0)
    broken[JOINTS.index("FR_thigh_joint")] = np.nan
    rt.limiter.limit = lambda a: broken.copy()
    out = rt.step(contract.control_dt_s)
    assert np.all(np.isfinite(out.actuator_command)) and np.all(np.abs(out.action) <= 1.0)
    by_name = dict(zip(JOINTS, out.action, strict=True))  # action: contract order
    assert by_name["FR_thigh_joint"] == 0.0  # the legged stop value (damping at the default pose)
    assert by_name["FL_hip_joint"] == 1.0  # clipped to the contract's high
    assert rt.output_guard_trips == 1 and rt.diagnostics()["output_guard_trips"] == 1
