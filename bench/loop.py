"""The policy node's control cycle, stage by stage, and its CPU share at a given rate.

The cycle measured is the policy node's own (deploy.nodes.policy_node.PolicyNode): sensor
messages (nav_msgs/Odometry; legged: sensor_msgs/JointState + sensor_msgs/Imu) go through the
node's subscription callbacks (message conversion, checks, stamp rules; on DDS the odometry as the
sample's bytes, which the node decodes itself, deploy/transport/cdr.py), the runtime runs one
cycle (deploy.runtime.Runtime.step: input checks, state assembly, limits and the safety state
machine, the contract observation built by the same code as training, ONNX Runtime through
preallocated buffers, clip / rate limit / final guard), and the node publishes the command (the
actuator message built and written to DDS on loopback, on a leased domain; --transport none
builds it only). No simulator: the figures are the node's own. The stage clock is
deploy/runtime/stage_times.py.

Two measurements per policy, at --rate-hz whatever the policy's contract rate:

1. stages: the messages are delivered in the cycle's thread just before each cycle (paced by the
   fixed-rate loop), so each cycle's stages add up exactly: input_store (callbacks: convert +
   store), inputs, state, safety, observation, inference, limiter, publish; p50/p99 of each and of
   their sum, the in-node compute per sensor sample.
2. CPU share: the node as it runs on a robot: a sender thread delivers the messages at the rate
   (as a transport's receive thread would), the loop runs each cycle on the driving sensor's
   arrival (--trigger sensor, the node's default) or at the fixed rate (--trigger timer, which
   spins spin_margin_s before each deadline); the node's CPU time over wall time, the sender's
   own message building subtracted, with the loop's jitter (sensor: wake-up after the arrival),
   misses and cycles by trigger.

Policies (--policy, repeatable; default hover and walk): `hover` is policies/quadrotor_hover.onnx,
or while none is shipped a random-weight MLP with the hover task's contract (the cycle's timing
does not depend on the weights; the output says which); `walk` is policies/quadruped_walk.onnx;
or an ONNX file (its robot profile is found by the contract's robot). Input staleness limits
(by arrival and by stamp) are relaxed to 0.5 s and the deadline-miss streak limit is lifted, so a
pause between the phases or a busy machine cannot end a run in FAILSAFE. --stage-clock cpu
times the stages on the thread's CPU clock instead of the wall clock: without the time the
thread was preempted, for comparing figures taken on a busy machine (each reading costs a
system call, ≈ 0.5 µs). --unpaced runs phase 1's cycles back to back instead of at the rate (the
code's own cost with warm caches; a busy machine disturbs it less); --observation picks what
builds the observation: `node` what the node runs (compiled C beside a compiled policy,
deploy/runtime/compiled_observation.py), `floats` the batch-of-one float path in Python
(deploy/runtime/fast_observation.py), `shared` the shared deploy.observations.ObservationBuilder:
same-run baselines. Where the observation and policy run compiled, the node's nominal cycle is one
compiled call (deploy/runtime/compiled_cycle.py: stage `compiled`, in place of inputs, state,
safety, observation, inference and limiter); --cycle python measures the Python cycle instead.

Run: `tether bench loop [--rate-hz 500] [--seconds 10] [--policy hover --policy walk]
[--trigger sensor|timer] [--unpaced] [--observation node|floats|shared] [--cycle auto|python]
[--json FILE]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.sim_throughput import machine_description
from deploy.nodes.policy_node import PolicyNode
from deploy.observations import ObservationBuilder
from deploy.policy_file import PolicyFile
from deploy.runtime.config import DEFAULT_CONFIG, RuntimeConfig
from deploy.runtime.fast_observation import BatchOneObservation
from deploy.runtime.robot_profile import PROFILE_DIR
from deploy.runtime.rt_loop import TRIGGERS, CycleInfo, LoopStatsSnapshot, RealtimeLoop
from deploy.runtime.safety import State
from deploy.runtime.stage_times import STAGES, StageTimes
from deploy.transport import convert

log = logging.getLogger("tether.bench")

ROOT = Path(__file__).resolve().parents[1]
#: The shipped policies (found from the repository root whatever the working directory).
DEFAULT_POLICY = ROOT / "policies" / "quadrotor_hover.onnx"
WALK_POLICY = ROOT / "policies" / "quadruped_walk.onnx"
#: In-node compute targets (p99, batch size one) on the 2-core build machine, quiet.
TARGETS_US = {"quadrotor-x4": 150.0, "quadruped-go2": 250.0}
STALENESS_S = 0.5  # relaxed input age limits of the benchmark's runtime configuration


@dataclasses.dataclass(frozen=True)
class Subject:
    name: str
    policy: Path
    note: str  # what the policy is (a fallback says so)


def _subjects(names: list[str], directory: Path) -> list[Subject]:
    out = []
    for name in names:
        if name == "hover":
            if DEFAULT_POLICY.exists():
                out.append(Subject("hover", DEFAULT_POLICY, str(DEFAULT_POLICY.relative_to(ROOT))))
            else:
                path, what = _fallback_policy(directory)
                out.append(
                    Subject("hover", path, f"{what} (no {DEFAULT_POLICY.relative_to(ROOT)} shipped yet)")
                )
        elif name == "walk":
            out.append(Subject("walk", WALK_POLICY, str(WALK_POLICY.relative_to(ROOT))))
        else:
            out.append(Subject(Path(name).stem, Path(name), name))
    return out


def _fallback_policy(directory: Path) -> tuple[Path, str]:
    """A random-weight MLP with the hover task's contract (for when no trained policy exists yet),
    and its description. The cycle's timing does not depend on what the weights are."""
    from sim.tasks.quadrotor_hover import HoverConfig
    from training.random_policy import describe, write_random_policy

    contract = HoverConfig.from_yaml().contract()
    return write_random_policy(directory / "random_mlp.onnx", contract), describe(contract)


def _profile_for(robot: str) -> Path:
    """The shipped ROS-topic robot profile (no hardware interface) of the contract's robot."""
    for path in sorted(PROFILE_DIR.glob("profile_*.yaml")):
        d = yaml.safe_load(path.read_text())
        if d.get("robot") == robot and not d.get("hardware_interface"):
            return path
    raise SystemExit(f"no robot profile in {PROFILE_DIR} for the policy's robot '{robot}'")


class _NoNetwork:
    """--transport none: messages are built as for DDS and dropped."""

    name = "none"

    def make(self, ros_type: str, **fields: Any) -> Any:
        from deploy.transport.messages import make

        return make(ros_type, **fields)

    def publisher(self, topic: str, ros_type: str, qos: str) -> Any:
        class _Drop:
            def publish(self, msg: Any) -> None:
                return None

        return _Drop()

    def subscribe(self, topic: str, ros_type: str, qos: str, callback: Callable[[Any], None]) -> None:
        return None

    def start(self) -> None:
        return None

    def close(self) -> None:
        return None


class Feed:
    """Sensor messages as the robot's drivers send them, handed to the node's callbacks; the
    driving input last (the robot profile's trigger_input)."""

    def __init__(self, node: PolicyNode, make: Callable[..., Any]) -> None:
        self.node, self.make = node, make
        self.profile = node.runtime.profile
        self.legged = node.legged
        self.rng = np.random.default_rng(0)
        self.noise = self.rng.standard_normal((4096, 40)) * 0.01
        leg = self.profile.legged
        self.joints = node.runtime.assembler.joints
        self.pose = (
            np.array([leg.default_pose_rad[n] for n in self.joints]) if leg is not None else np.zeros(0)
        )

    def setpoint(self) -> None:
        """The task command, once (a held setpoint)."""
        if self.legged:
            self.node._on_cmd_vel(convert.twist_msg(self.make, 0.5, 0.0, 0.0))
        else:
            msg = convert.reference_msg(self.make, time.time(), np.array([0.0, 0.0, 2.0]), np.zeros(3))
            self.node._on_reference(msg)

    def messages(self, k: int) -> list[tuple[Callable[[Any], None], Any]]:
        n = self.noise[k % len(self.noise)]
        quat = np.array([1.0, n[0], n[1], n[2]])
        quat /= np.linalg.norm(quat)
        now = time.time()
        if self.legged:
            js = convert.joint_states_msg(self.make, now, self.joints, self.pose + n[3:15], n[15:27])
            imu = convert.imu_msg(self.make, now, quat, n[27:30], np.array([0.0, 0.0, 9.81]) + n[30:33])
            return [self._as_sent("joint_states", js), self._as_sent("imu", imu)]
        odo = convert.odometry_msg(self.make, now, np.array([0.0, 0.0, 2.0]) + n[3:6], quat, n[6:9], n[9:12])
        return [self._as_sent("odometry", odo)]

    def _as_sent(self, name: str, msg: Any) -> tuple[Callable[[Any], None], Any]:
        """The callback the node subscribed for input `name` and what the transport hands it: on DDS
        the sample's bytes, which the node decodes itself; else the message."""
        if name in self.node.cdr_inputs:
            return getattr(self.node, f"_on_{name}_cdr"), msg.serialize()
        return getattr(self.node, f"_on_{name}"), msg

    def deliver(self, messages: list[tuple[Callable[[Any], None], Any]]) -> None:
        """Each message through its callback, then, as the DDS receive thread does after each topic's
        callbacks, the cycle it starts where cycles run in that thread (RealtimeLoop.run_pending;
        nothing while the node's loop is not running sensor-triggered there)."""
        for callback, msg in messages:
            callback(msg)
            self.node.loop.run_pending()


def _node(subject: Subject, transport: Any, config_path: Path, loop_overrides: dict[str, Any]) -> PolicyNode:
    contract = PolicyFile(subject.policy).contract
    profile = _profile_for(contract.robot)
    node = PolicyNode(
        transport,
        {
            "policy_file": str(subject.policy),
            "robot_profile": str(profile),
            "runtime_config": str(config_path),
            "airborne_start": contract.robot.startswith("quadrotor"),
        },
    )
    if loop_overrides:
        cfg = node.runtime.config
        node.runtime.config = dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, **loop_overrides))
    return node


def _arm(node: PolicyNode, feed: Feed, rate_hz: float) -> None:
    """Deliver inputs, arm, and cycle until RUNNING (legged: through the stand-up)."""
    feed.setpoint()
    feed.deliver(feed.messages(0))
    node._on_arm(node.t.make("std_msgs/msg/Bool", data=True))
    loop = RealtimeLoop(rate_hz, node.runtime.config.loop)

    def warm(info: CycleInfo) -> bool:
        feed.deliver(feed.messages(info.index))
        node._before(info)
        node._sink(node.runtime.step(info.now_s, info.miss_streak))
        return node.runtime.state is not State.RUNNING or info.index < 200  # and warm the caches

    loop.run(warm, seconds=10.0, realtime=False)
    if node.runtime.state is not State.RUNNING:
        raise SystemExit(
            f"the runtime did not reach RUNNING: {node.runtime.state.value}, {node.arm_refusals}"
        )


def measure_stages(
    node: PolicyNode,
    feed: Feed,
    rate_hz: float,
    seconds: float,
    clock_ns: Callable[[], int] = time.perf_counter_ns,
    paced: bool = True,
) -> tuple[StageTimes, dict[str, int]]:
    """Phase 1: each cycle's stages, the messages delivered in the cycle's thread; paced at the
    rate, or back to back (as many cycles as the rate would run in `seconds`)."""
    rt = node.runtime
    stages = StageTimes(window=max(1, int(rate_hz * seconds) + 10), clock_ns=clock_ns)
    sources: dict[str, int] = {}
    rt.stage_times = stages

    def cycle(info: CycleInfo) -> None:
        messages = feed.messages(info.index)  # the sender's work: not timed
        stages.start()
        feed.deliver(messages)
        stages.lap("input_store")
        node._before(info)
        out = rt.step(info.now_s, info.miss_streak)
        node._sink(out)
        stages.lap("publish")
        if out.source == "policy":
            stages.commit()
        sources[out.source] = sources.get(out.source, 0) + 1

    try:
        if paced:
            RealtimeLoop(rate_hz, rt.config.loop).run(cycle, seconds=seconds)  # the node's real-time options
        else:
            for k in range(int(rate_hz * seconds)):
                t = time.monotonic_ns()
                cycle(CycleInfo(k, t, t, 0))
    finally:
        rt.stage_times = None
    return stages, sources


def measure_cpu(
    node: PolicyNode, feed: Feed, rate_hz: float, seconds: float, trigger: str
) -> tuple[LoopStatsSnapshot, float, dict[str, int]]:
    """Phase 2: the node's loop (sensor-triggered or timer) with a sender thread at the rate;
    returns the loop statistics, the node's CPU share (%) and the outputs by source."""
    node.use_loop(RealtimeLoop(rate_hz, node.runtime.config.loop, trigger=trigger))
    node._stop.clear()
    sender_cpu = [0.0]
    stop = threading.Event()
    before = dict(node.sources)

    def sender() -> None:
        period = 1.0 / rate_hz
        t_next, k = time.monotonic(), 0
        while not stop.is_set():
            c0 = time.thread_time()
            messages = feed.messages(k)
            sender_cpu[0] += time.thread_time() - c0
            feed.deliver(messages)  # the node's callbacks (and inline cycles): its own CPU time
            k += 1
            t_next += period
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    thread = threading.Thread(target=sender, name="sensor", daemon=True)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    thread.start()
    try:
        node.run(seconds=seconds)  # the node's own loop: its transport and diagnostics threads beside it
    finally:
        stop.set()
        thread.join(timeout=2.0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    share = 100.0 * max(cpu - sender_cpu[0], 0.0) / wall
    sources = {k: v - before.get(k, 0) for k, v in node.sources.items() if v - before.get(k, 0)}
    return node.loop.stats.snapshot(), share, sources


def run(
    rate_hz: float = 500.0,
    seconds: float = 10.0,
    policies: list[str] | None = None,
    json_path: str | None = None,
    config_path: str | None = None,
    sched_fifo: int | None = None,
    cpu: list[int] | None = None,
    lock_memory: bool = False,
    trigger: str = "sensor",
    transport_kind: str = "dds",
    compare_sleep: bool = False,
    stage_clock: str = "wall",
    paced: bool = True,
    observation: str = "node",
    cycle: str = "auto",
) -> dict[str, Any]:
    config_src = Path(config_path) if config_path else DEFAULT_CONFIG
    overrides: dict[str, Any] = {}
    if sched_fifo is not None:
        overrides["sched_fifo_priority"] = sched_fifo
    if cpu:
        overrides["cpu_affinity"] = tuple(cpu)
    if lock_memory:
        overrides["lock_memory"] = True
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = yaml.safe_load(config_src.read_text())
        for spec in config["inputs"].values():
            for key in ("max_age_s", "stamp_max_age_s"):
                if spec.get(key) is not None:
                    spec[key] = max(spec[key], STALENESS_S)
        # a busy machine may miss deadlines in a row: measured and reported, not failed safe on
        config.setdefault("safety", {})["max_deadline_miss_streak"] = 10**9
        config.setdefault("inference", {})["cycle"] = cycle
        relaxed = Path(tmp) / "runtime.yaml"
        relaxed.write_text(yaml.safe_dump(config))
        RuntimeConfig.from_yaml(relaxed)  # checked before any node starts
        transport, lease, note = _transport(transport_kind)
        try:
            for subject in _subjects(policies or ["hover", "walk"], Path(tmp)):
                results.append(
                    _measure(
                        subject,
                        transport,
                        relaxed,
                        overrides,
                        rate_hz,
                        seconds,
                        trigger,
                        compare_sleep,
                        stage_clock,
                        paced,
                        observation,
                    )
                )
        finally:
            transport.close()
            if lease is not None:
                lease.__exit__(None, None, None)
    first = results[0]
    result: dict[str, Any] = {
        "rate_hz": rate_hz,
        "seconds": seconds,
        "trigger": trigger,
        "paced": paced,
        "observation": observation,
        "cycle": cycle,
        "transport": note,
        "machine": machine_description(),
        # the first policy's figures at the top level, as before (the CPU-share phase's loop)
        **{k: first[k] for k in _TOP_LEVEL},
        "policies": results,
    }
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(result, indent=2))
        print(f"wrote {json_path}")
    return result


_TOP_LEVEL = (
    "policy",
    "jitter_us_p50",
    "jitter_us_p99",
    "jitter_us_max",
    "deadline_misses",
    "cycles",
    "cpu_percent",
    "compute_us_p50",
    "compute_us_p99",
    "compute_us_max",
    "max_miss_streak",
    "cycles_by_source",
)


def _transport(kind: str) -> tuple[Any, Any, str]:
    """(transport, domain lease or None, description)."""
    if kind == "none":
        return _NoNetwork(), None, "none (messages built, not written)"
    from deploy.transport.base import make_transport
    from deploy.transport.dds.loopback import use_loopback
    from tether.hil.domains import DomainLease

    lease = DomainLease()
    lease.__enter__()
    use_loopback()
    try:
        return (
            make_transport("dds", "policy_node", lease.domain_id),
            lease,
            f"dds (loopback, domain {lease.domain_id})",
        )
    except Exception:
        lease.__exit__(None, None, None)
        raise


def _measure(
    subject: Subject,
    transport: Any,
    config: Path,
    overrides: dict[str, Any],
    rate_hz: float,
    seconds: float,
    trigger: str,
    compare_sleep: bool,
    stage_clock: str = "wall",
    paced: bool = True,
    observation: str = "node",
) -> dict[str, Any]:
    node = _node(subject, transport, config, overrides)
    runner = node.runtime.runner
    if observation == "shared":  # the shared builder instead of the node's
        runner.builder = ObservationBuilder(runner.contract, 1)
    elif observation == "floats" and BatchOneObservation.supports(runner.contract):
        runner.builder = BatchOneObservation(runner.contract)
    feed = Feed(node, transport.make)
    _arm(node, feed, rate_hz)
    clock_ns = time.thread_time_ns if stage_clock == "cpu" else time.perf_counter_ns
    stages, stage_sources = measure_stages(node, feed, rate_hz, seconds, clock_ns, paced)
    stats, share, sources = measure_cpu(node, feed, rate_hz, seconds, trigger)
    per_stage = stages.percentiles_us()
    robot = node.contract.robot
    target = TARGETS_US.get(robot)
    out: dict[str, Any] = {
        "policy": subject.note,
        "robot": robot,
        "stages_us": per_stage,
        "stage_cycles": stages.cycles,
        "stage_clock": stage_clock,
        "paced": paced,
        "observation": type(node.runtime.runner.builder).__name__,
        "cycle_engine": node.runtime.cycle_engine,
        "in_node_us_p50": per_stage["total"]["p50_us"],
        "in_node_us_p99": per_stage["total"]["p99_us"],
        "target_in_node_us_p99": target,
        "trigger": stats.trigger,
        "sensor_cycles": stats.sensor_cycles,
        "watchdog_cycles": stats.watchdog_cycles,
        "jitter_us_p50": stats.jitter_us_p50,
        "jitter_us_p99": stats.jitter_us_p99,
        "jitter_us_max": stats.jitter_us_max,
        "deadline_misses": stats.deadline_misses,
        "max_miss_streak": stats.max_miss_streak,
        "cycles": stats.cycles,
        "cpu_percent": share,
        "loop_thread_wakes": node.loop.thread_wakes,
        "loop_wait": node.loop.wait_kind,
        "compute_us_p50": stats.compute_us_p50,
        "compute_us_p99": stats.compute_us_p99,
        "compute_us_max": stats.compute_us_max,
        "cycles_by_source": sources,
        "loop_options": dataclasses.asdict(node.runtime.config.loop),
    }
    if node.runtime.state is not State.RUNNING or set(stage_sources) != {"policy"}:
        log.warning("the runtime left RUNNING during the benchmark: %s, %s", stage_sources, sources)
    _print(subject, out, rate_hz, seconds)
    if compare_sleep and trigger == "timer":
        node.runtime.config = dataclasses.replace(
            node.runtime.config, loop=dataclasses.replace(node.runtime.config.loop, spin_margin_s=0.0)
        )
        base, base_share, _ = measure_cpu(node, feed, rate_hz, seconds, "timer")
        out["sleep_only"] = base.to_dict() | {"cpu_percent": base_share}
        print(
            f"  sleep-only baseline: jitter p50 {base.jitter_us_p50:.1f} µs, "
            f"p99 {base.jitter_us_p99:.1f} µs, "
            f"{base.deadline_misses} misses, CPU {base_share:.1f} %"
        )
    return out


def _print(subject: Subject, r: dict[str, Any], rate_hz: float, seconds: float) -> None:
    print(
        f"{subject.name}: {r['policy']} ({r['robot']}), {rate_hz:g} Hz for {seconds:g} s, "
        f"on {machine_description()}"
    )
    print(
        f"  in-node compute per sensor sample, by stage ({r['stage_cycles']} policy cycles, "
        f"{r['stage_clock']} clock, {'paced at the rate' if r['paced'] else 'back to back'}, "
        f"observation by {r['observation']}, cycle: {r['cycle_engine']}):"
    )
    for stage in (*STAGES, "total"):
        s = r["stages_us"][stage]
        if stage != "total" and s["p99_us"] == 0.0:
            continue  # a stage no cycle ran (the compiled cycle runs five in one call)
        print(f"    {stage:12s} p50 {s['p50_us']:8.1f} µs   p99 {s['p99_us']:8.1f} µs")
    if r["target_in_node_us_p99"] is not None:
        print(f"    (target p99 ≤ {r['target_in_node_us_p99']:g} µs on a quiet 2-core machine)")
    print(
        f"  the node's loop, {r['trigger']}-triggered"
        + (
            f" ({r['sensor_cycles']} on arrival, {r['watchdog_cycles']} by the watchdog)"
            if r["trigger"] == "sensor"
            else ""
        )
        + f": CPU {r['cpu_percent']:.1f} % of one core; jitter p50 {r['jitter_us_p50']:.1f} µs, "
        f"p99 {r['jitter_us_p99']:.1f} µs; {r['deadline_misses']} deadline misses of {r['cycles']} cycles"
        + (
            f"; the loop's own thread woke {r['loop_thread_wakes']} times (waits on {r['loop_wait']})"
            if r["trigger"] == "sensor"
            else ""
        )
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="tether bench loop", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rate-hz", type=float, default=500.0, help="loop and sensor rate (default: %(default)s)"
    )
    ap.add_argument(
        "--seconds", type=float, default=10.0, help="duration of each phase (default: %(default)s)"
    )
    ap.add_argument(
        "--policy", action="append",
        help="hover, walk or an ONNX file; repeatable (default: hover and walk; hover falls back to a "
        "random-weight MLP with the hover contract while none is shipped)",
    )  # fmt: skip
    ap.add_argument(
        "--trigger", choices=TRIGGERS, default="sensor", help="loop trigger (default: %(default)s)"
    )
    ap.add_argument(
        "--transport", choices=["dds", "none"], default="dds",
        help="dds: commands written to Cyclone DDS on loopback; none: built only (default: %(default)s)",
    )  # fmt: skip
    ap.add_argument(
        "--stage-clock", choices=["wall", "cpu"], default="wall",
        help="stages on the wall clock or on the thread's CPU clock (busy machine); default: %(default)s",
    )  # fmt: skip
    ap.add_argument(
        "--unpaced", action="store_true", help="phase 1 (stages): cycles back to back, not at the rate"
    )
    ap.add_argument(
        "--observation", choices=["node", "floats", "shared"], default="node",
        help="node: what the node runs (compiled C beside a compiled policy); floats: the batch-of-one "
        "float path in Python; shared: deploy.observations.ObservationBuilder (default: %(default)s)",
    )  # fmt: skip
    ap.add_argument(
        "--cycle", choices=["auto", "python"], default="auto",
        help="auto: the node's cycle (the nominal cycle compiled where the observation and policy are, "
        "deploy/runtime/compiled_cycle.py); python: always the Python cycle (default: %(default)s)",
    )  # fmt: skip
    ap.add_argument("--json", help="write the figures to this JSON file")
    ap.add_argument("--config", help="runtime YAML (default: deploy/runtime/runtime.yaml)")
    ap.add_argument("--sched-fifo", type=int, metavar="PRIO", help="request SCHED_FIFO at this priority")
    ap.add_argument("--cpu", type=int, action="append", help="pin the loop to this CPU (repeatable)")
    ap.add_argument("--lock-memory", action="store_true", help="mlockall before the loop")
    ap.add_argument(
        "--compare-sleep", action="store_true",
        help="with --trigger timer: also a sleep-only loop (no spin phase) as a same-run baseline",
    )  # fmt: skip
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    run(
        args.rate_hz, args.seconds, args.policy, args.json, args.config, args.sched_fifo, args.cpu,
        args.lock_memory, args.trigger, args.transport, args.compare_sleep, args.stage_clock,
        not args.unpaced, args.observation, args.cycle,
    )  # fmt: skip


if __name__ == "__main__":
    main()
