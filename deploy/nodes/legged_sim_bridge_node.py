"""legged_sim_bridge_node: a simulated Go2-class quadruped (MuJoCo) impersonating a ros2_control robot.

What the robot's ros2_control stack does, the bridge does:

- joint_state_broadcaster: sensor_msgs/JointState on /joint_states, every joint by name with
  position, velocity and effort; imu_sensor_broadcaster: sensor_msgs/Imu on /imu/data (frame
  imu_link: orientation, angular velocity, specific force). Each at its own rate with
  configurable noise, latency and drop probability, stamped with simulation time; /clock for
  use_sim_time; the noise-free base state on /tether/sim/ground_truth (simulator only).
- three forward_command_controllers, one per command interface: joint position targets on
  /joint_position_controller/commands (interface position), stiffness on
  /joint_kp_controller/commands (interface kp) and damping on /joint_kd_controller/commands
  (interface kd); std_msgs/Float64MultiArray, one value per joint in `controller_joints` order (a
  command of the wrong size or with a non-finite value is refused, as the controller and the
  hardware refuse it; a negative gain too). kp and kd are separate interfaces, each written when
  its command arrives, as the hardware takes them. The hardware's PD loop,
  τ = clip(s (kp (q* − q) − kd q̇), ±τmax), runs at every physics step with the newest targets and
  gains (zero-order hold). Until gains arrive, kp = kd = 0: the motors are powered but produce no
  torque.
- a hardware watchdog: no position command for watchdog.timeout_s of simulated time (counted in
  physics steps) once commands have flowed → damping (kp 0, kd watchdog.damping_kd), latched.

The robot and its initial state are episode (seed, episode_index) of quadruped-walk, drawn as
`tether eval --task quadruped-walk --episode-index K` draws them (nominal robot, no pushes). The
simulation runs from the start: with no torque, the robot sits down where it was placed, and the
policy node's start-up stands it up.

Faults for HIL (parameters `faults.*`, simulation time; default off): a sensor freeze (no
messages of freeze_sensor for freeze_s from freeze_at_s) and a burst of NaN messages; either may
also be started at the current simulation time by 'freeze' / 'nan' on /tether/sim/fault (how
`tether hil` times them from the start of the walk, which the bridge cannot know in advance).
With `hardware: unitree_go2` the bridge is a Unitree Go2 on its low-level DDS protocol instead
(deploy/go2/emulator.py): LowState_ on rt/lowstate at the joint-state rate (joint, IMU and foot
contact state in one message, noise as above), LowCmd_ from rt/lowcmd with the robot's rules (wrong
CRC or not low level: dropped and counted, not a command for the watchdog), the same PD law and
watchdog; SportModeState_ while the emulated sport mode runs (go2.sport_mode_s). The sensor faults
apply to LowState_ (freeze: no LowState_; nan: NaN in its gyroscope or joint positions).
This node imports sim/: it is not robot code.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from deploy.nodes.joint_command import controller_order
from deploy.nodes.params import with_defaults
from deploy.nodes.policy_node import node_main
from deploy.rotations import quat_to_rotmat, rotate_world_to_body
from deploy.runtime.rt_loop import CycleInfo, RealtimeLoop
from deploy.transport import convert
from deploy.transport.base import Transport
from deploy.transport.names import TOPICS
from sim.tasks.quadruped_walk import QuadrupedWalkEnv, WalkConfig

log = logging.getLogger("tether.legged_sim_bridge")

NODE_NAME = "legged_sim_bridge_node"
GRAVITY_M_S2 = 9.81
#: Columns of each trajectory row (recorded at record_rate_hz, simulation time).
TRAJECTORY_COLUMNS = (
    "t_s", "x_m", "y_m", "z_m", "vz_world_m_s", "tilt_cos", "vx_body_m_s", "vy_body_m_s",
    "yaw_rate_rad_s", "trunk_contact", "kp_mean", "kd_mean", "watchdog",
)  # fmt: skip

_SENSOR = {"latency_s": 0.0, "drop_probability": 0.0}
DEFAULTS: dict[str, Any] = {
    # ros2_control: joint_state / imu broadcasters and forward_command_controllers (ROS topics);
    # unitree_go2: the Go2's low-level DDS protocol (rt/lowstate, rt/lowcmd; deploy/go2/emulator.py)
    "hardware": "ros2_control",
    "go2": {"sport_mode_s": 0.0},  # unitree_go2: sport mode runs (low-level ignored) this long from start
    "engine": "mujoco",  # mujoco (the hardware's kp / kd interfaces are written into its actuators)
    "seed": 0,  # the robot and initial state are (seed, episode_index) of quadruped-walk
    "episode_index": 0,
    "sim_rate_hz": 200.0,  # physics steps per second: a whole multiple of the task's physics step
    "joint_states": {"rate_hz": 100.0, "pos_noise_std_rad": 0.0, "vel_noise_std_rad_s": 0.0, **_SENSOR},
    "imu": {"rate_hz": 100.0, "gyro_noise_std_rad_s": 0.0, "accel_noise_std_m_s2": 0.0, **_SENSOR},
    # the forward_command_controllers' `joints` parameter: the order of the values on the wire;
    # [] means the simulated robot's own joint order (FL, FR, RL, RR; hip, thigh, calf)
    "controller_joints": [],
    "watchdog": {"timeout_s": 0.1, "damping_kd": 2.0},
    "clock_rate_hz": 100.0,
    "ground_truth_rate_hz": 50.0,
    "record_rate_hz": 50.0,  # trajectory rows for the HIL report (TRAJECTORY_COLUMNS)
    "faults": {
        "freeze_at_s": -1.0,  # sim time freeze_sensor stops; negative: never
        "freeze_s": 0.2,
        "freeze_sensor": "joint_states",  # joint_states | imu
        "nan_at_s": -1.0,  # sim time a burst of NaN messages starts; negative: never
        "nan_count": 10,
        "nan_sensor": "imu",  # imu (angular velocity) | joint_states (positions)
    },
    "topics": {
        role: TOPICS[role].name
        for role in (
            "joint_states",
            "imu",
            "joint_position_commands",
            "joint_kp_commands",
            "joint_kd_commands",
            "clock",
            "ground_truth",
            "sim_fault",
        )
    },  # fmt: skip
}
SENSORS = ("joint_states", "imu")


@dataclasses.dataclass
class _Pending:
    release_s: float  # monotonic time to publish
    publisher: Any
    msg: Any


class LeggedSimBridgeNode:
    def __init__(
        self, transport: Transport, params: dict[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.params = p = with_defaults(DEFAULTS, params, f"{NODE_NAME} parameters")
        self.t = transport
        self.clock = clock
        if p["engine"] != "mujoco":
            raise ValueError(
                f"{NODE_NAME}: engine '{p['engine']}' is not supported; the bridge writes the hardware's "
                "kp / kd into MuJoCo's position actuators, so use engine: mujoco"
            )
        if p["hardware"] not in ("ros2_control", "unitree_go2"):
            raise ValueError(f"{NODE_NAME}: hardware '{p['hardware']}': expected ros2_control or unitree_go2")
        for key in ("freeze_sensor", "nan_sensor"):
            if p["faults"][key] not in SENSORS:
                raise ValueError(f"{NODE_NAME}: faults.{key} '{p['faults'][key]}': expected one of {SENSORS}")
        task = WalkConfig.from_yaml()
        self.sim_dt_s = 1.0 / float(p["sim_rate_hz"])
        substeps = self.sim_dt_s / task.physics_dt_s
        if abs(substeps - round(substeps)) > 1e-9 or round(substeps) < 1:
            raise ValueError(
                f"sim_rate_hz {p['sim_rate_hz']} must make its period a whole multiple of the physics step "
                f"{task.physics_dt_s} s (e.g. 200 or 100)"
            )
        self.every = {
            "joint_states": self._every(p["joint_states"]["rate_hz"], "joint_states.rate_hz"),
            "imu": self._every(p["imu"]["rate_hz"], "imu.rate_hz"),
            "clock": self._every(p["clock_rate_hz"], "clock_rate_hz"),
            "truth": self._every(p["ground_truth_rate_hz"], "ground_truth_rate_hz"),
            "record": self._every(p["record_rate_hz"], "record_rate_hz"),
        }
        config = dataclasses.replace(task, control_rate_hz=float(p["sim_rate_hz"]))
        self.env = QuadrupedWalkEnv(1, config=config, engine="mujoco", seed=int(p["seed"]), autoreset=False)
        self.env.reset(seed=int(p["seed"]), options={"episode_indices": [int(p["episode_index"])]})
        self.engine = self.env.engine
        self.joints = tuple(self.engine.actuator_names)
        # wire (controller) order → engine columns
        self._from_wire = controller_order(self.joints, list(p["controller_joints"]), "controller_joints")
        self.robot = self.engine.params[0]
        self._model = self.engine.models[0]
        self._actuator_ids = np.array([self._model.actuator(n).id for n in self.joints])
        self._strength = np.asarray(self.robot.motor_strength, dtype=np.float64)
        self.target = self.engine.state().joint_pos_rad[0].copy()
        self.kp = np.zeros(len(self.joints))
        self.kd = np.zeros(len(self.joints))
        self.bias_nm = np.zeros(len(self.joints))  # feed-forward torque terms (Go2: kd dq* + τff)
        self._gains_dirty = True
        self.rng = np.random.default_rng([int(p["seed"]), int(p["episode_index"]), 0x1E66])
        topics = p["topics"]
        self._pubs = {
            "joint_states": transport.publisher(topics["joint_states"], TOPICS["joint_states"].type,
                                                TOPICS["joint_states"].qos),
            "imu": transport.publisher(topics["imu"], TOPICS["imu"].type, TOPICS["imu"].qos),
        }  # fmt: skip
        self._clock_pub = transport.publisher(topics["clock"], TOPICS["clock"].type, TOPICS["clock"].qos)
        self._truth_pub = transport.publisher(
            topics["ground_truth"], TOPICS["ground_truth"].type, TOPICS["ground_truth"].qos
        )
        self.go2 = None
        if p["hardware"] == "unitree_go2":
            from deploy.go2.emulator import Go2Emulator

            self.go2 = Go2Emulator(transport, self.joints, float(p["go2"]["sport_mode_s"]))
            self._pubs["joint_states"] = self.go2.state_publisher  # LowState_ carries joints and IMU
            self._foot_force_n = self.robot.total_mass_kg * GRAVITY_M_S2
        else:
            t = TOPICS["joint_position_commands"]
            transport.subscribe(topics["joint_position_commands"], t.type, t.qos, self._on_positions)
            for role, gains in (("joint_kp_commands", "kp"), ("joint_kd_commands", "kd")):
                t = TOPICS[role]
                transport.subscribe(
                    topics[role], t.type, t.qos, lambda msg, gains=gains: self._on_gains(gains, msg)
                )
        t = TOPICS["sim_fault"]
        transport.subscribe(topics["sim_fault"], t.type, t.qos, self._on_fault)
        self.faults_injected: list[dict[str, Any]] = []
        self.loop = RealtimeLoop(float(p["sim_rate_hz"]))
        self._lock = threading.Lock()
        self._pending: collections.deque[_Pending] = collections.deque()
        self.step_count = 0
        self.last_cmd_rx_step: int | None = None
        self.watchdog: dict[str, Any] | None = None
        self._prev_vel = self.engine.state().base_lin_vel_m_s[0].copy()
        self._contact_since_record = False
        # Records for the HIL report.
        self.published = dict.fromkeys(SENSORS, 0)
        self.dropped = dict.fromkeys(SENSORS, 0)
        self.delayed = 0
        self.frozen_out = 0
        self.nan_sent = 0
        self.commands_rx = {"positions": 0, "kp": 0, "kd": 0}
        self.commands_rejected = {"positions": 0, "kp": 0, "kd": 0}
        self.nonfinite_commands = 0
        self.modes: list[dict[str, Any]] = []  # hardware gain mode changes
        self._mode: str | None = None
        self.first_position_rx_sim_s: float | None = None
        self.trajectory: list[list[float]] = []
        self._note_mode()

    def _every(self, rate_hz: float, name: str) -> int:
        n = float(self.params["sim_rate_hz"]) / float(rate_hz)
        if abs(n - round(n)) > 1e-9 or round(n) < 1:
            raise ValueError(f"{name} {rate_hz} Hz must divide sim_rate_hz {self.params['sim_rate_hz']} Hz")
        return int(round(n))

    @property
    def sim_time_s(self) -> float:
        return self.step_count * self.sim_dt_s

    # -- commands (transport thread) -----------------------------------------------------------

    def _on_positions(self, msg: Any) -> None:
        data = convert.float64_array_from_msg(msg, len(self.joints))
        with self._lock:
            if data is None:
                self.commands_rejected["positions"] += 1
                return
            self.commands_rx["positions"] += 1
            if not np.all(np.isfinite(data)):
                self.nonfinite_commands += 1  # the hardware refuses it and holds the previous target
                return
            self.last_cmd_rx_step = self.step_count
            if self.first_position_rx_sim_s is None:
                self.first_position_rx_sim_s = self.sim_time_s
            if self.watchdog is None:
                self.target[self._from_wire] = data

    def _on_gains(self, which: str, msg: Any) -> None:
        """One gain command interface (`kp` or `kd`) of every joint, in controller order."""
        data = convert.float64_array_from_msg(msg, len(self.joints))
        with self._lock:
            if data is None or not np.all(np.isfinite(data)) or np.any(data < 0.0):
                self.commands_rejected[which] += 1
                if data is not None and not np.all(np.isfinite(data)):
                    self.nonfinite_commands += 1
                return
            self.commands_rx[which] += 1
            if self.watchdog is None:
                gains = self.kp if which == "kp" else self.kd
                if not np.array_equal(gains[self._from_wire], data):
                    gains[self._from_wire] = data
                    self._gains_dirty = True

    def _on_fault(self, msg: Any) -> None:
        kind = str(msg.data)
        with self._lock:
            if kind not in ("freeze", "nan"):
                log.warning("unknown fault '%s' on the fault topic; expected 'freeze' or 'nan'", kind)
                return
            self.params["faults"][f"{kind}_at_s"] = self.sim_time_s
            self.faults_injected.append(
                {"fault": kind, "sim_time_s": self.sim_time_s, "mono_s": self.clock()}
            )
            log.info("fault '%s' injected at %.3f s", kind, self.sim_time_s)

    def _note_mode(self) -> None:
        kp, kd = float(np.max(self.kp)), float(np.max(self.kd))
        mode = "zero_torque" if kp == 0.0 and kd == 0.0 else "damping" if kp == 0.0 else "stiff"
        key = f"{mode} {np.mean(self.kp):.4g} {np.mean(self.kd):.4g}"  # stand gains ≠ policy gains
        if key != self._mode:
            self._mode = key
            self.modes.append({
                "sim_time_s": self.sim_time_s, "mono_s": self.clock(), "mode": mode,
                "kp_mean": float(np.mean(self.kp)), "kd_mean": float(np.mean(self.kd)),
            })  # fmt: skip

    def _write_gains(self) -> None:
        """The hardware's kp / kd into the position actuators: force = s (kp (q* − q) − kd q̇)."""
        kp, kd = self._strength * self.kp, self._strength * self.kd
        a = self._actuator_ids
        self._model.actuator_gainprm[a, 0] = kp
        self._model.actuator_biasprm[a, 0] = self._strength * self.bias_nm
        self._model.actuator_biasprm[a, 1] = -kp
        self._model.actuator_biasprm[a, 2] = -kd
        self._gains_dirty = False
        self._note_mode()

    # -- one physics step (loop thread) ---------------------------------------------------------

    def step(self, info: CycleInfo | None = None) -> None:
        now = self.clock()
        with self._lock:
            if self.go2 is not None:
                self._take_go2_command()
            self._check_watchdog(now)
            if self._gains_dirty:
                self._write_gains()
            target = self.target.copy()
        self.engine.step(target[None, :])
        self.step_count += 1
        k, t = self.step_count, self.sim_time_s
        s = self.engine.state()
        self._contact_since_record |= bool(self.engine.ground_contact()[0])
        acc_world = (s.base_lin_vel_m_s[0] - self._prev_vel) / self.sim_dt_s
        self._prev_vel = s.base_lin_vel_m_s[0].copy()
        if k % self.every["record"] == 0:
            self._record(s, t)
        if self.go2 is not None:
            if k % self.every["joint_states"] == 0:
                self._publish_lowstate(s, t, now, acc_world)
        elif k % self.every["joint_states"] == 0:
            self._publish_joint_states(s, t, now)
        if self.go2 is None and k % self.every["imu"] == 0:
            self._publish_imu(s, t, now, acc_world)
        if k % self.every["clock"] == 0:
            self._clock_pub.publish(self.t.make("rosgraph_msgs/msg/Clock", clock=convert.s_to_stamp(t)))
        if k % self.every["truth"] == 0:
            self._truth_pub.publish(
                convert.odometry_msg(
                    self.t.make, t, s.base_pos_m[0], s.base_quat_wxyz[0], s.base_lin_vel_m_s[0],
                    s.base_ang_vel_rad_s[0],
                )
            )  # fmt: skip
        self._flush(now)

    def _record(self, s: Any, t: float) -> None:
        rot = quat_to_rotmat(s.base_quat_wxyz)[0]
        v_body = rotate_world_to_body(s.base_quat_wxyz, s.base_lin_vel_m_s)[0]
        self.trajectory.append([
            t, *s.base_pos_m[0].tolist(), float(s.base_lin_vel_m_s[0, 2]), float(rot[2, 2]),
            float(v_body[0]), float(v_body[1]), float(s.base_ang_vel_rad_s[0, 2]),
            float(self._contact_since_record), float(np.mean(self.kp)), float(np.mean(self.kd)),
            float(self.watchdog is not None),
        ])  # fmt: skip
        self._contact_since_record = False

    def _withheld(self, sensor: str, t: float) -> bool:
        """Freeze or drop this message (counted)."""
        f = self.params["faults"]
        if f["freeze_sensor"] == sensor and 0 <= f["freeze_at_s"] <= t < f["freeze_at_s"] + f["freeze_s"]:
            self.frozen_out += 1
            return True
        if self.rng.random() < self.params[sensor]["drop_probability"]:
            self.dropped[sensor] += 1
            return True
        return False

    def _nan_now(self, sensor: str, t: float) -> bool:
        f = self.params["faults"]
        if f["nan_sensor"] != sensor or f["nan_at_s"] < 0 or t < f["nan_at_s"]:
            return False
        if self.nan_sent >= int(f["nan_count"]):
            return False
        self.nan_sent += 1
        return True

    def _publish_joint_states(self, s: Any, t: float, now: float) -> None:
        if self._withheld("joint_states", t):
            return
        p = self.params["joint_states"]
        n = len(self.joints)
        q = s.joint_pos_rad[0] + self.rng.normal(0.0, p["pos_noise_std_rad"], n)
        qd = s.joint_vel_rad_s[0] + self.rng.normal(0.0, p["vel_noise_std_rad_s"], n)
        if self._nan_now("joint_states", t):
            q = np.full(n, np.nan)
        effort = self.engine.joint_torque_nm()[0]
        msg = convert.joint_states_msg(self.t.make, t, self.joints, q, qd, effort)
        self._send("joint_states", msg, float(p["latency_s"]), now)

    def _publish_imu(self, s: Any, t: float, now: float, acc_world: np.ndarray) -> None:
        if self._withheld("imu", t):
            return
        p = self.params["imu"]
        quat = s.base_quat_wxyz[0]
        # specific force in the body frame: what an accelerometer measures (at rest: +g up)
        f_body = rotate_world_to_body(quat[None], (acc_world + [0.0, 0.0, GRAVITY_M_S2])[None])[0]
        acc = f_body + self.rng.normal(0.0, p["accel_noise_std_m_s2"], 3)
        omega = s.base_ang_vel_rad_s[0] + self.rng.normal(0.0, p["gyro_noise_std_rad_s"], 3)
        if self._nan_now("imu", t):
            omega = np.full(3, np.nan)
        self._send("imu", convert.imu_msg(self.t.make, t, quat, omega, acc), float(p["latency_s"]), now)

    def _take_go2_command(self) -> None:
        """The Go2 emulator's newest accepted LowCmd_ into the hardware's PD terms (under the lock)."""
        assert self.go2 is not None
        self.go2.sim_time_s = self.sim_time_s
        cmd = self.go2.take()
        if cmd is None:
            return
        self.commands_rx["positions"] += 1
        self.last_cmd_rx_step = self.step_count
        if self.first_position_rx_sim_s is None:
            self.first_position_rx_sim_s = self.sim_time_s
        if self.watchdog is None:
            self.target[:], kp, kd, bias = cmd
            old = (self.kp, self.kd, self.bias_nm)
            if not all(np.array_equal(a, b) for a, b in zip((kp, kd, bias), old, strict=True)):
                self.kp[:], self.kd[:], self.bias_nm[:] = kp, kd, bias
                self._gains_dirty = True

    def _publish_lowstate(self, s: Any, t: float, now: float, acc_world: np.ndarray) -> None:
        """The Go2's LowState_: joints, IMU and foot contact in one message (its sensor faults)."""
        assert self.go2 is not None
        if self._withheld("joint_states", t):
            return
        pj, pi = self.params["joint_states"], self.params["imu"]
        n = len(self.joints)
        q = s.joint_pos_rad[0] + self.rng.normal(0.0, pj["pos_noise_std_rad"], n)
        qd = s.joint_vel_rad_s[0] + self.rng.normal(0.0, pj["vel_noise_std_rad_s"], n)
        quat = s.base_quat_wxyz[0]
        f_body = rotate_world_to_body(quat[None], (acc_world + [0.0, 0.0, GRAVITY_M_S2])[None])[0]
        acc = f_body + self.rng.normal(0.0, pi["accel_noise_std_m_s2"], 3)
        omega = s.base_ang_vel_rad_s[0] + self.rng.normal(0.0, pi["gyro_noise_std_rad_s"], 3)
        if self._nan_now("joint_states", t):
            q = np.full(n, np.nan)
        if self._nan_now("imu", t):
            omega = np.full(3, np.nan)
        feet = self.engine.foot_contact()[0]
        force = [round(self._foot_force_n / max(int(feet.sum()), 1)) if c else 0 for c in feet]
        effort = self.engine.joint_torque_nm()[0]
        msg = self.go2.state_msg(t, q, qd, effort, quat, omega, acc, force)
        self._send("joint_states", msg, float(pj["latency_s"]), now)

    def _send(self, sensor: str, msg: Any, latency_s: float, now: float) -> None:
        self.published[sensor] += 1
        self._pending.append(_Pending(now + latency_s, self._pubs[sensor], msg))
        if latency_s > 0.0:
            self.delayed += 1
        self._flush(now)

    def _flush(self, now: float) -> None:
        while self._pending and self._pending[0].release_s <= now + 1e-6:
            item = self._pending.popleft()
            item.publisher.publish(item.msg)

    # -- hardware watchdog ----------------------------------------------------------------------

    def _check_watchdog(self, now: float) -> None:
        if self.watchdog is not None or self.last_cmd_rx_step is None:
            return
        silent_steps = self.step_count - self.last_cmd_rx_step
        if silent_steps * self.sim_dt_s <= self.params["watchdog"]["timeout_s"]:
            return
        self.watchdog = {
            "sim_time_s": self.sim_time_s,
            "mono_s": now,
            "steps_since_last_command": silent_steps,
        }
        log.warning(
            "no joint command for %.0f ms of simulated time: hardware watchdog → damping (latched)",
            silent_steps * self.sim_dt_s * 1e3,
        )
        self.kp[:] = 0.0
        self.kd[:] = float(self.params["watchdog"]["damping_kd"])
        self._gains_dirty = True

    # -- running -------------------------------------------------------------------------------

    def run(self, seconds: float | None = None) -> None:
        self.t.start()
        self.loop.run(self.step, seconds=seconds, realtime=True)

    def stop(self) -> None:
        self.loop.stop()

    def report(self) -> dict[str, Any]:
        s = self.engine.state()
        return {
            "node": NODE_NAME,
            "robot_kind": "legged",
            "sim_time_s": self.sim_time_s,
            "final_pos_m": s.base_pos_m[0].tolist(),
            "loop": self.loop.stats.snapshot().to_dict(),
            "published": self.published,
            "dropped": self.dropped,
            "delayed": self.delayed,
            "frozen_out": self.frozen_out,
            "nan_sent": self.nan_sent,
            "commands_rx": self.commands_rx,
            "commands_rejected": self.commands_rejected,
            "nonfinite_commands": self.nonfinite_commands,
            "first_position_rx_sim_s": self.first_position_rx_sim_s,
            "modes": self.modes,
            "faults_injected": self.faults_injected,
            "watchdog": self.watchdog,
            "trajectory_columns": list(TRAJECTORY_COLUMNS),
            "trajectory": self.trajectory,
            "joints": list(self.joints),
            "standing_height_m": float(self.robot.standing_height_m()),
            "episode": {"seed": int(self.params["seed"]), "index": int(self.params["episode_index"])},
            "engine": self.params["engine"],
            "hardware": self.params["hardware"],
            "go2": None if self.go2 is None else self.go2.report(),
        }


def main(argv: list[str] | None = None) -> int:
    return node_main(
        LeggedSimBridgeNode, NODE_NAME, argv,
        "Tether legged simulator bridge (ros2_control-style topics) on Cyclone DDS or rclpy.",
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
