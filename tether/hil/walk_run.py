"""`tether hil --scenario quadruped-walk`: the legged bridge and the policy node as processes over DDS.

The quadrotor run's machinery (tether/hil/run.py: domain lease, node processes, recorder, fault
parsing, report layout) with the legged mission (tether/hil/walk.py):

1. start legged_sim_bridge_node and policy_node with launch/config/quadruped_sim.yaml plus overrides;
2. this process (the operator) publishes /cmd_vel (zero until the walk), arm / e-stop and the
   simulator's fault topic; waits until the policy node sees joint states, IMU and the command;
3. arms: the runtime's start-up stands the robot up; when the policy's first cycle is seen (state
   RUNNING) the walk begins: the episode's command schedule for `seconds`, faults at their walk
   times; then disarms (damping: the robot sits down) and stops both nodes;
4. scores start-up, walk, sit-down and each fault from the node reports; compares with `tether eval`.

`vehicle` picks the robot's interface: ros2_control (ROS topics as ros2_control's controllers take
them) or go2 (the Unitree Go2's low-level DDS protocol: deploy/go2/, the parameter file
launch/config/quadruped_go2_sim.yaml). On the Go2 the operator also sends CRC_PROBE_COUNT LowCmd_
with a corrupted CRC and stiff gains (kp CRC_PROBE_KP) while the robot is damped before arming:
the emulated robot must drop every one, and no kp of that value may ever reach its motors.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from deploy.nodes.params import load_node_params, merge, parse_override, resolve_path, with_defaults
from deploy.transport import convert
from deploy.transport.command_auth import CommandSigner, SignedPublisher
from deploy.transport.names import TOPICS
from tether.hil.domains import DomainLease
from tether.hil.faults import Fault
from tether.hil.processes import NodeFailedError, NodeProcesses
from tether.hil.run import (
    TRANSPORTS,
    HilError,
    _load,
    _sets,
    command_keys,
    cycle_engine,
    cycle_trigger_line,
)
from tether.hil.walk import WalkScenario, episode_commands
from tether.hil.walk_faults import DISRUPTIVE, bridge_overrides, outcome

#: quadruped-walk's vehicles: the parameter file each runs with (None: the scenario's own).
VEHICLES: dict[str, str | None] = {"ros2_control": None, "go2": "launch/config/quadruped_go2_sim.yaml"}
#: Roles not on the wire with the Go2 (its sensors and commands are rt/lowstate and rt/lowcmd).
GO2_UNUSED_ROLES = (
    "joint_states", "imu", "joint_position_commands", "joint_kp_commands", "joint_kd_commands",
)  # fmt: skip
CRC_PROBE_COUNT = 20
CRC_PROBE_KP = 80.0
RECORDED_ROLES = (
    "joint_states", "imu", "cmd_vel", "joint_position_commands", "joint_kp_commands", "joint_kd_commands",
    "arm", "estop", "state", "diagnostics", "clock", "ground_truth",
)  # fmt: skip


class WalkOperator:
    """This process on the DDS domain: /cmd_vel, arm / e-stop, sensor faults; what the nodes report."""

    def __init__(self, transport: Any, signer: CommandSigner | None = None) -> None:
        self.t = transport
        self._lock = threading.Lock()
        self.sim_time_s = 0.0
        self.clock_rx_mono_s: float | None = None
        self.state: str | None = None
        self.states: list[tuple[float, float, str]] = []  # (monotonic, sim time, state)
        self.policy_diag: dict[str, Any] | None = None
        t = TOPICS["cmd_vel"]
        self.pub_cmd = SignedPublisher(transport, t.name, t.type, t.qos, signer)
        self.pub_arm = SignedPublisher(transport, TOPICS["arm"].name, TOPICS["arm"].type, "default", signer)
        self.pub_estop = transport.publisher(TOPICS["estop"].name, TOPICS["estop"].type, "default")
        f = TOPICS["sim_fault"]
        self.pub_fault = transport.publisher(f.name, f.type, f.qos)
        transport.subscribe(TOPICS["clock"].name, TOPICS["clock"].type, "clock", self._on_clock)
        transport.subscribe(TOPICS["state"].name, TOPICS["state"].type, "state", self._on_state)
        transport.subscribe(TOPICS["diagnostics"].name, TOPICS["diagnostics"].type, "default", self._on_diag)

    def _on_clock(self, msg: Any) -> None:
        with self._lock:
            self.sim_time_s = convert.stamp_to_s(msg.clock)
            self.clock_rx_mono_s = time.monotonic()

    def _on_state(self, msg: Any) -> None:
        with self._lock:
            self.state = msg.data
            self.states.append((time.monotonic(), self.sim_time_s, msg.data))

    def _on_diag(self, msg: Any) -> None:
        for name, status in convert.diagnostics_to_dict(msg).items():
            if name.startswith("policy_node"):
                with self._lock:
                    self.policy_diag = status["values"]

    def command(self, cmd: np.ndarray) -> None:
        self.pub_cmd.publish(convert.twist_msg(self.t.make, float(cmd[0]), float(cmd[1]), float(cmd[2])))

    def arm(self, on: bool) -> None:
        self.pub_arm.publish(self.t.make("std_msgs/msg/Bool", data=on))

    def estop(self) -> None:
        self.pub_estop.publish(self.t.make("std_msgs/msg/Bool", data=True))

    def inject(self, kind: str) -> None:
        self.pub_fault.publish(self.t.make("std_msgs/msg/String", data=kind))


def run_walk(
    seconds: float = 20.0,
    domain_id: int | None = None,
    faults: list[str] | None = None,
    record: str | Path | None = None,
    policy: str | Path | None = None,
    seed: int | None = None,
    episode_index: int | None = None,
    work_dir: str | Path | None = None,
    compare_eval: bool | None = None,
    progress: bool = True,
    policy_transport: str = "dds",
    bridge_transport: str = "dds",
    scenario: WalkScenario | None = None,
    vehicle: str = "ros2_control",
) -> dict[str, Any]:
    """Run the quadruped HIL scenario; returns the report. Raises HilError on set-up failure."""
    sc = scenario or WalkScenario.load()
    if vehicle not in VEHICLES:
        raise ValueError(f"--vehicle {vehicle}: expected one of {sorted(VEHICLES)}")
    go2 = vehicle == "go2"
    if VEHICLES[vehicle] is not None:
        sc = dataclasses.replace(sc, params_file=resolve_path(str(VEHICLES[vehicle])))
    parsed = [Fault.parse(f) for f in (faults or [])]
    for role, kind in (("policy node", policy_transport), ("simulator bridge", bridge_transport)):
        if kind not in TRANSPORTS:
            raise ValueError(f"{role} transport '{kind}': expected one of {TRANSPORTS}")
    if not 0 < seconds <= sc.episode_length_s:
        raise ValueError(
            f"--seconds {seconds:g}: the walk is at most one episode of the task; expected "
            f"0 < seconds ≤ {sc.episode_length_s:g}"
        )
    for f in parsed:
        if f.at_s is not None and f.at_s >= seconds:
            raise ValueError(
                f"fault {f.label} starts after the walk ends ({seconds:g} s); pick an earlier time"
            )
    policy_over = [] if policy is None else [f"policy_file={Path(policy).resolve()}"]
    bridge_over = [] if seed is None else [f"seed={seed}"]
    if episode_index is not None:
        bridge_over.append(f"episode_index={episode_index}")
    for f in parsed:
        bridge_over += bridge_overrides(f)
    policy_params = load_node_params(sc.params_file, "policy_node")
    for o in policy_over:
        merge(policy_params, parse_override(o))
    policy_file = resolve_path(policy_params["policy_file"])
    if not policy_file.exists():
        raise FileNotFoundError(
            f"policy file {policy_file} not found; pass --policy FILE.onnx, or produce the shipped one with "
            "`tether train quadruped-walk` + `tether export`"
        )
    from deploy.nodes.legged_sim_bridge_node import DEFAULTS as BRIDGE_DEFAULTS
    from deploy.runtime.robot_profile import RobotProfile

    bridge_params = load_node_params(sc.params_file, sc.bridge_node)
    for o in bridge_over:
        merge(bridge_params, parse_override(o))
    bridge_params = with_defaults(BRIDGE_DEFAULTS, bridge_params, f"{sc.bridge_node} parameters")
    ep_seed, ep_index = int(bridge_params["seed"]), int(bridge_params["episode_index"])
    commands = episode_commands(ep_seed, ep_index)
    profile = RobotProfile.from_yaml(resolve_path(policy_params["robot_profile"]))

    from deploy.transport.dds.loopback import loopback_env, use_loopback

    use_loopback()
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tether-hil-walk-")
        work_dir = tmp.name
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    env = loopback_env()
    env["PYTHONUNBUFFERED"] = "1"
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    report: dict[str, Any] = {
        "scenario": sc.name,
        "robot_kind": "legged",
        "vehicle": vehicle,
        "seconds": seconds,
        "params_file": str(sc.params_file),
        "overrides": {"policy_node": policy_over, sc.bridge_node: bridge_over},
        "policy": str(policy_file),
        "faults": [f.label for f in parsed],
        "transports": {"policy_node": policy_transport, "sim_bridge_node": bridge_transport},
        "episode": {"seed": ep_seed, "index": ep_index, "commands": commands.tolist()},
    }
    events: dict[str, Any] = {}
    say = print if progress else (lambda *a, **k: None)
    from deploy.transport.dds.transport import DdsTransport

    keys = command_keys(work / "keys")  # the operator's /cmd_vel and arm are signed (README "Security")
    auth_policy = [f"command_auth.authorized_keys={keys['operators']}"]
    lease = DomainLease(domain_id)
    domain = report["domain_id"] = lease.acquire()
    try:
        transport = DdsTransport("tether_hil", domain)
    except BaseException:
        lease.release()
        raise
    recorder = None
    try:
        op = WalkOperator(transport, CommandSigner.from_file(keys["operator"]))
        probe_pub = _go2_probe_publisher(transport) if go2 else None
        if record is not None:
            from tether.hil.recorder import Recorder

            roles = [r for r in RECORDED_ROLES if not (go2 and r in GO2_UNUSED_ROLES)]
            recorder = Recorder(transport, [TOPICS[r] for r in roles] + (_go2_topics() if go2 else []))
        transport.start()
        common = ["--params", str(sc.params_file), "--domain-id", str(domain), "--loopback"]
        with NodeProcesses(work / "logs", env) as procs:
            procs.start(
                "sim_bridge_node", f"deploy.nodes.{sc.bridge_node}",
                [*common, "--report", str(work / "sim_bridge_node.json"), "--transport", bridge_transport,
                 *_sets(bridge_over)],
            )  # fmt: skip
            _wait_sim_time(op, procs, sc.zero_torque_s, sc.startup_timeout_s)  # motors off: it sits
            procs.start(
                "policy_node", "deploy.nodes.policy_node",
                [*common, "--report", str(work / "policy_node.json"), "--transport", policy_transport,
                 *_sets(auth_policy + policy_over)],
            )  # fmt: skip
            say(f"hil: started {sc.bridge_node} ({bridge_transport}) and policy_node ({policy_transport}) "
                f"on DDS domain {domain} (loopback)")  # fmt: skip
            _wait_ready(op, procs, sc)
            arm_at_sim_s = op.sim_time_s + sc.damping_before_arm_s
            if probe_pub is not None:  # while damped: corrupted-CRC commands must change nothing
                events["crc_probe_sent"] = _send_crc_probe(op, probe_pub, sc)
            _wait_sim_time(op, procs, arm_at_sim_s, sc.startup_timeout_s)
            say("hil: nodes ready; arming (start-up: stand up to the default pose)")
            _arm_and_stand(op, procs, sc, events)
            say(f"hil: policy running at {events['t0_sim_s']:.2f} s; walking {seconds:g} s of simulation time"
                + (f" with faults {report['faults']}" if parsed else ""))  # fmt: skip
            _walk(op, procs, sc, seconds, commands, parsed, events)
            op.command(np.zeros(3))
            op.arm(False)
            events["disarm_mono_s"] = time.monotonic()
            events["disarm_sim_s"] = op.sim_time_s
            _wait_sat(op, procs, sc, policy_alive="kill" not in {f.kind for f in parsed})
            report["final_state"] = op.state
            report["exit_codes"] = procs.stop_all()
            report["stuck_on_stop"] = procs.stuck_on_stop
            report["logs"] = str(work / "logs")
    except NodeFailedError as exc:
        raise HilError(str(exc)) from None
    finally:
        transport.close()
        lease.release()
    if recorder is not None and record is not None:
        report["record"] = {"path": str(record), "messages": recorder.write(record)}
    bridge = _load(work / "sim_bridge_node.json")
    policy_rep = _load(work / "policy_node.json")
    if bridge is None:
        raise HilError(f"the simulator bridge wrote no report; see its log in {work / 'logs'}")
    report["command_auth"] = {"policy_node": (policy_rep or {}).get("command_auth")}
    report.update(
        _metrics(
            sc, seconds, parsed, bridge, policy_rep, op, events, bridge_params, profile, commands, policy_file
        )
    )
    disrupted = any(f.kind in DISRUPTIVE for f in parsed)
    if compare_eval is None:
        compare_eval = not parsed
    if compare_eval:
        from tether.hil.walk import compare_with_eval

        report["eval_agreement"] = compare_with_eval(policy_file, report["walk"], sc, ep_seed, ep_index)
    if go2:
        report["go2"] = _go2_checks(bridge, policy_rep, events)
    faults_ok = all(o["met"] for o in report["fault_outcomes"])
    faults_ok = faults_ok and (not go2 or report["go2"]["crc_probe"]["met"])
    walk_ok = bool(report["walk"].get("success")) and bool(report["sit_down_after_disarm"].get("safe"))
    report["success"] = bool(faults_ok and report["startup"]["ok"] and (disrupted or walk_ok))
    if tmp is not None:
        tmp.cleanup()
        report.pop("logs", None)
    return report


def _go2_topics() -> list[Any]:
    from deploy.go2 import messages
    from deploy.transport.names import TopicSpec

    return [
        TopicSpec("/lowstate", messages.LOW_STATE, "sensor_data", "Go2 LowState_"),
        TopicSpec("/lowcmd", messages.LOW_CMD, "default", "Go2 LowCmd_"),
    ]


def _go2_probe_publisher(transport: Any) -> Any:
    from deploy.go2 import messages

    messages.register()
    return transport.publisher("/lowcmd", messages.LOW_CMD, "default")


def _send_crc_probe(op: WalkOperator, pub: Any, sc: WalkScenario) -> int:
    """CRC_PROBE_COUNT stiff LowCmd_ (kp CRC_PROBE_KP) whose CRC is off by one bit, at the command rate."""
    from deploy.go2 import crc, messages

    cmd = op.t.make(messages.LOW_CMD)
    cmd.head, cmd.level_flag = list(messages.HEAD), messages.LOW_LEVEL
    for m in cmd.motor_cmd[:12]:
        m.mode, m.q, m.kp, m.kd = messages.MOTOR_MODE_SERVO, 0.0, CRC_PROBE_KP, 3.0
    cmd.crc = crc.low_cmd_crc(cmd) ^ 0x1
    for _ in range(CRC_PROBE_COUNT):
        pub.publish(cmd)
        op.command(np.zeros(3))
        time.sleep(1.0 / sc.command_rate_hz)
    return CRC_PROBE_COUNT


def _go2_checks(
    bridge: dict[str, Any], policy: dict[str, Any] | None, events: dict[str, Any]
) -> dict[str, Any]:
    """The corrupted-CRC probe had no effect; the interface's and the emulated robot's counters."""
    emu = bridge.get("go2") or {}
    sent = int(events.get("crc_probe_sent", 0))
    probe_kp_seen = any(abs(m["kp_mean"] - CRC_PROBE_KP) < 1e-6 for m in bridge["modes"])
    probe = {
        "sent": sent,
        "dropped_by_robot": emu.get("crc_dropped"),
        "kp_of_probe_reached_motors": probe_kp_seen,
        "met": bool(sent > 0 and emu.get("crc_dropped") == sent and not probe_kp_seen),
    }
    return {
        "crc_probe": probe,
        "emulator": emu,
        "interface": None if policy is None else policy.get("hardware"),
    }


def _wait_sim_time(op: WalkOperator, procs: NodeProcesses, sim_s: float, timeout_s: float) -> None:
    """Until the bridge's /clock reaches `sim_s` (bounded by `timeout_s` of wall time); /cmd_vel
    stays at zero meanwhile."""
    deadline = time.monotonic() + timeout_s
    while op.sim_time_s < sim_s:
        if time.monotonic() > deadline:
            raise HilError(
                f"simulation time reached only {op.sim_time_s:.2f} s of {sim_s:.2f} s within "
                f"{timeout_s:g} s; "
                f"bridge log:\n{procs.log_tail('sim_bridge_node')}"
            )
        procs.check_alive()
        op.command(np.zeros(3))
        time.sleep(0.05)


def _wait_ready(op: WalkOperator, procs: NodeProcesses, sc: WalkScenario) -> None:
    """Until the policy node reports DISARMED with joint states, IMU and the command present (bounded)."""
    deadline = time.monotonic() + sc.startup_timeout_s
    period = 1.0 / sc.command_rate_hz
    while time.monotonic() < deadline:
        procs.check_alive()
        op.command(np.zeros(3))
        d = op.policy_diag
        if (
            d is not None
            and d.get("state") == "DISARMED"
            and all(
                d.get(f"input.{n}.present") == "True" and d.get(f"input.{n}.stale") == "False"
                for n in ("joint_states", "imu", "command")
            )
        ):
            return
        time.sleep(period)
    raise HilError(
        f"the nodes were not ready within {sc.startup_timeout_s:g} s (policy node diagnostics: "
        f"{op.policy_diag}); policy node log:\n{procs.log_tail('policy_node')}\n"
        f"bridge log:\n{procs.log_tail('sim_bridge_node')}"
    )


def _arm_and_stand(op: WalkOperator, procs: NodeProcesses, sc: WalkScenario, events: dict[str, Any]) -> None:
    """Arm, then wait for RUNNING: the start-up is over and the policy's first cycle ran."""
    deadline = time.monotonic() + sc.arm_timeout_s
    while op.state not in ("STARTING", "RUNNING"):
        if time.monotonic() > deadline:
            refusal = (op.policy_diag or {}).get("last_arm_refusal")
            raise HilError(
                f"the policy node did not arm within {sc.arm_timeout_s:g} s: {refusal or op.state}"
            )
        procs.check_alive()
        op.command(np.zeros(3))
        op.arm(True)
        time.sleep(0.1)
    events["arm_sim_s"] = op.sim_time_s
    deadline = time.monotonic() + sc.running_timeout_s
    while op.state != "RUNNING":
        if time.monotonic() > deadline or op.state in ("DISARMED", "FAILSAFE", "ESTOP"):
            raise HilError(
                f"the start-up did not hand over to the policy (state {op.state}); transitions in the policy "
                f"node's log:\n{procs.log_tail('policy_node')}"
            )
        procs.check_alive()
        op.command(np.zeros(3))
        time.sleep(0.02)
    running = [s for s in op.states if s[2] == "RUNNING"]
    events["t0_sim_s"] = running[0][1] if running else op.sim_time_s


def _walk(
    op: WalkOperator,
    procs: NodeProcesses,
    sc: WalkScenario,
    seconds: float,
    commands: np.ndarray,
    faults: list[Fault],
    events: dict[str, Any],
) -> None:
    period = 1.0 / sc.command_rate_hz
    t0 = events["t0_sim_s"]
    pending = sorted((f for f in faults if f.at_s is not None), key=lambda f: f.at_s or 0.0)
    wall_deadline = time.monotonic() + 3.0 * seconds + 30.0
    while op.sim_time_s < t0 + seconds:
        now = time.monotonic()
        if now > wall_deadline:
            raise HilError(f"simulation time reached only {op.sim_time_s:.2f} s; is the bridge stalled?")
        if op.clock_rx_mono_s is not None and now - op.clock_rx_mono_s > 5.0:
            procs.check_alive()
            raise HilError("no /clock from the simulator bridge for 5 s")
        procs.check_alive()
        walk_s = op.sim_time_s - t0
        op.command(sc.command_at(commands, walk_s))
        while pending and walk_s >= (pending[0].at_s or 0.0):
            f = pending.pop(0)
            events[f"{f.kind}_mono_s"] = time.monotonic()
            events[f"{f.kind}_sim_s"] = op.sim_time_s
            if f.kind == "kill":
                procs.kill("policy_node")
            elif f.kind == "estop":
                op.estop()
            else:
                op.inject(f.kind)
        time.sleep(period)
    events["walk_end_sim_s"] = op.sim_time_s


def _wait_sat(op: WalkOperator, procs: NodeProcesses, sc: WalkScenario, policy_alive: bool) -> None:
    """Until the policy node is DISARMED / ESTOP after its damping, or (no policy node) the sit-down
    window has passed in simulation time; bounded by stop_timeout_s."""
    deadline = time.monotonic() + sc.stop_timeout_s
    end_sim = op.sim_time_s + sc.sit_down_s
    while time.monotonic() < deadline:
        procs.check_alive()
        if policy_alive and op.state in ("DISARMED", "ESTOP") and op.sim_time_s >= end_sim:
            return
        if not policy_alive and op.sim_time_s >= end_sim:
            return
        time.sleep(0.05)


def _metrics(
    sc: WalkScenario,
    seconds: float,
    faults: list[Fault],
    bridge: dict[str, Any],
    policy: dict[str, Any] | None,
    op: WalkOperator,
    events: dict[str, Any],
    bridge_params: dict[str, Any],
    profile: Any,
    commands: np.ndarray,
    policy_file: Path,
) -> dict[str, Any]:
    cols = len(bridge["trajectory_columns"])
    traj = np.asarray(bridge["trajectory"], dtype=float).reshape(-1, cols)
    t0 = events["t0_sim_s"]
    # a disruptive fault ends the walk: the robot is meant to sit down from then on
    ends = [t0 + seconds] + [
        events[f"{f.kind}_sim_s"] for f in faults if f.kind in DISRUPTIVE and f"{f.kind}_sim_s" in events
    ]
    walk = sc.score_walk(traj, t0, min(ends), commands)
    g = profile.legged
    from deploy.policy_file import PolicyFile

    policy_kp = float(np.mean([j.kp_nm_per_rad for j in PolicyFile(policy_file).contract.joints]))
    startup = sc.startup(traj, bridge["modes"], t0, bridge["standing_height_m"], g.stand_kp, policy_kp)
    sit = sc.sit_down(traj, events["disarm_sim_s"])
    loop = policy["loop"] if policy is not None else None
    diag = op.policy_diag or {}

    def loop_value(key: str) -> Any:
        if loop is not None:
            return loop[key]
        v = diag.get(f"loop.{key}")
        return None if v is None else int(float(v)) if key == "deadline_misses" else float(v)

    injected = int(sum(bridge["dropped"].values()))
    outcomes = [outcome(f, sc, walk, traj, bridge, policy, events, bridge_params) for f in faults]
    return {
        "walk": walk,
        "startup": startup,
        "sit_down_after_disarm": sit,
        "jitter_us_p99": loop_value("jitter_us_p99"),
        "deadline_misses": loop_value("deadline_misses"),
        "messages_dropped": injected,
        "fault_outcomes": outcomes,
        "policy_sources": None if policy is None else policy["sources"],
        # which way the policy node's cycles started (sensor: on the IMU's arrival; timer)
        "cycle_trigger": None if policy is None else policy.get("cycle_trigger"),
        "cycles_by_trigger": (
            None if loop is None else {k: loop.get(k) for k in ("sensor_cycles", "watchdog_cycles")}
        ),
        "cycle_engine": cycle_engine(policy),
        "bridge": {
            "loop": bridge["loop"],
            "watchdog": bridge.get("watchdog"),
            "commands_rx": bridge["commands_rx"],
            "commands_rejected": bridge["commands_rejected"],
            "nonfinite_commands": bridge["nonfinite_commands"],
            "sim_time_s": bridge["sim_time_s"],
            "modes": bridge["modes"],
        },
        "transitions": None if policy is None else policy["transitions_all"],
        "events": events,
        "latency_us_p50": None,  # Float64MultiArray carries no stamp: not measured end to end
    }


def summary(report: dict[str, Any]) -> str:
    def f(x: Any, fmt: str = ".3f") -> str:
        return "n/a" if x is None else format(x, fmt)

    w, st, sit = report["walk"], report["startup"], report["sit_down_after_disarm"]
    verdict = "SUCCESS" if report["success"] else "FAILURE"
    ep = report["episode"]
    lines = [
        f"hil {report['scenario']}: {verdict} · {report['seconds']:g} s walk · "
        f"domain {report['domain_id']} · faults {report['faults'] or 'none'} · "
        f"episode {ep['seed']}/{ep['index']}",
        f"  start-up: {' → '.join(st['hardware_modes'])} ({'ok' if st['ok'] else 'NOT OK'}), trunk at "
        f"{f(st['height_at_policy_m'])} m when the policy took over "
        f"(standing {st['standing_height_m']:.3f} m)",
        f"  walk: {'fell' if w.get('fell') else 'no fall'}, lin vel err {f(w.get('lin_vel_err_m_s'))} m/s, "
        f"yaw rate err {f(w.get('yaw_rate_err_rad_s'))} rad/s (gate {sc_gate(w)}), "
        f"{f(w.get('distance_m'), '.2f')} m walked",
        f"  after disarm: {'safe sit-down' if sit.get('safe') else 'NOT a safe sit-down'} "
        f"(max tilt {f(sit.get('max_tilt_deg'), '.1f')}°, "
        f"peak descent {f(sit.get('peak_descent_m_s'), '.2f')} m/s); "
        f"policy loop jitter p99 {f(report['jitter_us_p99'], '.0f')} µs, "
        f"{report['deadline_misses']} deadline misses; {report['messages_dropped']} messages dropped",
    ]
    trigger = cycle_trigger_line(report)
    if trigger:
        lines.append(trigger)
    if "go2" in report:
        g = report["go2"]
        p, emu, itf = g["crc_probe"], g["emulator"], g["interface"] or {}
        lines.append(
            f"  go2: {p['sent']} corrupted-CRC LowCmd_ sent, {p['dropped_by_robot']} dropped by the robot, "
            f"probe gains reached the motors: {p['kp_of_probe_reached_motors']} "
            f"({'met' if p['met'] else 'NOT MET'}); LowCmd_ sent {itf.get('lowcmd_sent')}, applied "
            f"{emu.get('applied')}; LowState_ sent {emu.get('lowstate_sent')}, "
            f"received {itf.get('lowstate_rx')}"
        )
    for o in report["fault_outcomes"]:
        lines.append(f"  fault {o['fault']}: {'met' if o['met'] else 'NOT MET'} ({o['expected']})")
    if "eval_agreement" in report:
        a = report["eval_agreement"]
        lines.append(
            f"  vs tether eval ({a['seconds']:g} s): fell {a['eval_fell']} / {a['hil_fell']}, lin vel err "
            f"{f(a['eval_lin_vel_err_m_s'])} / {f(a['hil_lin_vel_err_m_s'])} m/s, yaw rate err "
            f"{f(a['eval_yaw_rate_err_rad_s'])} / {f(a['hil_yaw_rate_err_rad_s'])} rad/s → "
            f"{'agree' if a['agree'] else 'DISAGREE'}"
        )
    return "\n".join(lines)


def sc_gate(walk: dict[str, Any]) -> str:
    g = walk.get("gate") or {}
    return f"≤ {g.get('max_lin_vel_err_m_s')} m/s, ≤ {g.get('max_yaw_rate_err_rad_s')} rad/s"
