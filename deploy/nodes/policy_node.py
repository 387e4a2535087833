"""policy_node: the robot-side runtime (deploy/runtime) wired to ROS 2 topics. Wiring, no logic.

Subscribes:  odometry (nav_msgs/Odometry), imu (sensor_msgs/Imu), joint_states
             (sensor_msgs/JointState), the task command (quadrotor: the reference, nav_msgs/Odometry;
             legged: /cmd_vel, geometry_msgs/Twist), arm and estop (std_msgs/Bool), estop_reset
             (std_msgs/Empty); /clock when the
             runtime configuration judges stamps on simulation time (stamps.clock: sim)
Publishes:   every cycle at the contract rate: quadrotor: actuator_command (sensor_msgs/JointState,
             by name); legged: joint position targets and the PD gains as ros2_control's
             forward_command_controllers take them (std_msgs/Float64MultiArray in the controller's
             joint order, parameter joint_command.joints; deploy/nodes/joint_command.py);
             /diagnostics (diagnostic_msgs/DiagnosticArray), state (std_msgs/String, latched)

Before anything else the policy file's provenance is checked (policy_public_key,
require_signature; deploy/provenance.py): a node whose policy is unsigned when a signature is
required, or whose signature does not verify, refuses to start with the reason.
Command plane (deploy/transport/command_auth.py, README "Security"): with command_auth.authorized_keys
set, arm, estop_reset and the task command are obeyed only with a valid Ed25519 token from a listed
key on <topic>/auth; anything else is dropped and counted by reason. The e-stop itself is obeyed from
any writer, and `estop: false` never resets it: only an estop_reset message does. With
command_auth.signing_key set, the quadrotor's actuator commands carry this node's token, for the
simulator bridge or the motor driver to check.

Every subscription callback only converts the message (deploy.transport.convert) and hands it to
Runtime.put (with the arrival time and the message's own stamp) / arm / disarm / estop; on DDS the
sensor inputs (odometry, imu, joint_states) arrive as their CDR bytes, which the node decodes
itself (deploy/transport/cdr.py; cyclonedds' own deserializer only for what those decoders cannot
read, e.g. big-endian samples). The
control cycle runs on the runtime's RealtimeLoop in the main thread, by default on each arrival
of the driving sensor (cycle_trigger: sensor; the fixed-rate timer is the watchdog for a late
one), or at the contract's fixed rate (cycle_trigger: timer). The actuator command's
header.stamp is the stamp of the newest odometry at the cycle start, so a receiver can measure
sensor-to-command latency end to end.

Run here:    python -m deploy.nodes.policy_node --params launch/config/quadrotor_sim.yaml
On ROS 2:    ros2 run tether_ros policy_node --ros-args --params-file ...  (rclpy transport)
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import json
import logging
import math
import signal
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deploy.nodes.joint_command import JointCommandPublisher, check_controllers_file
from deploy.nodes.params import resolve_path, with_defaults
from deploy.provenance import check_policy_provenance
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.input_store import Odometry
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import QuadrotorStarting, RobotProfile
from deploy.runtime.rt_loop import TRIGGERS, CycleInfo, RealtimeLoop
from deploy.runtime.runtime import ArmingRefusedError, Runtime, RuntimeOutput
from deploy.runtime.safety import State
from deploy.runtime.startup import QuadrotorStartup
from deploy.transport import convert, messages
from deploy.transport.base import Transport
from deploy.transport.cdr import (
    JointStateDecoder,
    JointStateEncoder,
    decode_imu,
    decode_odometry,
    encode_diagnostic_array,
)
from deploy.transport.command_auth import CommandSigner, SignedPublisher, guard_from_params
from deploy.transport.compiled_decode import CompiledDecoders
from deploy.transport.names import BASE_FRAME, TOPICS

log = logging.getLogger("tether.policy_node")

NODE_NAME = "policy_node"

#: Sensor-to-command latency records kept for the run report: the newest N (5 min at 100 Hz), in
#: an array allocated once, so a node that runs for hours holds the same memory as after a minute.
LATENCY_RECORDS = 30000
#: arrival times of the newest odometry stamps kept for matching a cycle's command to its sample
ODOM_RX_RECORDS = 256

#: Documented defaults of every parameter (a parameter file overrides some of them).
DEFAULTS: dict[str, Any] = {
    "policy_file": "policies/quadrotor_hover.onnx",  # exported ONNX policy (contract in its metadata)
    # SHA-256 of the contract this robot was commissioned with ("" accepts any): a policy file whose
    # embedded contract hashes differently is refused before anything is armed.
    "expected_contract_sha256": "",
    # Ed25519 public key (PEM, from `tether keygen`) that policy_file's detached signature
    # (policy_file + ".sig") must verify with; "" checks no signature (deploy/provenance.py).
    "policy_public_key": "",
    # true: refuse to start unless policy_file is signed and verifies with policy_public_key;
    # false: a missing signature is accepted with a warning (a present one must still verify).
    "require_signature": False,
    "robot_profile": "deploy/runtime/profile_crazyflie_2_1.yaml",
    "runtime_config": "deploy/runtime/runtime.yaml",  # input staleness limits, stamp rules, loop options
    "airborne_start": False,  # true: no start-up sequence (a simulated vehicle already flying)
    "providers": "cpu",  # ONNX Runtime providers, comma-separated: cpu, cuda, tensorrt
    "diagnostics_rate_hz": 5.0,
    # sensor: each cycle starts when the driving input arrives (the robot profile's trigger_input,
    # else the contract's first sensor), the fixed-rate timer runs a fallback cycle when it is late
    # (runtime_config loop.watchdog_periods); timer: cycles at the contract's fixed rate
    "cycle_trigger": "sensor",
    # legged robots: the joint order of the hardware's forward_command_controllers (their `joints`
    # parameter); [] means the robot profile's actuator order. controllers_file: the robot's
    # controller-manager parameter file (e.g. launch/config/quadruped_ros2_control.yaml); when set,
    # the node refuses to start unless its command topics are /<controller>/commands of
    # ForwardCommandControllers there with interface_name position / kp / kd and exactly these
    # joints in this order; "" checks nothing
    "joint_command": {"joints": [], "controllers_file": ""},
    # the hardware interface's settings when the robot profile names one (hardware_interface);
    # "" = its own defaults (unitree_go2: deploy/go2/go2_lowlevel.yaml)
    "hardware_interface_config": "",
    # accepted for ROS compatibility; the loop always runs on the monotonic clock, and message stamps
    # are judged against the clock runtime_config names (stamps.clock: system, sim = /clock, none)
    "use_sim_time": False,
    # the authenticated command plane (deploy/transport/command_auth.py): authorized_keys, a file of
    # `NAME BASE64` lines (`tether keygen`), the operators allowed to arm, reset the e-stop and send
    # the task command; "" leaves the plane open (anyone on the domain; warned at start-up).
    # signing_key: this node's Ed25519 private key (.key): signs actuator_command; "" = unsigned.
    # max_age_s: a token's time may differ this much from this node's wall clock (0: no window);
    # pair_timeout_s: a message waits this long for its token (and the token for it)
    "command_auth": {"authorized_keys": "", "signing_key": "", "max_age_s": 2.0, "pair_timeout_s": 0.5},
    "topics": {
        role: TOPICS[role].name
        for role in (
            "odometry",
            "imu",
            "joint_states",
            "reference",
            "cmd_vel",
            "actuator_command",
            "joint_position_commands",
            "joint_kp_commands",
            "joint_kd_commands",
            "arm",
            "estop",
            "estop_reset",
            "state",
            "diagnostics",
            "clock",
        )
    },
}


class PolicyNode:
    """The runtime on a transport. `run()` blocks in the control loop until `stop()`."""

    def __init__(
        self, transport: Transport, params: dict[str, Any], clock: Callable[[], float] = time.monotonic
    ):
        self.params = p = with_defaults(DEFAULTS, params, f"{NODE_NAME} parameters")
        self.t = transport
        self.clock = clock
        profile = RobotProfile.from_yaml(resolve_path(p["robot_profile"]))
        if p["airborne_start"]:
            profile = _airborne(profile)
        providers = [s.strip() for s in str(p["providers"]).split(",") if s.strip()]
        policy_file = resolve_path(p["policy_file"])
        model_bytes = check_policy_provenance(
            policy_file,
            resolve_path(str(p["policy_public_key"])) if p["policy_public_key"] else None,
            _flag(p, "require_signature"),
        )  # the verified bytes are what ONNX Runtime loads: the file is not read twice
        runner = PolicyRunner(
            policy_file,
            profile,
            providers=providers,
            expected_contract_sha256=str(p["expected_contract_sha256"] or "") or None,
            model_bytes=model_bytes,
        )
        self.runtime = Runtime(
            runner, RuntimeConfig.from_yaml(resolve_path(p["runtime_config"])), clock=clock
        )
        self.contract = self.runtime.contract
        self._unstamped_logged: set[str] = set()  # inputs whose first zero-stamped message was logged
        q = profile.quadrotor
        # airborne: the actuators already hold the hover (each motor at the hover command, or the
        # collective thrust that hovers with zero rates for a ctbr policy): the start-up's target
        startup = self.runtime.startup
        self._arm_action = (
            startup.hover_action.copy()
            if p["airborne_start"] and q is not None and isinstance(startup, QuadrotorStartup)
            else None
        )
        topics = p["topics"]
        auth = p["command_auth"]
        self.guard = guard_from_params(auth, NODE_NAME, resolve_path)
        signer = CommandSigner.from_file(resolve_path(auth["signing_key"])) if auth["signing_key"] else None
        (log.info if self.guard.enabled else log.warning)("command plane: %s", self.guard.describe())
        self.estop_false_ignored = 0
        specs = self.runtime.inputs.specs
        self._hw = _hardware_interface(
            transport, self.runtime, profile, str(p["hardware_interface_config"]), self._arm_action,
            self._note_odometry,
        )  # fmt: skip
        if self._hw is not None:  # the interface feeds these inputs itself (Go2: IMU, joints; PX4: odometry)
            provided = getattr(self._hw, "provides", ("imu", "joint_states"))
            specs = {n: s for n, s in specs.items() if n not in provided}
        #: The sensor inputs that arrive as their CDR bytes, decoded here (DDS: deploy/transport/cdr.py),
        #: not as messages deserialized by the transport (on the build machine ≈ 1 µs instead of ≈ 33 µs
        #: an odometry sample, ≈ 47 µs a 12-joint JointState, ≈ 28 µs an Imu).
        self.cdr_inputs: set[str] = set()
        subscribe_cdr = getattr(transport, "subscribe_cdr", None)
        self._joint_states_decoder = JointStateDecoder()
        #: The byte callbacks' decoders and checks in compiled C (deploy/transport/compiled_decode.py),
        #: None where there is no C compiler: then in Python, with the same results.
        self._decoders = CompiledDecoders.load() if subscribe_cdr is not None else None
        for name, by_msg, by_bytes in (
            ("odometry", self._on_odometry, self._on_odometry_cdr),
            ("imu", self._on_imu, self._on_imu_cdr),
            ("joint_states", self._on_joint_states, self._on_joint_states_cdr),
        ):
            if name not in specs:
                continue
            t = TOPICS[name]
            if subscribe_cdr is not None:
                subscribe_cdr(topics[name], t.type, t.qos, by_bytes)
                self.cdr_inputs.add(name)
            else:
                transport.subscribe(topics[name], t.type, t.qos, by_msg)
        self.legged = profile.kind == "legged"
        if "command" in specs and self.contract.command_size:
            if self.legged:  # a velocity command, as a teleop node or a planner sends it
                t = TOPICS["cmd_vel"]
                self.guard.subscribe(transport, topics["cmd_vel"], t.type, t.qos, self._on_cmd_vel)
            else:
                t = TOPICS["reference"]
                self.guard.subscribe(transport, topics["reference"], t.type, t.qos, self._on_reference)
        if self.runtime.stamp_clock.kind == "sim":  # stamps are judged against the simulation's /clock
            t = TOPICS["clock"]
            transport.subscribe(topics["clock"], t.type, t.qos, self._on_clock)
        self.guard.subscribe(transport, topics["arm"], TOPICS["arm"].type, TOPICS["arm"].qos, self._on_arm)
        # stopping needs no key: an e-stop from any writer is obeyed (README "Security")
        transport.subscribe(topics["estop"], TOPICS["estop"].type, TOPICS["estop"].qos, self._on_estop)
        t = TOPICS["estop_reset"]
        self.guard.subscribe(transport, topics["estop_reset"], t.type, t.qos, self._on_estop_reset)
        self._joint_cmd: JointCommandPublisher | None = None
        self._cmd_cdr: Callable[[bytes], None] | None = None
        self._cmd_cdr_signed: Callable[[bytes, bytes], None] | None = None
        if self._hw is not None:
            pass  # the hardware interface publishes the commands
        elif self.legged:
            jc = p["joint_command"]
            if jc["controllers_file"]:
                check_controllers_file(
                    resolve_path(str(jc["controllers_file"])),
                    list(jc["joints"]) or list(profile.actuators),
                    topics,
                )
            self._joint_cmd = JointCommandPublisher(
                transport, self.contract, profile, list(jc["joints"]), topics
            )
        else:
            t = TOPICS["actuator_command"]
            self._cmd_pub = SignedPublisher(transport, topics["actuator_command"], t.type, t.qos, signer)
            self._cmd_cdr = self._cmd_pub.publish_cdr  # None: messages built and published
            self._cmd_cdr_signed = self._cmd_pub.publish_cdr_signed  # a signed plane on DDS
            self._cmd_encoder: JointStateEncoder | None = None
        self._diag_pub = transport.publisher(
            topics["diagnostics"], TOPICS["diagnostics"].type, TOPICS["diagnostics"].qos
        )
        self._state_pub = transport.publisher(topics["state"], TOPICS["state"].type, TOPICS["state"].qos)
        trigger = str(p["cycle_trigger"])
        if trigger not in TRIGGERS:
            raise ValueError(
                f"{NODE_NAME} parameter cycle_trigger must be one of {list(TRIGGERS)}, not {trigger!r}"
            )
        self.use_loop(RealtimeLoop(self.contract.control_rate_hz, self.runtime.config.loop, trigger=trigger))
        self._lock = threading.Lock()
        self._odom_stamp: Any = None  # the newest odometry stamp (a Time message, or convert.Stamp)
        self._odom_key: tuple[int, int] | None = None
        self._odom_rx: dict[tuple[int, int], float] = {}
        self._cycle_stamp: Any = None
        self._cycle_key: tuple[int, int] | None = None
        self._cycle_start = 0.0
        self._last_state: State | None = None
        self._stop = threading.Event()
        self.arm_refusals: list[str] = []
        # Records for the HIL report.
        #: rows (stamp sec, stamp nanosec, odometry rx, cycle start, command tx) on the node's
        #: clock, a ring of the newest LATENCY_RECORDS
        self._latency = np.zeros((LATENCY_RECORDS, 5))
        self._latency.fill(0.0)  # every page touched now, not one more each 160 cycles of the run
        self._latency_n = 0
        self._latency_key: tuple[int, int] | None = None  # the newest odometry recorded (once each)
        self.odometry_rx = 0
        self.odometry_first: tuple[int, int] | None = None
        self.odometry_last: tuple[int, int] | None = None
        self.estop_rx_cycle: int | None = None
        self.estop_first_stop_cycle: int | None = None
        self.nonfinite_suppressed = 0
        self.sources: dict[str, int] = {}
        #: False while a managed (lifecycle) node is not active: arming is refused, outputs stay safe.
        self.commanding_allowed = True

    # -- callbacks (transport thread) ---------------------------------------------------------------

    def _on_odometry(self, msg: Any) -> None:
        now = self.clock()
        self._odometry_arrived(now, msg.header.stamp, convert.odometry_from_msg(msg))

    def _on_odometry_cdr(self, data: bytes) -> None:
        """An odometry sample as its CDR bytes (DDS transport's subscribe_cdr)."""
        now = self.clock()
        # the compiled cycle's way when it takes the sample; the cycle it starts after the bookkeeping
        stored = self.runtime.put_cdr("odometry", data, now, notify=False)
        if stored is not None:
            self._odometry_received(now, convert.Stamp(*stored))
            self._compiled_stored("odometry", stored)
            self.runtime.arrived("odometry")
            return
        decoders = self._decoders
        if decoders is not None and (got := decoders.odometry(data)) is not None:
            self._odometry_arrived(now, convert.Stamp(got[0], got[1]), got[2])
            return
        try:
            sec, nanosec, pose, twist = decode_odometry(data)
        except (ValueError, struct.error):  # e.g. big-endian CDR: Cyclone's deserializer reads it
            self._odometry_arrived(now, *self._odometry_message(data))
            return
        self._odometry_arrived(now, convert.Stamp(sec, nanosec), convert.odometry_from_values(pose, twist))

    @property
    def input_decoding(self) -> str:
        """How sensor samples become payloads: compiled C from their bytes, Python from their
        bytes, or the transport's messages."""
        if not self.cdr_inputs:
            return "messages"
        return "python" if self._decoders is None else self._decoders.describe

    @property
    def odometry_as_cdr(self) -> bool:
        return "odometry" in self.cdr_inputs

    def _on_imu_cdr(self, data: bytes) -> None:
        """An IMU sample as its CDR bytes (DDS transport's subscribe_cdr)."""
        now = self.clock()
        stored = self.runtime.put_cdr("imu", data, now)  # the compiled cycle's way, when it takes it
        if stored is not None:
            self._compiled_stored("imu", stored)
            return
        decoders = self._decoders
        if decoders is not None and (got := decoders.imu(data)) is not None:
            self.runtime.put("imu", got[2], now, self._header_stamp("imu", convert.Stamp(got[0], got[1])))
            return
        try:
            sec, nanosec, orientation, angular, linear = decode_imu(data)
        except (ValueError, struct.error):  # e.g. big-endian CDR: Cyclone's deserializer reads it
            self._on_imu(messages.deserialize(data, TOPICS["imu"].type), now)
            return
        stamp = self._header_stamp("imu", convert.Stamp(sec, nanosec))
        self.runtime.put("imu", convert.imu_from_values(orientation, angular, linear), now, stamp)

    def _on_joint_states_cdr(self, data: bytes) -> None:
        """A JointState sample as its CDR bytes (DDS transport's subscribe_cdr)."""
        now = self.clock()
        stored = self.runtime.put_cdr("joint_states", data, now)  # the compiled cycle's way, when it takes it
        if stored is not None:
            self._compiled_stored("joint_states", stored)
            return
        decoders = self._decoders
        if decoders is not None and (got := decoders.joint_states(data)) is not None:
            stamp = self._header_stamp("joint_states", convert.Stamp(got[0], got[1]))
            self.runtime.put("joint_states", got[2], now, stamp)
            return
        try:
            sec, nanosec, names, position, velocity = self._joint_states_decoder.decode(data)
        except (ValueError, struct.error):  # e.g. big-endian CDR: Cyclone's deserializer reads it
            self._on_joint_states(messages.deserialize(data, TOPICS["joint_states"].type), now)
            return
        stamp = self._header_stamp("joint_states", convert.Stamp(sec, nanosec))
        value = convert.joint_states_from_values(names, position, velocity)
        self.runtime.put("joint_states", value, now, stamp)

    @staticmethod
    def _odometry_message(data: bytes) -> tuple[Any, Odometry]:
        msg = messages.deserialize(data, TOPICS["odometry"].type)
        return msg.header.stamp, convert.odometry_from_msg(msg)

    def _odometry_arrived(self, now: float, stamp: Any, odometry: Odometry) -> None:
        self._odometry_received(now, stamp)
        # after the bookkeeping: on a sensor-triggered loop the put starts the cycle that answers it
        self.runtime.put("odometry", odometry, now, self._header_stamp("odometry", stamp))

    def _odometry_received(self, now: float, stamp: Any) -> None:
        """The node's bookkeeping of an odometry sample that arrived at `now` with `stamp`: the
        stamp the next command carries, and the HIL latency records."""
        with self._lock:
            self._odom_stamp = stamp
        self._note_odometry(convert.stamp_key(stamp), now)

    def _compiled_stored(self, name: str, stamp: tuple[int, int]) -> None:
        """A sample of `name` the compiled cycle stored (runtime.put_cdr), stamped (sec, nanosec):
        the first unstamped one is logged, as _header_stamp does for the Python way."""
        if stamp == (0, 0):
            self._header_stamp(name, convert.Stamp(*stamp))

    def _note_odometry(self, key: tuple[int, int], now: float) -> None:
        """Bookkeeping of an odometry (stamp as (s, ns)) received at `now`, for the HIL report; a
        hardware interface that reads odometry itself (PX4) calls it too."""
        with self._lock:
            self._odom_key = key
            self._odom_rx[key] = now
            if len(self._odom_rx) > ODOM_RX_RECORDS:  # the newest half kept: a cycle answers the newest
                for k in list(self._odom_rx)[: ODOM_RX_RECORDS // 2]:
                    del self._odom_rx[k]
            if key != (0, 0):  # stamped with simulation/robot time (not a frozen simulator's 0)
                self.odometry_rx += 1
                self.odometry_first = self.odometry_first or key
                self.odometry_last = key

    def _on_imu(self, msg: Any, now: float | None = None) -> None:
        """`now`: the arrival, when a byte callback took it before handing the message over."""
        now = self.clock() if now is None else now
        self.runtime.put("imu", convert.imu_from_msg(msg), now, self._stamp("imu", msg))

    def _on_joint_states(self, msg: Any, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        stamp = self._stamp("joint_states", msg)
        self.runtime.put("joint_states", convert.joint_states_from_msg(msg), now, stamp)

    def _on_cmd_vel(self, msg: Any) -> None:
        # geometry_msgs/Twist has no header: judged by arrival only (a held setpoint, no age limit)
        self.runtime.put("command", convert.velocity_command_from_twist(msg), self.clock(), None)

    def _on_reference(self, msg: Any) -> None:
        stamp = self._stamp("command", msg)
        self.runtime.put("command", convert.reference_from_msg(msg), self.clock(), stamp)

    def _stamp(self, name: str, msg: Any) -> float | None:
        """The message's own stamp (s), None for a zero stamp: that message is judged by arrival only
        and counted as unstamped (deploy/runtime/stamps.py); the first one per input is logged."""
        return self._header_stamp(name, msg.header.stamp)

    def _header_stamp(self, name: str, header_stamp: Any) -> float | None:
        stamp = convert.header_stamp_s(header_stamp)
        if stamp is None and name not in self._unstamped_logged:
            self._unstamped_logged.add(name)
            log.warning(
                "%s: a message with a zero header.stamp: judged by arrival only, stamp checks skipped for "
                "it (counted as input.%s.unstamped in the diagnostics); a sender that never stamps "
                "should set header.stamp",
                name,
                name,
            )
        return stamp

    def _on_clock(self, msg: Any) -> None:
        self.runtime.stamp_clock.set_sim_time(convert.stamp_to_s(msg.clock))

    def _on_arm(self, msg: Any) -> None:
        if msg.data and not self.commanding_allowed:
            refusal = "arming refused: the node is not active (lifecycle); activate it first"
            self.arm_refusals.append(refusal)
            log.warning("%s", refusal)
            return
        if self._hw is not None and hasattr(self._hw, "request_arm"):  # PX4: the vehicle arms first
            try:
                self._hw.request_arm(bool(msg.data))
            except ArmingRefusedError as exc:
                self.arm_refusals.append(str(exc))
                log.warning("%s", exc)
            return
        hw_problems = self._hw.arming_problems() if msg.data and self._hw is not None else []
        if hw_problems:
            refusal = "arming refused: " + "; ".join(hw_problems)
            self.arm_refusals.append(refusal)
            log.warning("%s", refusal)
            return
        if msg.data:
            try:
                self.runtime.arm(current_action=self._arm_action)
                log.info("armed")
            except ArmingRefusedError as exc:
                self.arm_refusals.append(str(exc))
                log.warning("%s", exc)
        else:
            self.runtime.disarm()

    def _on_estop(self, msg: Any) -> None:
        if msg.data:
            self.runtime.estop("e-stop topic")
            if self.estop_rx_cycle is None:
                self.estop_rx_cycle = self.runtime.cycles
        else:  # never a reset: a stale or forged `false` must not clear a latched e-stop
            self.estop_false_ignored += 1
            if self.estop_false_ignored == 1:
                log.warning(
                    "estop: false ignored: the e-stop stays latched until an explicit reset on %s "
                    "(further ones are counted as estop_false_ignored)",
                    self.params["topics"]["estop_reset"],
                )

    def _on_estop_reset(self, msg: Any) -> None:
        self.runtime.release_estop()
        try:
            self.runtime.reset_estop()
            log.info("e-stop reset by the operator")
        except ArmingRefusedError as exc:
            log.warning("%s", exc)

    # -- the control loop (main thread) ---------------------------------------------------------------

    def use_loop(self, loop: RealtimeLoop) -> None:
        """Run on `loop`. Sensor-triggered, with loop.sensor_cycle_thread `receive` and a transport
        that calls a hook after its callbacks (DDS: `after_receive`), the cycle answering an
        arrival runs in the receive thread right after the callbacks that delivered it, before the
        samples of other topics (no wake-up of another thread); the loop's thread keeps the
        watchdog."""
        self.loop = loop
        hook_here = hasattr(self.t, "after_receive")
        inline = loop.trigger == "sensor" and loop.options.sensor_cycle_thread == "receive" and hook_here
        loop.inline = inline
        if hook_here:
            self.t.after_receive = loop.run_pending if inline else None

    def _before(self, info: CycleInfo) -> None:
        self._cycle_start = self.clock()
        with self._lock:
            self._cycle_stamp, self._cycle_key = self._odom_stamp, self._odom_key

    def _sink(self, out: RuntimeOutput) -> None:
        cmd = out.actuator_command
        values = cmd.tolist()
        # never happens (the runtime guarantees it); never publish it. Plain floats: a few values
        if not all(map(math.isfinite, values)):
            self.nonfinite_suppressed += 1
            return
        if self._hw is not None:
            self._hw.publish(out)
        elif self._joint_cmd is not None:
            self._joint_cmd.publish(out)
        elif self._cmd_cdr is not None or self._cmd_cdr_signed is not None:
            # DDS: the bytes written directly (deploy/transport/cdr.py); signed: with its token
            encoder = self._cmd_encoder
            if encoder is None or encoder.names != out.actuator_names:
                encoder = self._cmd_encoder = JointStateEncoder(BASE_FRAME, out.actuator_names)
            stamp = self._cycle_stamp
            sec, nanosec = (stamp.sec, stamp.nanosec) if stamp is not None else (0, 0)
            data = encoder.encode(sec, nanosec, values)
            if self._cmd_cdr_signed is not None:
                self._cmd_cdr_signed(data, encoder.canonical(sec, nanosec, values))
            else:
                self._cmd_cdr(data)
        else:
            stamp = self._cycle_stamp
            if stamp is None:
                stamp = self.t.make("builtin_interfaces/msg/Time")
            elif isinstance(stamp, convert.Stamp):  # read from CDR bytes: as the message's field
                stamp = {"sec": stamp.sec, "nanosec": stamp.nanosec}
            self._cmd_pub.publish(convert.actuator_command_msg(self.t.make, stamp, out.actuator_names, cmd))
        tx = self.clock()
        key = self._cycle_key
        if key is not None and key != self._latency_key:
            self._latency_key = key
            rx = self._odom_rx.get(key)
            if rx is not None:
                row = self._latency[self._latency_n % LATENCY_RECORDS]
                row[0], row[1], row[2], row[3], row[4] = key[0], key[1], rx, self._cycle_start, tx
                self._latency_n += 1
        self.sources[out.source] = self.sources.get(out.source, 0) + 1
        if (
            self.estop_rx_cycle is not None
            and self.estop_first_stop_cycle is None
            and out.state is State.ESTOP
        ):
            self.estop_first_stop_cycle = self.runtime.cycles - 1
        if out.state is not self._last_state:
            self._last_state = out.state
            self._state_pub.publish(self.t.make("std_msgs/msg/String", data=out.state.value))

    @property
    def latency(self) -> list[tuple[tuple[int, int], float, float, float]]:
        """(odometry stamp, received, cycle start, command sent), oldest first: the newest
        LATENCY_RECORDS odometry samples that a command answered."""
        n = self._latency_n
        rows = (
            self._latency[:n] if n <= LATENCY_RECORDS else np.roll(self._latency, -(n % LATENCY_RECORDS), 0)
        )
        return [((int(r[0]), int(r[1])), float(r[2]), float(r[3]), float(r[4])) for r in rows]

    def _diagnostics_thread(self) -> None:
        period = 1.0 / float(self.params["diagnostics_rate_hz"])
        while not self._stop.wait(period):
            try:
                self.publish_diagnostics()
            except Exception:  # diagnostics must never take the node down
                log.exception("diagnostics failed")

    def diagnostics_statuses(self) -> list[tuple[int, str, str, str, dict[str, Any]]]:
        d = self.runtime.diagnostics(self.loop.stats.snapshot())
        state = d["state"]
        level = {"RUNNING": convert.OK, "DISARMED": convert.OK, "STARTING": convert.OK}.get(
            state, convert.ERROR
        )
        if d["faults"] and level == convert.OK:
            level = convert.WARN
        loop = d["loop"] or {}
        values: dict[str, Any] = {
            "state": state,
            "source": d["source"],
            "faults": "; ".join(d["faults"]),
            "cycles": d["cycles"],
            "policy": d["policy"],
            "contract_sha256": d["contract_sha256"],
            "inference_engine": d["inference_engine"],
            "observation_engine": d["observation_engine"],
            "cycle_engine": d["cycle_engine"],
            "cycles_compiled": d["cycles_compiled"],
            "cycles_declined": d["cycles_declined"],
            "input_decoding": self.input_decoding,
            "stamp_clock": d["stamp_clock"],
            "last_arm_refusal": self.arm_refusals[-1] if self.arm_refusals else "",
            "estop_false_ignored": self.estop_false_ignored,
        }
        values.update({f"command_auth.{k}": v for k, v in self.guard.stats().items()})
        values.update({f"loop.{k}": v for k, v in loop.items()})
        rt = self.loop.realtime_status
        values.update(rt.diagnostic_values() if rt is not None else {"realtime": "loop not started"})
        for name, st in d["inputs"].items():
            for k in ("present", "age_s", "stale", "received", "rejected", "stamp_age_s", "unstamped"):
                values[f"input.{name}.{k}"] = st[k]
            for reason, n in st["stamp_refused"].items():
                values[f"input.{name}.{reason}"] = n
        message = state + (f": {d['faults'][0]}" if d["faults"] else "")
        return [(level, f"{NODE_NAME}: runtime", message, self.runtime.profile.name, values)]

    def publish_diagnostics(self) -> None:
        statuses = self.diagnostics_statuses()
        write = getattr(self._diag_pub, "publish_cdr", None)
        if write is None:
            self._diag_pub.publish(convert.diagnostic_array(self.t.make, time.time(), statuses))
            return
        # DDS: encoded by hand (~0.1 ms, not ~1 ms of the interpreter the loop thread may be waiting for)
        stamp = convert.s_to_stamp(time.time())
        text = [(level, name, msg, hw, convert.diagnostic_text(v)) for level, name, msg, hw, v in statuses]
        write(encode_diagnostic_array(stamp["sec"], stamp["nanosec"], text))

    def run(self, seconds: float | None = None) -> None:
        """The control loop until stop() (or `seconds`); publishes diagnostics alongside."""
        self.t.start()
        diag = threading.Thread(target=self._diagnostics_thread, name="diagnostics", daemon=True)
        diag.start()
        try:
            self.runtime.run(self._sink, seconds=seconds, before_step=self._before, loop=self.loop)
        finally:
            self._stop.set()
            diag.join(timeout=2.0)

    def stop(self) -> None:
        self._stop.set()
        self.loop.stop()

    def report(self) -> dict[str, Any]:
        """What the HIL suite reads after the run: loop statistics, transitions, latency records."""
        return {
            "node": NODE_NAME,
            "diagnostics": self.runtime.diagnostics(self.loop.stats.snapshot()),
            "loop": self.loop.stats.snapshot().to_dict(),
            # which real-time options took effect (deploy.runtime.rt_loop.RealtimeStatus)
            "realtime": None if self.loop.realtime_status is None else self.loop.realtime_status.to_dict(),
            "sources": self.sources,
            "latency": [[list(k), rx, start, tx] for k, rx, start, tx in self.latency],
            "cycle_trigger": {
                "mode": self.loop.trigger,
                "input": self.runtime.trigger_input,
                # sensor mode: the receive thread runs the cycle after its callbacks, or the loop's
                "thread": "receive" if self.loop.inline else "loop",
            },
            "odometry_rx": self.odometry_rx,
            "odometry_first": self.odometry_first,
            "odometry_last": self.odometry_last,
            "estop_rx_cycle": self.estop_rx_cycle,
            "estop_first_stop_cycle": self.estop_first_stop_cycle,
            "nonfinite_suppressed": self.nonfinite_suppressed,
            "arm_refusals": self.arm_refusals,
            "command_auth": self.guard.stats(),
            "estop_false_ignored": self.estop_false_ignored,
            "transitions_all": [
                {
                    "time_s": t.time_s,
                    "from": t.before.value,
                    "to": t.after.value,
                    "event": t.event.value,
                    "reason": t.reason,
                }
                for t in self.runtime.supervisor.history
            ],
            "input_max_age_s": {n: s.max_age_s for n, s in self.runtime.inputs.specs.items()},
            "policy_input_age_max_s": dict(self.runtime.policy_input_age_max_s),
            "control_rate_hz": self.contract.control_rate_hz,
            "hardware": None if self._hw is None else self._hw.report(),
        }


def _hardware_interface(
    transport: Transport,
    runtime: Runtime,
    profile: RobotProfile,
    config: str,
    arm_action: np.ndarray | None = None,
    on_odometry: Callable[[tuple[int, int], float], None] | None = None,
) -> Any:
    """The profile's hardware interface on `transport`, or None (ROS topics). PX4 arms the runtime
    itself (with `arm_action`, as the node would) and reports each odometry to `on_odometry`."""
    kind = profile.hardware_interface
    if not kind:
        return None
    if kind == "unitree_go2":
        from deploy.go2.interface import Go2Config, Go2LowLevel

        cfg = Go2Config.from_yaml(resolve_path(config)) if config else Go2Config.from_yaml()
        return Go2LowLevel(transport, runtime, cfg)
    if kind == "px4":
        from deploy.px4.interface import Px4Config, Px4Interface

        cfg = Px4Config.from_yaml(resolve_path(config)) if config else Px4Config.from_yaml()
        return Px4Interface(transport, runtime, cfg, arm_action=arm_action, on_odometry=on_odometry)
    raise ValueError(
        f"{profile.where}: hardware_interface '{kind}' is unknown; expected unitree_go2 or px4, or leave it "
        "out for ROS topics"
    )


def _flag(params: dict[str, Any], name: str) -> bool:
    """A boolean parameter, strictly: a string such as "false" must not read as true."""
    value = params[name]
    if not isinstance(value, bool):
        raise ValueError(
            f"{NODE_NAME} parameter {name} must be true or false, found {value!r} ({type(value).__name__})"
        )
    return value


def _airborne(profile: RobotProfile) -> RobotProfile:
    """The profile with a zero-length start-up (as deploy.sim_bridge.airborne_profile, without
    importing sim/: the policy node is robot-side code)."""
    q = profile.quadrotor
    if q is None:
        return profile
    starting = QuadrotorStarting(idle_command=q.starting.idle_command, idle_s=0.0, spinup_s=0.0)
    return dataclasses.replace(profile, quadrotor=dataclasses.replace(q, starting=starting))


def node_main(node_cls: Callable[..., Any], node_name: str, argv: list[str] | None, description: str) -> int:
    """Shared entry point of Tether's nodes outside `ros2 launch` (HIL, tests): the parameters come
    from the same ROS 2 parameter file a launch file uses, on either transport.

    --params FILE [--set name=value ...] [--domain-id N] [--loopback] [--report out.json] [--seconds S]
    [--transport dds|rclpy]. SIGINT/SIGTERM end the run cleanly (the report is written then).
    """
    from deploy.nodes.params import load_node_params, merge, parse_override
    from deploy.transport.base import make_transport

    ap = argparse.ArgumentParser(prog=f"python -m deploy.nodes.{node_name}", description=description)
    ap.add_argument("--params", required=True, help="ROS 2 parameter file (launch/config/*.yaml)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    ap.add_argument(
        "--domain-id", type=int, default=None,
        help="DDS domain (default: ROS_DOMAIN_ID from the environment, else 0)",
    )  # fmt: skip
    ap.add_argument("--loopback", action="store_true", help="keep DDS traffic on 127.0.0.1")
    ap.add_argument("--report", help="write the node's run report (JSON) here at exit")
    ap.add_argument("--seconds", type=float, help="run this long, then exit (default: until signalled)")
    ap.add_argument(
        "--transport",
        choices=["dds", "rclpy"],
        default="dds",
        help="dds: Cyclone DDS in the ROS 2 wire format (no ROS 2 needed); rclpy: ROS 2 (default: dds)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"[{node_name}] %(levelname)s %(message)s")
    if args.loopback:
        from deploy.transport.dds.loopback import use_loopback

        use_loopback()
    params = load_node_params(args.params, node_name)
    for o in args.set:
        merge(params, parse_override(o))
    # A supervisor that finds this node stuck at shutdown sends SIGUSR1 before SIGKILL: every
    # thread's stack goes to stderr (the node's log), so the log says where it hung.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    transport = make_transport(args.transport, node_name, args.domain_id)
    node = node_cls(transport, params)
    t0 = time.monotonic()

    def phase(text: str) -> None:
        logging.getLogger(node_name).info("shutdown +%.3f s: %s", time.monotonic() - t0, text)

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal t0
        t0 = time.monotonic()  # shutdown phases are timed from the signal
        phase(f"signal {signum} received, stopping the loop")
        node.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        node.run(seconds=args.seconds)
        phase("loop ended")
    finally:
        if args.report:
            Path(args.report).write_text(json.dumps(node.report(), default=_json_default))
            phase("report written")
        transport.close()
        phase("DDS participant closed")
    return 0


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def main(argv: list[str] | None = None) -> int:
    return node_main(PolicyNode, NODE_NAME, argv, "Tether policy node on Cyclone DDS (ROS 2 wire format).")


if __name__ == "__main__":
    raise SystemExit(main())
