"""`tether hil`: the simulator bridge and the policy node as real processes over DDS, flown and measured.

1. start sim_bridge_node and policy_node (python -m deploy.nodes.…) with the scenario's
   parameter file (launch/config/quadrotor_sim.yaml, the file `ros2 launch` uses) plus the
   listed overrides, on a private DDS domain, loopback only;
2. this process joins the domain as the operator: it publishes the reference (the scenario's
   target on simulation time from /clock), arm/disarm and e-stop, and records topics; the command
   plane is signed as on a robot: keys made for the run (command_keys) let only this operator arm
   the policy node and send the reference, and only the policy node command the bridge's motors;
3. waits until the policy node sees its inputs, arms, flies `seconds` of simulation time while
   injecting faults, disarms (the runtime lands the vehicle), stops both nodes (SIGINT: each
   writes its report), and SIGKILLs anything left, also when anything above fails;
4. computes the metrics from the node reports: success, pos_rmse_m, sensor-to-command latency
   (odometry sample → actuator command received by the bridge, through DDS both ways), loop
   jitter and deadline misses, messages dropped, and each fault's outcome.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from deploy.nodes.params import load_node_params, merge, parse_override, resolve_path
from deploy.transport import convert
from deploy.transport.command_auth import CommandSigner, SignedPublisher
from deploy.transport.names import TOPICS
from tether.hil.domains import DomainLease
from tether.hil.faults import DISRUPTIVE, Fault, outcome, percentile_us
from tether.hil.processes import NodeFailedError, NodeProcesses
from tether.hil.scenario import LEGGED_SCENARIOS, Scenario

log = logging.getLogger("tether.hil")

#: Node transports: Cyclone DDS in the ROS 2 wire format, or ROS 2's rclpy (on Fast DDS).
TRANSPORTS = ("dds", "rclpy")

RECORDED_ROLES = (
    "odometry",
    "imu",
    "reference",
    "actuator_command",
    "arm",
    "estop",
    "state",
    "diagnostics",
    "clock",
    "ground_truth",
)


class HilError(RuntimeError):
    """The HIL run could not be carried out (a node failed to start, never got ready, ...)."""


class Operator:
    """This process on the DDS domain: reference, arm/e-stop, and what the nodes report live."""

    def __init__(self, transport: Any, signer: CommandSigner | None = None) -> None:
        self.t = transport
        self._lock = threading.Lock()
        self.sim_time_s = 0.0
        self.clock_rx_mono_s: float | None = None
        self.state: str | None = None
        self.states: list[tuple[float, str]] = []
        self.policy_diag: dict[str, Any] | None = None
        self.pub_reference = SignedPublisher(
            transport, TOPICS["reference"].name, TOPICS["reference"].type, "default", signer
        )
        self.pub_arm = SignedPublisher(transport, TOPICS["arm"].name, TOPICS["arm"].type, "default", signer)
        self.pub_estop = transport.publisher(TOPICS["estop"].name, TOPICS["estop"].type, "default")
        transport.subscribe(TOPICS["clock"].name, TOPICS["clock"].type, "clock", self._on_clock)
        transport.subscribe(TOPICS["state"].name, TOPICS["state"].type, "state", self._on_state)
        transport.subscribe(TOPICS["diagnostics"].name, TOPICS["diagnostics"].type, "default", self._on_diag)
        t = TOPICS["ground_truth"]
        transport.subscribe(t.name, t.type, t.qos, self._on_truth)
        self.truth_z_m: float | None = None
        self.truth_speed_m_s: float | None = None

    def _on_truth(self, msg: Any) -> None:
        o = convert.odometry_from_msg(msg)
        with self._lock:
            self.truth_z_m = float(o.pos_m[2])
            self.truth_speed_m_s = float(np.linalg.norm(o.lin_vel_m_s))

    def vehicle_at_rest_on_ground(self) -> bool:
        z, v = self.truth_z_m, self.truth_speed_m_s
        return z is not None and v is not None and z < 0.1 and v < 0.05

    def _on_clock(self, msg: Any) -> None:
        with self._lock:
            self.sim_time_s = convert.stamp_to_s(msg.clock)
            self.clock_rx_mono_s = time.monotonic()

    def _on_state(self, msg: Any) -> None:
        with self._lock:
            self.state = msg.data
            self.states.append((time.monotonic(), msg.data))

    def _on_diag(self, msg: Any) -> None:
        d = convert.diagnostics_to_dict(msg)
        for name, status in d.items():
            if name.startswith("policy_node"):
                with self._lock:
                    self.policy_diag = status["values"]
                    self.state = status["values"].get("state", self.state)

    def publish_reference(self, scenario: Scenario) -> None:
        pos, vel = scenario.reference(self.sim_time_s)
        self.pub_reference.publish(convert.reference_msg(self.t.make, self.sim_time_s, pos, vel))

    def arm(self, on: bool) -> None:
        self.pub_arm.publish(self.t.make("std_msgs/msg/Bool", data=on))

    def estop(self) -> None:
        self.pub_estop.publish(self.t.make("std_msgs/msg/Bool", data=True))


def run_hil(
    scenario_name: str = "quadrotor-hover",
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
    vehicle: str | None = None,
) -> dict[str, Any]:
    """Run one HIL scenario; returns the report (see module docstring). Raises HilError on set-up failure.
    `vehicle`: quadruped-walk's hardware interface (tether/hil/walk_run.py VEHICLES); quadrotor-hover:
    None (Tether's ROS topics) or px4 (PX4's uXRCE-DDS protocol, tether/hil/px4.py)."""
    if scenario_name in LEGGED_SCENARIOS:
        from tether.hil.walk_run import run_walk

        return run_walk(
            seconds=seconds, domain_id=domain_id, faults=faults, record=record, policy=policy, seed=seed,
            episode_index=episode_index, work_dir=work_dir, compare_eval=compare_eval, progress=progress,
            policy_transport=policy_transport, bridge_transport=bridge_transport,
            vehicle=vehicle or "ros2_control",
        )  # fmt: skip
    if vehicle not in (None, "px4"):
        raise ValueError(f"--vehicle {vehicle}: quadrotor-hover takes px4, or no --vehicle (Tether's topics)")
    scenario = Scenario.load(scenario_name)
    if vehicle == "px4":
        from tether.hil import px4 as px4_hil

        scenario = dataclasses.replace(scenario, params_file=resolve_path(px4_hil.PARAMS_FILE))
    parsed = [Fault.parse(f) for f in (faults or [])]
    for role, kind in (("policy node", policy_transport), ("simulator bridge", bridge_transport)):
        if kind not in TRANSPORTS:
            raise ValueError(f"{role} transport '{kind}': expected one of {TRANSPORTS}")
    if seconds < scenario.hover_s:
        raise ValueError(
            f"--seconds {seconds:g} is shorter than the scenario's hover phase ({scenario.hover_s:g} s); "
            "give at least that"
        )
    for f in parsed:
        if f.at_s is not None and f.at_s >= seconds:
            raise ValueError(
                f"fault {f.label} starts after the flight ends ({seconds:g} s); pick an earlier time"
            )
    policy_over: list[str] = []
    if policy is not None:
        policy_over.append(f"policy_file={Path(policy).resolve()}")
    bridge_over: list[str] = []
    if seed is not None:
        bridge_over.append(f"seed={seed}")
    if episode_index is not None:
        bridge_over.append(f"episode_index={episode_index}")
    for f in parsed:
        bridge_over += f.bridge_overrides()
        if vehicle == "px4":
            bridge_over += px4_hil.fault_overrides(f)
    params_file = scenario.params_file
    policy_params = load_node_params(params_file, "policy_node")
    for o in policy_over:
        merge(policy_params, parse_override(o))
    policy_file = resolve_path(policy_params["policy_file"])
    if not policy_file.exists():
        raise FileNotFoundError(
            f"policy file {policy_file} not found; pass --policy FILE.onnx, or produce the shipped one with "
            "`tether train` + `tether export`"
        )
    if vehicle == "px4":
        from deploy.policy_file import PolicyFile

        if PolicyFile(policy_file).contract.action_mode == "ctbr":  # VehicleRatesSetpoint, not motors
            policy_over.append(f"robot_profile={resolve_path(px4_hil.CTBR_PROFILE)}")
            merge(policy_params, parse_override(policy_over[-1]))
    from deploy.nodes.params import with_defaults
    from deploy.nodes.sim_bridge_node import DEFAULTS as BRIDGE_DEFAULTS

    bridge_params = load_node_params(params_file, "sim_bridge_node")
    for o in bridge_over:
        merge(bridge_params, parse_override(o))
    bridge_params = with_defaults(BRIDGE_DEFAULTS, bridge_params, "sim_bridge_node parameters")

    from deploy.transport.dds.loopback import loopback_env, use_loopback

    use_loopback()
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tether-hil-")
        work_dir = tmp.name
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    env = loopback_env()
    env["PYTHONUNBUFFERED"] = "1"
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # rclpy nodes stay on loopback too
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "seconds": seconds,
        "params_file": str(params_file),
        "overrides": {"policy_node": policy_over, "sim_bridge_node": bridge_over},
        "policy": str(policy_file),
        "faults": [f.label for f in parsed],
        "transports": {"policy_node": policy_transport, "sim_bridge_node": bridge_transport},
        "episode": {"seed": int(bridge_params["seed"]), "index": int(bridge_params["episode_index"])},
        "vehicle": vehicle,
    }
    events: dict[str, Any] = {}
    say = print if progress else (lambda *a, **k: None)
    from deploy.transport.dds.transport import DdsTransport

    keys = command_keys(work / "keys")  # the run's signed command plane (README "Security")
    auth_policy = [
        f"command_auth.authorized_keys={keys['operators']}",
        f"command_auth.signing_key={keys['policy_node']}",
    ]
    auth_bridge = [f"command_auth.authorized_keys={keys['drivers']}"]
    # The domain is leased for the whole run: a concurrent run on this machine gets another one.
    lease = DomainLease(domain_id)
    domain = report["domain_id"] = lease.acquire()
    try:
        transport = DdsTransport("tether_hil", domain)
    except BaseException:
        lease.release()
        raise
    recorder = None
    try:
        op = Operator(transport, CommandSigner.from_file(keys["operator"]))
        if record is not None:
            from tether.hil.recorder import Recorder

            recorder = Recorder(transport, [TOPICS[r] for r in RECORDED_ROLES])
        transport.start()
        common = ["--params", str(params_file), "--domain-id", str(domain), "--loopback"]
        with NodeProcesses(work / "logs", env) as procs:
            procs.start(
                "sim_bridge_node",
                "deploy.nodes.sim_bridge_node",
                [*common, "--report", str(work / "sim_bridge_node.json"), "--transport", bridge_transport,
                 *_sets(auth_bridge + bridge_over)],
            )
            procs.start(
                "policy_node",
                "deploy.nodes.policy_node",
                [*common, "--report", str(work / "policy_node.json"), "--transport", policy_transport,
                 *_sets(auth_policy + policy_over)],
            )
            say(
                f"hil: started sim_bridge_node ({bridge_transport}) and policy_node ({policy_transport}) "
                f"on DDS domain {domain} (loopback)"
            )
            _wait_ready(op, procs, scenario)
            say("hil: nodes ready; arming")
            _arm(op, procs, scenario)
            say(
                f"hil: flying {seconds:g} s of simulation time"
                + (f" with faults {report['faults']}" if parsed else "")
            )
            _fly(op, procs, scenario, seconds, parsed, events)
            op.arm(False)
            events["disarm_mono_s"] = time.monotonic()
            _wait_landed(op, procs, scenario, policy_alive="kill" not in {f.kind for f in parsed})
            report["final_state"] = op.state
            report["exit_codes"] = procs.stop_all()
            report["stuck_on_stop"] = procs.stuck_on_stop  # stacks in their logs
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
    report.update(_metrics(scenario, seconds, parsed, bridge, policy_rep, op, events, bridge_params))
    report["command_auth"] = {  # what each node's guard accepted and dropped, by reason
        "policy_node": (policy_rep or {}).get("command_auth"),
        "sim_bridge_node": bridge.get("command_auth"),
    }
    if vehicle == "px4":
        report["px4"] = px4_hil.checks(bridge, policy_rep)
    disrupted = any(f.kind in DISRUPTIVE for f in parsed)
    if compare_eval is None:
        compare_eval = not parsed
    if compare_eval:
        report["eval_agreement"] = _compare_with_eval(policy_file, report, scenario, bridge_params)
    flight_ok = report["flight"].get("success", False)
    faults_ok = all(o["met"] for o in report["fault_outcomes"])
    faults_ok = faults_ok and (vehicle != "px4" or report["px4"]["met"])
    report["success"] = bool(faults_ok and (disrupted or flight_ok))
    if tmp is not None:
        tmp.cleanup()
        report.pop("logs", None)
    return report


def command_keys(folder: Path) -> dict[str, Path]:
    """Key pairs for one run (operator, policy_node) and the authorized-keys files the nodes read:
    `operators` (the policy node's: who may arm and send the reference) and `drivers` (the bridge's:
    whose actuator commands fly the vehicle). Returns the private keys and both files by name."""
    from deploy.provenance import generate_keypair, load_public_key
    from deploy.transport.command_auth import authorized_line

    out: dict[str, Path] = {}
    for name in ("operator", "policy_node"):
        out[name], public = generate_keypair(folder, name, force=True)
        out["operators" if name == "operator" else "drivers"] = authorized = folder / f"{name}.authorized"
        authorized.write_text(authorized_line(name, load_public_key(public)) + "\n")
    return out


def _sets(overrides: list[str]) -> list[str]:
    out = []
    for o in overrides:
        out += ["--set", o]
    return out


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _wait_ready(op: Operator, procs: NodeProcesses, scenario: Scenario) -> None:
    """Until the policy node reports DISARMED with odometry and the reference present (bounded)."""
    deadline = time.monotonic() + scenario.startup_timeout_s
    period = 1.0 / scenario.reference_rate_hz
    while time.monotonic() < deadline:
        procs.check_alive()
        op.publish_reference(scenario)
        d = op.policy_diag
        if (
            d is not None
            and d.get("state") == "DISARMED"
            and d.get("input.odometry.present") == "True"
            and d.get("input.command.present") == "True"
            and d.get("input.odometry.stale") == "False"
        ):
            return
        time.sleep(period)
    raise HilError(
        f"the nodes were not ready within {scenario.startup_timeout_s:g} s (policy node diagnostics: "
        f"{op.policy_diag}); policy node log:\n{procs.log_tail('policy_node')}\n"
        f"bridge log:\n{procs.log_tail('sim_bridge_node')}"
    )


def _arm(op: Operator, procs: NodeProcesses, scenario: Scenario) -> None:
    deadline = time.monotonic() + scenario.arm_timeout_s
    while time.monotonic() < deadline:
        procs.check_alive()
        op.publish_reference(scenario)
        op.arm(True)
        for _ in range(10):
            time.sleep(0.05)
            if op.state in ("STARTING", "RUNNING"):
                return
    refusal = (op.policy_diag or {}).get("last_arm_refusal")
    raise HilError(f"the policy node did not arm within {scenario.arm_timeout_s:g} s: {refusal or op.state}")


def _fly(
    op: Operator,
    procs: NodeProcesses,
    scenario: Scenario,
    seconds: float,
    faults: list[Fault],
    events: dict[str, Any],
) -> None:
    period = 1.0 / scenario.reference_rate_hz
    pending = sorted((f for f in faults if f.kind in ("kill", "estop")), key=lambda f: f.at_s or 0.0)
    wall_deadline = time.monotonic() + 3.0 * seconds + 30.0
    while op.sim_time_s < seconds:
        now = time.monotonic()
        if now > wall_deadline:
            raise HilError(
                f"simulation time reached only {op.sim_time_s:.2f} s of {seconds:g} s; is the bridge stalled?"
            )
        if op.clock_rx_mono_s is not None and now - op.clock_rx_mono_s > 5.0:
            procs.check_alive()
            raise HilError("no /clock from the simulator bridge for 5 s")
        procs.check_alive()
        op.publish_reference(scenario)
        while pending and op.sim_time_s >= (pending[0].at_s or 0.0):
            f = pending.pop(0)
            if f.kind == "kill":
                events["kill_mono_s"] = time.monotonic()
                events["kill_sim_s"] = op.sim_time_s
                procs.kill("policy_node")
            else:
                events["estop_mono_s"] = time.monotonic()
                events["estop_sim_s"] = op.sim_time_s
                op.estop()
        time.sleep(period)


def _wait_landed(op: Operator, procs: NodeProcesses, scenario: Scenario, policy_alive: bool) -> None:
    """Until the policy node is DISARMED/ESTOP (it landed) or, without a policy node, the vehicle
    rests on the ground (the bridge's own failsafe landed it); bounded by land_timeout_s."""
    deadline = time.monotonic() + scenario.land_timeout_s
    while time.monotonic() < deadline:
        procs.check_alive()
        op.publish_reference(scenario)
        if policy_alive and op.state in ("DISARMED", "ESTOP"):
            return
        if not policy_alive and op.vehicle_at_rest_on_ground():
            time.sleep(0.3)  # the bridge's landed detection needs 0.2 s at rest
            return
        time.sleep(0.05)
    log.warning("not DISARMED %.0f s after disarming (state %s)", scenario.land_timeout_s, op.state)


def _metrics(
    scenario: Scenario,
    seconds: float,
    faults: list[Fault],
    bridge: dict[str, Any],
    policy: dict[str, Any] | None,
    op: Operator,
    events: dict[str, Any],
    bridge_params: dict[str, Any],
) -> dict[str, Any]:
    traj = np.asarray(bridge["trajectory"], dtype=float).reshape(-1, 5)
    crash = bridge.get("crash")
    crash_t = None if crash is None else crash["sim_time_s"]
    flight = scenario.score(traj, seconds, crash_t)
    landed = bool(traj.size and traj[-1, 3] < 0.15 and bridge.get("final_speed_m_s", 1.0) < 0.3)
    flight["crash"] = crash
    flight["landed"] = landed
    flight["success"] = bool(
        flight.get("hover_success") and flight.get("waypoints_reached") and crash is None and landed
    )
    # Sensor-to-command latency: odometry sample (bridge) → command computed from it received (bridge).
    e2e = [rx - sample for _, sample, rx in bridge["latency"]]
    breakdown: dict[str, Any] = {}
    if policy is not None and policy["latency"]:
        # in_node = waiting for the cycle to start (a timer tick, or the wake-up on arrival) + the cycle
        pol = {tuple(r[0]): (r[1], r[-2], r[-1]) for r in policy["latency"]}
        hop1, wait, to_start, cycle, hop2 = [], [], [], [], []
        for k, sample, rx_bridge in bridge["latency"]:
            if tuple(k) in pol:
                rx, start, tx = pol[tuple(k)]
                hop1.append(rx - sample)
                wait.append(tx - rx)
                to_start.append(start - rx)
                cycle.append(tx - start)
                hop2.append(rx_bridge - tx)
        parts = (
            ("sensor_to_node", hop1),
            ("in_node", wait),
            ("in_node_wait_for_cycle", to_start),
            ("in_node_cycle", cycle),
            ("node_to_actuator", hop2),
        )
        for name, v in parts:
            breakdown[name] = {"p50_us": percentile_us(v, 50), "p99_us": percentile_us(v, 99), "n": len(v)}
    # Messages dropped: withheld by injection + odometry published but never received by the node.
    injected = int(sum(bridge["dropped"].values()))
    lost = None
    if policy is not None and policy.get("odometry_first") and policy.get("odometry_last"):
        a = policy["odometry_first"][0] + policy["odometry_first"][1] * 1e-9
        b = policy["odometry_last"][0] + policy["odometry_last"][1] * 1e-9
        stamps = np.asarray(bridge["odom_stamps"])
        published = int(np.sum((stamps >= a - 1e-9) & (stamps <= b + 1e-9)))
        lost = max(0, published - int(policy["odometry_rx"]))
    loop = policy["loop"] if policy is not None else None
    diag = op.policy_diag or {}

    def loop_value(key: str) -> Any:
        if loop is not None:
            return loop[key]
        v = diag.get(f"loop.{key}")  # the killed node's last diagnostics
        return None if v is None else int(float(v)) if key == "deadline_misses" else float(v)

    outcomes = [outcome(f, flight, bridge, policy, events, bridge_params) for f in faults]
    return {
        "pos_rmse_m": flight.get("hover_rmse_m"),
        "latency_us_p50": percentile_us(e2e, 50),
        "latency_us_p99": percentile_us(e2e, 99),
        "latency_samples": len(e2e),
        "latency_breakdown": breakdown,
        # which way the policy node's cycles started (sensor: on the odometry's arrival; timer)
        "cycle_trigger": None if policy is None else policy.get("cycle_trigger"),
        "cycles_by_trigger": (
            None if loop is None else {k: loop.get(k) for k in ("sensor_cycles", "watchdog_cycles")}
        ),
        "cycle_engine": cycle_engine(policy),
        # which real-time options (SCHED_FIFO, mlockall, GC) took effect in each node
        "realtime": {
            "policy_node": None if policy is None else policy.get("realtime"),
            "sim_bridge_node": bridge.get("realtime"),
        },
        "jitter_us_p99": loop_value("jitter_us_p99"),
        "deadline_misses": loop_value("deadline_misses"),
        "messages_dropped": injected + (lost or 0),
        "messages_dropped_detail": {"injected": injected, "lost_in_transport_odometry": lost},
        "flight": flight,
        "fault_outcomes": outcomes,
        "policy_sources": None if policy is None else policy["sources"],
        "bridge": {
            "loop": bridge["loop"],
            "watchdog": bridge.get("watchdog"),
            "commands_rx": bridge["commands_rx"],
            "nonfinite_commands": bridge["nonfinite_commands"],
            "sim_time_s": bridge["sim_time_s"],
        },
        "transitions": None if policy is None else policy["transitions_all"],
        "events": events,
    }


def _compare_with_eval(
    policy_file: Path, report: dict[str, Any], scenario: Scenario, bridge_params: dict[str, Any]
) -> dict[str, Any]:
    """The same episode through `tether eval` in process: same success, RMSE within the tolerance."""
    from training.evaluation import config_for_policy, evaluate, policy_factory

    ep = report["episode"]
    if bridge_params["engine"] != "mujoco":
        engine = bridge_params["engine"]
    else:
        engine = "mujoco"
    ev, _ = evaluate(
        policy_factory(str(policy_file)),
        "hil-compare",
        engine=engine,
        episodes=1,
        seed=ep["seed"],
        episode_indices=[ep["index"]],
        scenario="hover",
        progress=False,
        config=config_for_policy(policy_file),
    )
    e = ev["per_episode"][0]
    eval_rmse = ev["tracking_rmse_m"]
    hil_rmse = report["pos_rmse_m"]
    ratio = None if not eval_rmse or hil_rmse is None else hil_rmse / eval_rmse
    same_success = bool(e["success"]) == bool(report["flight"].get("hover_success"))
    within = ratio is not None and abs(ratio - 1.0) <= scenario.eval_rmse_tolerance
    return {
        "eval_success": bool(e["success"]),
        "hil_hover_success": bool(report["flight"].get("hover_success")),
        "eval_rmse_m": eval_rmse,
        "hil_rmse_m": hil_rmse,
        "rmse_ratio": ratio,
        "tolerance": scenario.eval_rmse_tolerance,
        "agree": bool(same_success and within),
    }


def cycle_engine(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ran the policy node's cycles (deploy/runtime/compiled_cycle.py): the engine, and how many
    RUNNING cycles the compiled cycle ran and declined to the Python cycle; None when not reported."""
    diag = (policy or {}).get("diagnostics") or {}
    if "cycle_engine" not in diag:
        return None
    return {k: diag.get(k) for k in ("cycle_engine", "cycles_compiled", "cycles_declined")}


def cycle_trigger_line(report: dict[str, Any]) -> str | None:
    """The summary line saying how the policy node's cycles started and what ran them (None when
    not reported)."""
    trig = report.get("cycle_trigger")
    if not trig:
        return None
    n = report.get("cycles_by_trigger") or {}
    engine = report.get("cycle_engine")
    return (
        f"  cycles: {trig['mode']}-triggered"
        + (
            f" on {trig['input']} ({n.get('sensor_cycles')} on arrival, "
            f"{n.get('watchdog_cycles')} by the watchdog; run in the {trig.get('thread', 'loop')} thread)"
            if trig["mode"] == "sensor"
            else " at the contract rate"
        )
        + (
            f"; {engine['cycle_engine']} ({engine['cycles_compiled']} compiled, "
            f"{engine['cycles_declined']} declined)"
            if engine
            else ""
        )
    )


def _realtime_words(status: dict[str, Any] | None) -> str:
    """A node's RealtimeStatus in a few words: what took effect, what was not permitted."""
    if not status:
        return "n/a"
    short = {
        "sched_fifo": "SCHED_FIFO",
        "lock_memory": "mlockall",
        "gc": "GC frozen",
        "cpu_affinity": "affinity",
    }
    words = [short[k] for k in status["applied"] if k in short]
    words += [f"NOT {short[k]}" for k in status["skipped"] if k in short]
    return ", ".join(words) or "none"


def summary(report: dict[str, Any]) -> str:
    if report.get("robot_kind") == "legged":
        from tether.hil.walk_run import summary as walk_summary

        return walk_summary(report)

    def f(x: Any, scale: float = 1.0, fmt: str = ".1f") -> str:
        return "n/a" if x is None else format(x * scale, fmt)

    lines = [
        f"hil {report['scenario']}: {'SUCCESS' if report['success'] else 'FAILURE'} · "
        f"{report['seconds']:g} s · "
        f"domain {report['domain_id']} · faults {report['faults'] or 'none'} · transports "
        f"policy {report['transports']['policy_node']}, bridge {report['transports']['sim_bridge_node']}",
        f"  hover RMSE {f(report['pos_rmse_m'], 100, '.2f')} cm; sensor-to-command latency p50 "
        f"{f(report['latency_us_p50'])} µs, p99 {f(report['latency_us_p99'])} µs; policy loop jitter p99 "
        f"{f(report['jitter_us_p99'])} µs, {report['deadline_misses']} deadline misses; "
        f"{report['messages_dropped']} messages dropped",
    ]
    trigger = cycle_trigger_line(report)
    if trigger:
        lines.append(trigger)
    rt = report.get("realtime") or {}
    if rt:
        lines.append("  real-time: " + "; ".join(f"{node} {_realtime_words(s)}" for node, s in rt.items()))
    fl = report["flight"]
    crash = f", CRASH: {fl['crash']['reason']}" if fl.get("crash") else ""
    lines.append(
        f"  flight: hover {'ok' if fl.get('hover_success') else 'failed'}, waypoints "
        f"{sum(w['reached'] for w in fl.get('waypoints', []))}/{len(fl.get('waypoints', []))}, "
        f"{'landed' if fl.get('landed') else 'not landed'}{crash}"
    )
    for o in report["fault_outcomes"]:
        lines.append(f"  fault {o['fault']}: {'met' if o['met'] else 'NOT MET'} ({o['expected']})")
    if report.get("px4"):
        p, lost = report["px4"], report["px4"]["failsafe"]
        if p.get("rates_applied"):  # a collective thrust + body rate policy
            n, what, ignored = p["rates_applied"], "VehicleRatesSetpoint", p["rates_ignored"]
        else:
            n, what, ignored = p["motors_applied"], "ActuatorMotors", p["motors_ignored"]
        applied = f"{n} {what} applied, ignored {ignored or 'none'}"
        lines.append(
            f"  px4: OFFBOARD {'before' if p['offboard_before_arm'] else 'NOT before'} arming; {applied}; "
            f"refused {p['commands_refused'] or 'none'}"
            + (f"; offboard lost after {lost['silent_s']:.3f} s: Hold, Land" if lost else "")
        )
    if "eval_agreement" in report:
        a = report["eval_agreement"]
        lines.append(
            f"  vs tether eval: success {a['eval_success']} / {a['hil_hover_success']}, RMSE "
            f"{f(a['eval_rmse_m'], 100, '.2f')} / {f(a['hil_rmse_m'], 100, '.2f')} cm → "
            f"{'agree' if a['agree'] else 'DISAGREE'}"
        )
    return "\n".join(lines)
