"""The compiled nominal cycle (deploy/runtime/compiled_cycle.py) is the Python cycle: two Runtimes on
the same policy, one with it and one without, fed the same seeded random inputs (faults among
them: refused values, bad stamps, gaps, limits crossed, wrong sizes, e-stops, disarms, deadline
misses), give the same command, state, source and faults every cycle, bit for bit, and end with the
same input bookkeeping."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from deploy.runtime.compiled_cycle import CompiledCycle
from deploy.runtime.config import InferenceOptions, RuntimeConfig
from deploy.runtime.input_store import Command, JointStates
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, PROFILE_DIR, RobotProfile
from deploy.runtime.runtime import ArmingRefusedError, Runtime
from deploy.runtime.safety import State
from deploy.runtime.stamps import StampClock
from deploy.sim_bridge import airborne_profile
from deploy.transport import convert, messages
from deploy.transport.cdr import ImuEncoder, JointStateDecoder, OdometryEncoder, decode_imu, decode_odometry
from tests.runtime_helpers import hover_policy

ROOT = Path(__file__).resolve().parents[1]
WALK_POLICY = ROOT / "policies" / "quadruped_walk.onnx"


class Twins:
    """A Runtime with the compiled cycle and one without, on one simulated clock."""

    def __init__(self, policy: Path, profile: RobotProfile) -> None:
        self.t = 0.0
        self.compiled = self._runtime(policy, profile, "auto")
        self.python = self._runtime(policy, profile, "python")
        assert isinstance(self.compiled.compiled_cycle, CompiledCycle)
        assert self.python.compiled_cycle is None

    def _runtime(self, policy: Path, profile: RobotProfile, cycle: str) -> Runtime:
        config = dataclasses.replace(
            RuntimeConfig.from_yaml(), inference=InferenceOptions(engine="compiled", cycle=cycle)
        )
        stamps = StampClock("system", wall=lambda: self.t)
        return Runtime(PolicyRunner(policy, profile), config, clock=lambda: self.t, stamp_clock=stamps)

    @property
    def both(self) -> tuple[Runtime, Runtime]:
        return self.compiled, self.python

    def sensor(self, name: str, data: bytes) -> None:
        """A sensor sample's bytes, as the policy node hands them over: the compiled cycle's way
        when it takes them, else decoded and put()."""
        for rt in self.both:
            if rt.put_cdr(name, data, self.t) is not None:
                continue
            if name == "odometry":
                sec, nanosec, pose, twist = decode_odometry(data)
                value = convert.odometry_from_values(pose, twist)
            elif name == "joint_states":
                sec, nanosec, names, position, velocity = JointStateDecoder().decode(data)
                value = convert.joint_states_from_values(names, position, velocity)
            else:
                sec, nanosec, orientation, angular, linear = decode_imu(data)
                value = convert.imu_from_values(orientation, angular, linear)
            rt.put(name, value, self.t, convert.header_stamp_s(convert.Stamp(sec, nanosec)))

    def put(self, name: str, value: object, stamp_s: float | None) -> None:
        for rt in self.both:
            rt.put(name, value, self.t, stamp_s)  # type: ignore[arg-type]

    def events(self, rng: np.random.Generator) -> None:
        """Arming, e-stops and disarms, the same on both; arming refusals must name the same reasons."""
        state = self.python.state
        if state is State.DISARMED and rng.random() < 0.2:
            refusals = []
            for rt in self.both:
                try:
                    rt.arm(self.t)
                    refusals.append(None)
                except ArmingRefusedError as exc:
                    refusals.append(str(exc))
            assert refusals[0] == refusals[1]
        elif state in (State.STARTING, State.RUNNING) and rng.random() < 0.002 or (
            state is State.FAILSAFE and rng.random() < 0.05  # no physics lands it: the operator stops
        ):
            for rt in self.both:
                rt.estop("test e-stop")
        elif state is State.ESTOP and rng.random() < 0.05:
            for rt in self.both:
                rt.release_estop()
                rt.reset_estop(self.t)
        elif state is State.RUNNING and rng.random() < 0.002:
            for rt in self.both:
                rt.disarm()

    def step(self, miss_streak: int) -> None:
        a, b = (rt.step(self.t, miss_streak) for rt in self.both)
        assert (a.state, a.source) == (b.state, b.source), (self.t, a.faults, b.faults)
        assert a.action.tobytes() == b.action.tobytes(), (self.t, a.action, b.action)
        assert a.actuator_command.tobytes() == b.actuator_command.tobytes()
        assert a.actuator_names == b.actuator_names
        for x, y in ((a.kp, b.kp), (a.kd, b.kd)):
            assert (x is None) == (y is None) and (x is None or np.array_equal(x, y))
        assert [str(f) for f in a.faults] == [str(f) for f in b.faults], self.t

    def finish(self) -> None:
        """The same bookkeeping at the end; the compiled cycle did run, and did decline."""
        a, b = (rt.diagnostics(now_s=self.t) for rt in self.both)
        assert a["inputs"] == b["inputs"]
        assert a["transitions"] == b["transitions"]
        assert (a["cycles"], a["output_guard_trips"]) == (b["cycles"], b["output_guard_trips"])
        ages_a, ages_b = self.compiled.policy_input_age_max_s, self.python.policy_input_age_max_s
        assert ages_a == ages_b
        assert self.compiled.limiter.previous.tobytes() == self.python.limiter.previous.tobytes()
        assert self.compiled.compiled_cycles > 500, self.compiled.compiled_cycles
        assert self.compiled.declined_cycles > 5, self.compiled.declined_cycles


#: The share of samples drawn with faults (the rest are clean): runs of RUNNING cycles in between.
FAULTY = 0.02


def _stamp(rng: np.random.Generator, t: float, faulty: bool) -> tuple[int, int]:
    """The sample's stamp: `t`; when faulty, now and then none, backwards, from the future or too old."""
    r = rng.random() if faulty else 1.0
    if r < 0.1:
        return 0, 0
    s = t
    if r < 0.2:
        s = t - 0.03  # behind the previous one
    elif r < 0.25:
        s = t + 0.5  # beyond the future tolerance
    elif r < 0.3:
        s = t - 0.2  # older than stamp_max_age_s
    ns = round(s * 1e9)
    return ns // 1_000_000_000, ns % 1_000_000_000


def _attitude(rng: np.random.Generator, faulty: bool) -> np.ndarray:
    """(x, y, z, w): near level; when faulty, now and then past or at the 60° tilt limit, or off-norm."""
    r = rng.random() if faulty else 1.0
    if r < 0.1:
        tilt = math.radians(rng.choice([61.0, 75.0, 60.0 - 1e-9, 60.0 + 1e-9]))
        axis = rng.standard_normal(2)
        axis /= np.linalg.norm(axis)
        q = np.array([*(axis * math.sin(tilt / 2)), 0.0, math.cos(tilt / 2)])
    else:
        q = np.array([*(rng.standard_normal(3) * 0.05), 1.0])
        q /= np.linalg.norm(q)
    if 0.1 <= r < 0.15:
        q *= 0.5  # refused: not a unit quaternion
    return q


def _vector(rng: np.random.Generator, scale: float, faulty: bool) -> list[float]:
    v = rng.standard_normal(3) * scale
    r = rng.random() if faulty else 1.0
    if r < 0.05:
        v[rng.integers(3)] = math.nan  # refused
    elif r < 0.1:
        v[rng.integers(3)] = 1e30  # finite, far beyond any observation clip
    return v.tolist()


def run_hover(twins: Twins, cycles: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    encoder = OdometryEncoder("odom", "base_link")
    dt = 1.0 / twins.compiled.contract.control_rate_hz
    twins.put("command", Command(np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0])), None)
    for _ in range(cycles):
        faulty = rng.random() < FAULTY
        twins.t += dt * (12.0 if faulty and rng.random() < 0.03 else 1.0)  # a gap: stale inputs
        if not (faulty and rng.random() < 0.2):  # now and then no sample
            pos = [float(rng.normal(0.0, 0.1)), float(rng.normal(0.0, 0.1)), float(rng.normal(2.0, 0.1))]
            if faulty and rng.random() < 0.05:
                pos[0] = 5.0  # outside the geofence
            twist = [*_vector(rng, 0.2, faulty), *_vector(rng, 0.5, faulty)]
            pose = [*pos, *_attitude(rng, faulty)]
            twins.sensor("odometry", encoder.encode(*_stamp(rng, twins.t, faulty), pose, twist))
        r = rng.random()
        if r < 0.02:
            target = np.array([*rng.normal(0.0, 0.2, 3), 0.0, 0.0, 0.0])
            if r < 0.001:
                target[0] = math.nan  # refused
            elif r < 0.002:
                target = target[:4]  # a size the contract's command terms do not have
            twins.put("command", Command(target), None)
        twins.events(rng)
        twins.step(twins.python.config.max_deadline_miss_streak if faulty and rng.random() < 0.05 else 0)
    twins.finish()


def run_walk(twins: Twins, cycles: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    encoder = ImuEncoder("imu_link")
    rt = twins.compiled
    joints = rt.assembler.joints
    pose = np.array([rt.profile.legged.default_pose_rad[n] for n in joints])  # type: ignore[union-attr]
    dt = 1.0 / rt.contract.control_rate_hz
    twins.put("command", Command(np.array([0.5, 0.0, 0.0])), None)
    for _ in range(cycles):
        faulty = rng.random() < FAULTY
        twins.t += dt * (3.0 if faulty and rng.random() < 0.03 else 1.0)
        if not (faulty and rng.random() < 0.1):
            names, vel = list(joints), rng.normal(0.0, 0.5, len(joints))
            pos = pose + rng.normal(0.0, 0.05, len(joints))
            r = rng.random() if faulty else 1.0
            if r < 0.2:
                order = rng.permutation(len(names))  # another order of the same joints
                names, pos, vel = [names[k] for k in order], pos[order], vel[order]
            elif r < 0.25:
                names, pos, vel = names[1:], pos[1:], vel[1:]  # a joint missing
            elif r < 0.3:
                pos[rng.integers(len(pos))] = math.nan  # refused
            elif r < 0.35:
                pos[rng.integers(len(pos))] = 3.5  # beyond a joint limit
            sec, nanosec = _stamp(rng, twins.t, faulty)
            if rng.random() < 0.5:  # as the DDS transport hands it over: its bytes
                msg = convert.joint_states_msg(messages.make, 0.0, names, pos, vel)
                msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
                twins.sensor("joint_states", msg.serialize())
            else:
                stamp = convert.header_stamp_s(convert.Stamp(sec, nanosec))
                twins.put("joint_states", JointStates(tuple(names), pos, vel), stamp)
        if not (faulty and rng.random() < 0.1):
            x, y, z, w = _attitude(rng, faulty)
            stamp = _stamp(rng, twins.t, faulty)
            data = encoder.encode(*stamp, [x, y, z, w], _vector(rng, 0.5, faulty), [0.0, 0.0, 9.81])
            twins.sensor("imu", data)
        if rng.random() < 0.01:
            twins.put("command", Command(rng.normal(0.0, 0.5, 3)), None)
        twins.events(rng)
        twins.step(twins.python.config.max_deadline_miss_streak if faulty and rng.random() < 0.05 else 0)
    twins.finish()


@pytest.fixture(scope="module")
def hover(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hover_policy(tmp_path_factory.mktemp("compiled_cycle") / "hover.onnx")


@pytest.mark.parametrize("seed", [0, 1])
def test_the_compiled_cycle_flies_the_python_cycles_hover_commands(hover: Path, seed: int) -> None:
    twins = Twins(hover, airborne_profile(RobotProfile.from_yaml(DEFAULT_PROFILE)))
    run_hover(twins, 6000, seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_compiled_cycle_walks_the_python_cycles_walk_commands(seed: int) -> None:
    twins = Twins(WALK_POLICY, RobotProfile.from_yaml(PROFILE_DIR / "profile_go2.yaml"))
    run_walk(twins, 6000, seed)


def test_without_a_compiled_policy_the_cycle_runs_in_python(hover: Path) -> None:
    config = dataclasses.replace(RuntimeConfig.from_yaml(), inference=InferenceOptions(engine="onnxruntime"))
    profile = airborne_profile(RobotProfile.from_yaml(DEFAULT_PROFILE))
    rt = Runtime(PolicyRunner(hover, profile), config)
    assert rt.compiled_cycle is None and rt.cycle_engine == "python"
    assert rt.put_cdr("odometry", b"", 0.0) is None
    assert rt.diagnostics()["cycle_engine"] == "python"


def test_a_runner_given_another_observation_builder_leaves_the_compiled_cycle(hover: Path) -> None:
    from deploy.runtime.fast_observation import BatchOneObservation

    twins = Twins(hover, airborne_profile(RobotProfile.from_yaml(DEFAULT_PROFILE)))
    rt = twins.compiled
    assert rt.compiled_cycle is not None and rt.compiled_cycle.usable(rt)
    rt.runner.builder = BatchOneObservation(rt.contract)
    assert not rt.compiled_cycle.usable(rt)


def test_the_policy_node_flies_odometry_bytes_through_the_compiled_cycle(hover: Path, tmp_path: Path) -> None:
    """The node's DDS path (odometry as its bytes) stores each sample and runs each cycle compiled,
    and commands what a node given the same odometry as messages commands, with the same latency
    bookkeeping."""
    from deploy.nodes.policy_node import PolicyNode
    from deploy.runtime.config import DEFAULT_CONFIG
    from deploy.runtime.rt_loop import CycleInfo
    from tests.runtime_helpers import NullTransport

    class CdrTransport(NullTransport):
        def subscribe_cdr(self, topic, ros_type, qos, callback):  # type: ignore[no-untyped-def]
            self.subscribe(topic, ros_type, qos, callback)

    config = tmp_path / "runtime.yaml"
    config.write_text(DEFAULT_CONFIG.read_text().replace("clock: system", "clock: none"))
    params = {"policy_file": str(hover), "airborne_start": True, "runtime_config": str(config)}
    by_bytes, by_msg = PolicyNode(CdrTransport(), params), PolicyNode(NullTransport(), params)
    assert by_bytes.odometry_as_cdr and not by_msg.odometry_as_cdr
    for node in (by_bytes, by_msg):
        node._on_reference(convert.reference_msg(messages.make, 1.0, np.array([0.0, 0.0, 2.0]), np.zeros(3)))
    rng = np.random.default_rng(3)
    commands: dict[PolicyNode, list[list[float]]] = {by_bytes: [], by_msg: []}
    for k in range(300):
        quat = np.array([1.0, *rng.normal(0.0, 0.02, 3)])
        msg = convert.odometry_msg(
            messages.make, 10.0 + 0.01 * k, rng.normal([0.0, 0.0, 2.0], 0.05), quat / np.linalg.norm(quat),
            rng.normal(0.0, 0.1, 3), rng.normal(0.0, 0.2, 3),
        )  # fmt: skip
        by_bytes._on_odometry_cdr(msg.serialize())
        by_msg._on_odometry(msg)
        if k == 0:
            for node in (by_bytes, by_msg):
                node._on_arm(node.t.make("std_msgs/msg/Bool", data=True))
        for node in (by_bytes, by_msg):
            t = node.clock()
            info = CycleInfo(k, int(t * 1e9), int(t * 1e9), 0)
            node._before(info)
            out = node.runtime.step(t, 0)
            node._sink(out)
            commands[node].append(out.actuator_command.tolist())
    assert commands[by_bytes] == commands[by_msg]
    assert by_bytes.sources == by_msg.sources and by_bytes.sources.get("policy", 0) >= 290
    assert [row[0] for row in by_bytes.latency] == [row[0] for row in by_msg.latency]
    assert by_bytes.runtime.compiled_cycles >= 290 and by_bytes.runtime.declined_cycles == 0
    assert by_bytes.runtime.inputs.status("odometry").received == 300
    statuses = by_bytes.diagnostics_statuses()[0][4]
    assert statuses["cycle_engine"].startswith("compiled C") and statuses["cycles_compiled"] >= 290
