"""sim_bridge_node: a simulated quadrotor (MuJoCo or PyBullet) impersonating the vehicle on ROS 2.

What a real vehicle's driver and flight controller do, the bridge does:

- publishes the sensors at their own rates (odometry, IMU), each with configurable noise,
  latency and drop probability, stamped with simulation time; `/clock` for use_sim_time;
  the noise-free state on /tether/sim/ground_truth (simulator only);
- applies the newest actuator command it received (matched to its motors by name), held
  between commands (zero-order hold), at every physics step;
- has the hardware-side watchdog of a flight controller: no command for watchdog.timeout_s of
  simulated time (counted in physics steps, so a loaded host cannot stretch or shrink it)
  while flying → its own failsafe (onboard PID holds the position for hold_s, then lands at
  land_speed_m_s, then motors off), latched: commands are ignored from then on.

The vehicle and its initial state are episode (seed, episode_index) of the hover task, exactly
as `tether eval` draws them, so HIL can be compared with evaluation. With hold_until_armed the
vehicle is frozen in that state (sensors still published, clock stopped) until the first
command with thrust arrives, the moment `tether eval` would take its first action.

Faults for HIL (parameters `faults.*`, simulation time; default off): a sensor freeze (no
odometry for freeze_s from freeze_at_s) and a burst of NaN messages on one sensor.

With `hardware: px4` the bridge is a PX4 flight controller on its uXRCE-DDS topics instead
(deploy/px4/emulator.py, parameters `px4.*`): VehicleOdometry (NED / FRD) at the odometry rate and
VehicleStatus out, OffboardControlMode / VehicleCommand / ActuatorMotors in, with PX4's offboard
rules; no /odom, /imu/data or /tether/actuator_command. Motor commands fly the vehicle only while
PX4 is armed in OFFBOARD. PX4's own flight (Hold, then Land, after an offboard loss) is the same
onboard PID as the watchdog's failsafe (deploy/pid.py): the emulated PX4 flies with Tether's PID,
not PX4's controllers. The watchdog is then PX4's offboard loss (no heartbeat for
px4.com_of_loss_t_s), not the command timeout; the sensor faults apply to VehicleOdometry.
This node imports sim/: it is the one part of the robot side allowed to (it is not robot code).
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

from deploy.nodes.params import resolve_path, with_defaults
from deploy.nodes.policy_node import node_main
from deploy.pid import QuadrotorPid
from deploy.px4.emulator import Px4Emulator, Px4EmulatorConfig
from deploy.robot_state import RobotState
from deploy.rotations import quat_from_axis_angle, quat_multiply, quat_to_rotmat
from deploy.runtime.config import LoopOptions
from deploy.runtime.rt_loop import CycleInfo, RealtimeLoop
from deploy.transport import convert
from deploy.transport.base import Transport
from deploy.transport.cdr import ImuEncoder, OdometryEncoder, encode_clock
from deploy.transport.command_auth import guard_from_params
from deploy.transport.names import BASE_FRAME, IMU_FRAME, TOPICS, WORLD_FRAME
from sim.tasks.quadrotor_hover import HoverConfig, QuadrotorHoverEnv

log = logging.getLogger("tether.sim_bridge")

NODE_NAME = "sim_bridge_node"
#: The bridge's fixed-rate loop: the policy node's real-time options, but sleeping up to each
#: step instead of spinning the last 0.3 ms. Simulation time counts in steps, so a step that starts
#: a little late changes nothing the vehicle does; a spin would hold the interpreter (the command
#: callback waits for it) and a core the policy node's cycle needs on a small machine.
BRIDGE_LOOP = LoopOptions(spin_margin_s=0.0)
GRAVITY_M_S2 = 9.81

_SENSOR = {"latency_s": 0.0, "drop_probability": 0.0}
DEFAULTS: dict[str, Any] = {
    # tether: Tether's ROS topics (/odom, /imu/data in, /tether/actuator_command out);
    # px4: a PX4 flight controller on its uXRCE-DDS topics (deploy/px4/emulator.py)
    "hardware": "tether",
    # hardware px4: the emulated PX4's parameters (deploy/px4/emulator.py Px4EmulatorConfig; the
    # defaults are PX4 v1.16's): its settings file (topics, _vN suffixes, MAV_SYS_ID, CA_ROTOR*;
    # "" = deploy/px4/px4_quad_x.yaml), COM_OF_LOSS_T, COM_FAIL_ACT_T, COM_DISARM_LAND, the
    # heartbeat PX4 wants before OFFBOARD, the longest heartbeat gap, the VehicleStatus rate
    "px4": {
        "hardware_config": "",
        "com_of_loss_t_s": 1.0,
        "com_fail_act_t_s": 5.0,
        "com_disarm_land_s": 2.0,
        "offboard_min_heartbeat_s": 1.0,
        "heartbeat_max_gap_s": 0.5,
        "status_rate_hz": 5.0,
    },
    "engine": "mujoco",  # mujoco | pybullet
    "seed": 0,  # the episode is (seed, episode_index) of the hover task, as in `tether eval`
    "episode_index": 0,
    "sim_rate_hz": 200.0,  # physics steps per second (each a whole number of engine substeps)
    "hold_until_armed": True,  # frozen until the first command with thrust
    "odometry": {
        "rate_hz": 100.0,
        "pos_noise_std_m": 0.0,
        "vel_noise_std_m_s": 0.0,
        "att_noise_std_rad": 0.0,
        "gyro_noise_std_rad_s": 0.0,
        **_SENSOR,
    },
    "imu": {"rate_hz": 200.0, "gyro_noise_std_rad_s": 0.0, "accel_noise_std_m_s2": 0.0, **_SENSOR},
    "watchdog": {"timeout_s": 0.1, "hold_s": 0.5, "land_speed_m_s": 0.5},
    "clock_rate_hz": 100.0,
    "ground_truth_rate_hz": 100.0,
    "faults": {
        "freeze_at_s": -1.0,  # sim time the odometry stops; negative: never
        "freeze_s": 0.2,
        "nan_at_s": -1.0,  # sim time a burst of NaN messages starts; negative: never
        "nan_count": 10,  # messages in the burst
        "nan_sensor": "imu",  # imu | odometry
    },
    # the actuator commands' writers (deploy/transport/command_auth.py): authorized_keys, a file of
    # `NAME BASE64` lines, the nodes allowed to move the motors; "" leaves the motors open to any
    # participant on the domain (warned at start-up)
    "command_auth": {"authorized_keys": "", "max_age_s": 2.0, "pair_timeout_s": 0.5},
    "topics": {
        role: TOPICS[role].name for role in ("odometry", "imu", "actuator_command", "clock", "ground_truth")
    },
}


class _CdrWriter:
    """A publisher of messages given as their serialized bytes (deploy.transport.cdr)."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.publish = write


@dataclasses.dataclass
class _Pending:
    release_s: float  # monotonic time to publish
    publisher: Any
    msg: Any
    key: tuple[int, int] | None  # odometry stamp (latency bookkeeping)
    sample_mono_s: float


class SimBridgeNode:
    def __init__(
        self, transport: Transport, params: dict[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.params = p = with_defaults(DEFAULTS, params, f"{NODE_NAME} parameters")
        self.t = transport
        self.clock = clock
        task = HoverConfig.from_yaml()
        self.sim_dt_s = 1.0 / float(p["sim_rate_hz"])
        substeps = self.sim_dt_s / task.physics_dt_s
        if abs(substeps - round(substeps)) > 1e-9 or round(substeps) < 1:
            raise ValueError(
                f"sim_rate_hz {p['sim_rate_hz']} must make its period a whole multiple of the physics step "
                f"{task.physics_dt_s} s (e.g. 200 or 100)"
            )
        self.odom_every = self._every(p["odometry"]["rate_hz"], "odometry.rate_hz")
        self.imu_every = self._every(p["imu"]["rate_hz"], "imu.rate_hz")
        self.clock_every = self._every(p["clock_rate_hz"], "clock_rate_hz")
        self.truth_every = self._every(p["ground_truth_rate_hz"], "ground_truth_rate_hz")
        config = dataclasses.replace(task, control_rate_hz=float(p["sim_rate_hz"]))
        self.env = QuadrotorHoverEnv(
            1, config=config, engine=p["engine"], seed=int(p["seed"]), autoreset=False
        )
        self.env.reset(seed=int(p["seed"]), options={"episode_indices": [int(p["episode_index"])]})
        self.engine = self.env.engine
        self.motors = tuple(self.engine.actuator_names)
        self.params_nominal = self.env.nominal
        self.command = np.full(len(self.motors), self.params_nominal.hover_command)
        self.rng = np.random.default_rng([int(p["seed"]), int(p["episode_index"]), 0xB1D6E])
        topics = p["topics"]
        if p["hardware"] not in ("tether", "px4"):
            raise ValueError(f"{NODE_NAME}: hardware '{p['hardware']}': expected tether or px4")
        self.px4: Px4Emulator | None = None
        # DDS: the messages written as CDR by hand (≈ 1 µs a message, not ≈ 100 µs in cyclonedds'
        # serializer, time the bridge would hold the interpreter and a core)
        self._odom_encoder: OdometryEncoder | None = None
        self._imu_encoder: ImuEncoder | None = None
        self._truth_encoder: OdometryEncoder | None = None
        if p["hardware"] == "px4":
            self.px4 = Px4Emulator(
                transport, self.motors, self.params_nominal.rotor_angles_deg,
                self.params_nominal.rotor_spin_directions, Px4EmulatorConfig.from_params(dict(p["px4"])),
                vehicle=self.params_nominal, rate_loop_dt_s=self.sim_dt_s,
            )  # fmt: skip
            self._odom_pub = self.px4.odometry_publisher
        else:
            self._odom_pub = transport.publisher(
                topics["odometry"], TOPICS["odometry"].type, TOPICS["odometry"].qos
            )
            self._imu_pub = transport.publisher(topics["imu"], TOPICS["imu"].type, TOPICS["imu"].qos)
            if hasattr(self._odom_pub, "publish_cdr"):
                self._odom_pub = _CdrWriter(self._odom_pub.publish_cdr)
                self._odom_encoder = OdometryEncoder(WORLD_FRAME, BASE_FRAME)
            if hasattr(self._imu_pub, "publish_cdr"):
                self._imu_pub = _CdrWriter(self._imu_pub.publish_cdr)
                self._imu_encoder = ImuEncoder(IMU_FRAME)
        self._clock_pub = transport.publisher(topics["clock"], TOPICS["clock"].type, TOPICS["clock"].qos)
        self._truth_pub = transport.publisher(
            topics["ground_truth"], TOPICS["ground_truth"].type, TOPICS["ground_truth"].qos
        )
        self._clock_cdr = getattr(self._clock_pub, "publish_cdr", None)
        if hasattr(self._truth_pub, "publish_cdr"):
            self._truth_pub = _CdrWriter(self._truth_pub.publish_cdr)
            self._truth_encoder = OdometryEncoder(WORLD_FRAME, BASE_FRAME)
        self.guard = guard_from_params(p["command_auth"], NODE_NAME, resolve_path)
        (log.info if self.guard.enabled else log.warning)("actuator commands: %s", self.guard.describe())
        if self.px4 is None:
            t = TOPICS["actuator_command"]
            self.guard.subscribe(transport, topics["actuator_command"], t.type, t.qos, self._on_command)
        self.loop = RealtimeLoop(float(p["sim_rate_hz"]), BRIDGE_LOOP)
        self._lock = threading.Lock()
        self._pending: collections.deque[_Pending] = collections.deque()
        self.frozen = bool(p["hold_until_armed"])
        self.step_count = 0
        self.last_cmd_rx_s: float | None = None
        self.last_cmd_rx_step: int | None = None
        self.flying = False  # commands have been flowing with thrust
        self.watchdog: dict[str, Any] | None = None
        self._pid: QuadrotorPid | None = None
        self._fs_target: np.ndarray | None = None
        # Records for the HIL report.
        self.published = {"odometry": 0, "imu": 0}
        self.dropped = {"odometry": 0, "imu": 0}
        self.delayed = 0  # sensor messages held back by a configured latency
        self.frozen_out = 0
        self.nan_sent = 0
        self.odom_stamps: list[float] = []  # sim times of odometry actually published (not while frozen)
        self._odom_sample_mono: dict[tuple[int, int], float] = {}
        self.latency: list[tuple[tuple[int, int], float, float]] = []  # (stamp, sensor sample, command rx)
        self.commands_rx = 0
        self.commands_rejected = 0
        self.nonfinite_commands = 0
        self.zero_commands_rx: list[float] = []  # monotonic rx time of all-zero (motors-off) commands
        self.last_nonzero_rx_s: float | None = None
        self.crash: dict[str, Any] | None = None
        self.trajectory: list[list[float]] = []  # [sim t, x, y, z, watchdog active]
        self.started_mono_s: float | None = None
        self.loop_cycles = 0  # bridge cycles, also while frozen (the PX4 emulator's timers)
        self._px4_nav: tuple[bool, int] | None = None
        self._px4_descend_from: tuple[float, float] | None = None  # (sim time, z) Land began

    def _every(self, rate_hz: float, name: str) -> int:
        n = float(self.params["sim_rate_hz"]) / float(rate_hz)
        if abs(n - round(n)) > 1e-9 or round(n) < 1:
            raise ValueError(f"{name} {rate_hz} Hz must divide sim_rate_hz {self.params['sim_rate_hz']} Hz")
        return int(round(n))

    @property
    def sim_time_s(self) -> float:
        return self.step_count * self.sim_dt_s

    # -- commands (transport thread) -----------------------------------------------------------

    def _on_command(self, msg: Any) -> None:
        now = self.clock()
        cmd = convert.actuator_command_from_msg(msg, self.motors)
        with self._lock:
            if cmd is None:
                self.commands_rejected += 1
                return
            self.commands_rx += 1
            if not np.all(np.isfinite(cmd)):
                self.nonfinite_commands += 1  # a real ESC would reject it too
                return
            self._note_command_rx(cmd, convert.stamp_key(msg.header.stamp), now)
            if self.watchdog is not None:
                return  # latched onboard failsafe: offboard commands are ignored
            self.command = np.clip(cmd, 0.0, 1.0)
            if self.frozen and np.any(cmd > 0.0):
                self.frozen = False
                self.started_mono_s = now
                log.info("motors command thrust: simulation starts")
            if np.any(cmd > 0.0):
                self.flying = True

    # -- one physics step (loop thread) ---------------------------------------------------------

    def _state(self) -> RobotState:
        return self.engine.state()

    def step(self, info: CycleInfo | None = None) -> None:
        now = self.clock()
        with self._lock:
            if self.px4 is not None:
                self._px4_cycle(now)
            frozen = self.frozen
            if not frozen:
                if self.px4 is not None:
                    cmd = self._px4_command()
                else:
                    self._check_watchdog(now)
                    cmd = self._failsafe_command() if self.watchdog is not None else self.command
                self.engine.step(cmd[None, :])
                self.step_count += 1
                self._check_crash()
        k = self.step_count
        s = self._state()
        t = self.sim_time_s
        if not frozen:
            self.trajectory.append([t, *s.base_pos_m[0].tolist(), float(self.watchdog is not None)])
        # The sensors sample the state the physics step just computed (it holds until the next
        # step). Odometry, the input the policy answers, goes out last: the bridge's other messages
        # would otherwise hold the interpreter while the command that answers it comes in, and
        # its sample time, where latency counts from, is taken as it is read.
        if self.px4 is None and (k % self.imu_every == 0 or frozen):
            self._publish_imu(s, t, self.clock())
        if k % self.clock_every == 0:
            stamp = convert.s_to_stamp(t)
            if self._clock_cdr is not None:
                self._clock_cdr(encode_clock(stamp["sec"], stamp["nanosec"]))
            else:
                self._clock_pub.publish(self.t.make("rosgraph_msgs/msg/Clock", clock=stamp))
        if k % self.truth_every == 0:
            truth = (s.base_pos_m[0], s.base_quat_wxyz[0], s.base_lin_vel_m_s[0], s.base_ang_vel_rad_s[0])
            if self._truth_encoder is not None:
                stamp = convert.s_to_stamp(t)
                self._truth_pub.publish(
                    self._truth_encoder.encode(
                        stamp["sec"], stamp["nanosec"], *convert.odometry_fields(*truth)
                    )
                )
            else:
                self._truth_pub.publish(convert.odometry_msg(self.t.make, t, *truth))
        if k % self.odom_every == 0 or frozen:
            self._publish_odometry(s, t, self.clock(), frozen)
        self._flush(now)

    def _send(self, publisher: Any, msg: Any, latency_s: float, now: float, key: Any = None) -> None:
        self._pending.append(_Pending(now + latency_s, publisher, msg, key, now))
        if latency_s > 0.0:
            self.delayed += 1
        self._flush(now)

    def _flush(self, now: float) -> None:
        while self._pending and self._pending[0].release_s <= now + 1e-6:
            item = self._pending.popleft()
            if item.key is not None:
                with self._lock:
                    self._odom_sample_mono[item.key] = item.sample_mono_s
                    if len(self._odom_sample_mono) > 2048:
                        for old in list(self._odom_sample_mono)[:1024]:
                            del self._odom_sample_mono[old]
            item.publisher.publish(item.msg)

    def _nan_now(self, sensor: str, t: float) -> bool:
        f = self.params["faults"]
        if f["nan_sensor"] != sensor or f["nan_at_s"] < 0 or t < f["nan_at_s"]:
            return False
        return self.nan_sent < int(f["nan_count"])

    def _publish_odometry(self, s: RobotState, t: float, now: float, frozen: bool) -> None:
        p = self.params["odometry"]
        f = self.params["faults"]
        if not frozen and f["freeze_at_s"] >= 0 and f["freeze_at_s"] <= t < f["freeze_at_s"] + f["freeze_s"]:
            self.frozen_out += 1
            return
        if not frozen and self.rng.random() < p["drop_probability"]:
            self.dropped["odometry"] += 1
            return
        pos = s.base_pos_m[0] + self.rng.normal(0.0, p["pos_noise_std_m"], 3)
        vel = s.base_lin_vel_m_s[0] + self.rng.normal(0.0, p["vel_noise_std_m_s"], 3)
        q = s.base_quat_wxyz[0]
        if p["att_noise_std_rad"] > 0:
            small = self.rng.normal(0.0, p["att_noise_std_rad"], 3)
            angle = float(np.linalg.norm(small))
            if angle > 0:
                q = quat_multiply(q, quat_from_axis_angle(small / angle, angle))
        omega = s.base_ang_vel_rad_s[0] + self.rng.normal(0.0, p["gyro_noise_std_rad_s"], 3)
        if not frozen and self._nan_now("odometry", t):
            pos = np.full(3, np.nan)
            self.nan_sent += 1
        if self.px4 is not None:
            var = (p["pos_noise_std_m"] ** 2, p["att_noise_std_rad"] ** 2, p["vel_noise_std_m_s"] ** 2)
            msg, stamp_key = self.px4.odometry_msg(t, pos, q, vel, omega, var)
        elif self._odom_encoder is not None:
            stamp = convert.s_to_stamp(t)
            stamp_key = (stamp["sec"], stamp["nanosec"])
            pose, twist = convert.odometry_fields(pos, q, vel, omega)
            msg = self._odom_encoder.encode(stamp["sec"], stamp["nanosec"], pose, twist)
        else:
            msg = convert.odometry_msg(self.t.make, t, pos, q, vel, omega)
            stamp_key = convert.stamp_key(msg.header.stamp)
        key = None
        if not frozen:
            key = stamp_key
            self.odom_stamps.append(t)
            self.published["odometry"] += 1
        self._send(self._odom_pub, msg, float(p["latency_s"]), now, key)

    def _publish_imu(self, s: RobotState, t: float, now: float) -> None:
        p = self.params["imu"]
        if self.rng.random() < p["drop_probability"]:
            self.dropped["imu"] += 1
            return
        q = s.base_quat_wxyz[0]
        # specific force in the body frame: thrust direction; from the applied collective thrust
        thrust_n = float(np.sum(self.params_nominal.thrust_from_command(self._applied())))
        acc = np.array([0.0, 0.0, thrust_n / self.params_nominal.mass_kg])
        acc = acc + self.rng.normal(0.0, p["accel_noise_std_m_s2"], 3)
        omega = s.base_ang_vel_rad_s[0] + self.rng.normal(0.0, p["gyro_noise_std_rad_s"], 3)
        if self._nan_now("imu", t):
            omega = np.full(3, np.nan)
            self.nan_sent += 1
        if self._imu_encoder is not None:
            stamp = convert.s_to_stamp(t)
            w, x, y, z = q.tolist()
            msg = self._imu_encoder.encode(
                stamp["sec"], stamp["nanosec"], (x, y, z, w), omega.tolist(), acc.tolist()
            )
        else:
            msg = convert.imu_msg(self.t.make, t, q, omega, acc)
        self._send(self._imu_pub, msg, float(p["latency_s"]), now)

    def _applied(self) -> np.ndarray:
        return self.command if self.watchdog is None else self._last_fs_cmd

    def _note_command_rx(self, cmd: np.ndarray, key: Any, now: float) -> None:
        """Bookkeeping of an accepted actuator command (under the lock): receive time and step,
        the sensor-to-command latency of the odometry sample it answers (stamp `key`, None when
        it carries none), and whether it was all zeros."""
        self.last_cmd_rx_s = now
        self.last_cmd_rx_step = self.step_count
        sample = self._odom_sample_mono.pop(key, None) if key is not None else None
        if sample is not None and not self.frozen:
            self.latency.append((key, sample, now))
        if np.all(cmd == 0.0):
            self.zero_commands_rx.append(now)
        else:
            self.last_nonzero_rx_s = now

    # -- hardware px4: the emulated flight controller -------------------------------------------

    def _px4_cycle(self, now: float) -> None:
        """PX4's timers and the newest accepted ActuatorMotors (under the lock)."""
        emu = self.px4
        assert emu is not None
        self.loop_cycles += 1
        s = self._state()
        z = float(s.base_pos_m[0, 2])
        speed = float(np.linalg.norm(s.base_lin_vel_m_s[0]))
        emu.update(self.loop_cycles * self.sim_dt_s, self.sim_time_s, landed=z < 0.1 and speed < 0.3)
        got = emu.take()
        if got is not None:
            cmd, key = got
            self.commands_rx += 1
            if emu.counts["vehicle_rates_setpoint_applied"]:
                # a rate-setpoint flight: its setpoints carry no timestamp_sample, so its latency is not
                # measured; the motor commands that follow are the failsafe's (landing), not the policy's
                key = None
            self._note_command_rx(cmd, key, now)
            rates = emu.setpoint_kind == "rates"  # cmd: [collective thrust, body rates]
            thrust_on = bool(cmd[0] > 0.0) if rates else bool(np.any(cmd > 0.0))
            if not rates:
                self.command = cmd
            if self.frozen and thrust_on:
                self.frozen = False
                self.started_mono_s = now
                log.info(
                    "PX4 armed in OFFBOARD, %s command thrust: simulation starts",
                    "rates" if rates else "motors",
                )
            if thrust_on:
                self.flying = True
        armed, nav = emu.mode()
        if (armed, nav) != self._px4_nav:
            self._px4_nav = (armed, nav)
            fs = emu.failsafe
            if fs is not None and self.watchdog is None:
                self.watchdog = {
                    "sim_time_s": self.sim_time_s,
                    "mono_s": now,
                    "silent_s": fs["silent_s"],  # loop time without a heartbeat
                    "last_command_rx_mono_s": self.last_cmd_rx_s,
                    # loop cycles without a heartbeat, in physics-step units (the kill fault's check)
                    "steps_since_last_command": int(round(fs["silent_s"] / self.sim_dt_s)),
                    "timeout_s": fs["timeout_s"],
                    "reason": "px4 offboard lost (COM_OF_LOSS_T)",
                    "landed": False,
                }
                self._pid = QuadrotorPid(self.params_nominal, 1, self.sim_dt_s)
                self._fs_target = s.base_pos_m[0].copy()
                self._fs_start = self.sim_time_s
        wd = self.watchdog
        if wd is not None and not wd["landed"] and z < 0.1 and speed < 0.3:
            if nav == emu.k_status["NAVIGATION_STATE_AUTO_LAND"] or not armed:  # PX4 touched down
                wd["landed"] = True
                wd["landed_sim_time_s"] = self.sim_time_s

    def _px4_command(self) -> np.ndarray:
        """What PX4 drives the motors with: the accepted command in OFFBOARD, its own Hold / Land
        (the onboard PID) in AUTO_LOITER / AUTO_LAND, nothing while disarmed."""
        emu = self.px4
        assert emu is not None
        armed, nav = emu.mode()
        k = emu.k_status
        if not armed:
            self._last_fs_cmd = np.zeros(len(self.motors))
            return self._last_fs_cmd
        if nav == k["NAVIGATION_STATE_OFFBOARD"]:
            self._px4_descend_from = None
            if emu.setpoint_kind == "rates":  # PX4's rate controller, one step per bridge cycle
                self.command = emu.rate_loop(self._state().base_ang_vel_rad_s[0])
            return self.command
        s = self._state()
        if self._pid is None or self._fs_target is None:  # Hold without an earlier loss: hold here
            self._pid = QuadrotorPid(self.params_nominal, 1, self.sim_dt_s)
            self._fs_target = s.base_pos_m[0].copy()
        target, vel = self._fs_target.copy(), np.zeros(3)
        if nav == k["NAVIGATION_STATE_AUTO_LAND"]:
            if self._px4_descend_from is None:
                self._px4_descend_from = (self.sim_time_s, float(self._fs_target[2]))
            t0, z0 = self._px4_descend_from
            speed = float(self.params["watchdog"]["land_speed_m_s"])
            target[2] = max(-0.05, z0 - (self.sim_time_s - t0) * speed)
            vel[2] = -speed if target[2] > 0 else 0.0
        s.command = np.concatenate([target, vel])[None]
        self._last_fs_cmd = np.clip(0.5 * self._pid.act(s)[0] + 0.5, 0.0, 1.0)
        return self._last_fs_cmd

    # -- watchdog and onboard failsafe ----------------------------------------------------------

    def _check_watchdog(self, now: float) -> None:
        if self.watchdog is not None or not self.flying or self.last_cmd_rx_step is None:
            return
        silent_steps = self.step_count - self.last_cmd_rx_step
        if silent_steps * self.sim_dt_s <= self.params["watchdog"]["timeout_s"]:
            return
        s = self._state()
        silent_s = None if self.last_cmd_rx_s is None else now - self.last_cmd_rx_s
        self.watchdog = {
            "sim_time_s": self.sim_time_s,
            "mono_s": now,
            "silent_s": silent_s,  # wall clock, for the record; the trip counts simulated steps
            "last_command_rx_mono_s": self.last_cmd_rx_s,
            "steps_since_last_command": silent_steps,
            "landed": False,
        }
        log.warning(
            "watchdog: no actuator command for %.0f ms of simulated time: onboard failsafe (hold, land)",
            silent_steps * self.sim_dt_s * 1e3,
        )
        self._pid = QuadrotorPid(self.params_nominal, 1, self.sim_dt_s)
        self._fs_target = s.base_pos_m[0].copy()
        self._fs_start = self.sim_time_s
        self._landed_steps = 0

    _last_fs_cmd = np.zeros(4)

    def _failsafe_command(self) -> np.ndarray:
        assert self._pid is not None and self._fs_target is not None and self.watchdog is not None
        w = self.params["watchdog"]
        s = self._state()
        elapsed = self.sim_time_s - self._fs_start
        target = self._fs_target.copy()
        descending = elapsed > w["hold_s"]
        vel = np.zeros(3)
        if descending:
            target[2] = max(0.0, self._fs_target[2] - (elapsed - w["hold_s"]) * w["land_speed_m_s"])
            vel[2] = -w["land_speed_m_s"] if target[2] > 0 else 0.0
        z = float(s.base_pos_m[0, 2])
        speed = float(np.linalg.norm(s.base_lin_vel_m_s[0]))
        if descending and z < 0.1 and speed < 0.3:
            self._landed_steps += 1
        if self._landed_steps * self.sim_dt_s >= 0.2 or self.watchdog["landed"]:
            self.watchdog["landed"] = True
            self.watchdog.setdefault("landed_sim_time_s", self.sim_time_s)
            self._last_fs_cmd = np.zeros(len(self.motors))
            return self._last_fs_cmd
        s.command = np.concatenate([target, vel])[None]
        action = self._pid.act(s)[0]
        self._last_fs_cmd = np.clip(0.5 * action + 0.5, 0.0, 1.0)
        return self._last_fs_cmd

    def _check_crash(self) -> None:
        if self.crash is not None:
            return
        s = self._state()
        tilt_cos = float(quat_to_rotmat(s.base_quat_wxyz)[0, 2, 2])
        speed = float(np.linalg.norm(s.base_lin_vel_m_s[0]))
        landed_ok = self.watchdog is not None and self.watchdog.get("landed")
        contact = bool(self.engine.ground_contact()[0])
        reason = None
        if not np.all(np.isfinite(s.base_pos_m)):
            reason = "state not finite"
        elif tilt_cos < 0.0:
            reason = "upside down"
        elif contact and not landed_ok and (speed > 1.0 or tilt_cos < np.cos(np.deg2rad(30.0))):
            reason = f"hit the ground at {speed:.2f} m/s"
        if reason is not None:
            self.crash = {"sim_time_s": self.sim_time_s, "mono_s": self.clock(), "reason": reason}
            log.warning("crash at %.2f s: %s", self.sim_time_s, reason)

    # -- running -------------------------------------------------------------------------------

    def run(self, seconds: float | None = None) -> None:
        self.t.start()
        # realtime=True pauses the cyclic GC (its pauses on the growing records would stall the
        # sensors for tens of ms) and tightens timer slack, as the policy node's loop does.
        self.loop.run(self.step, seconds=seconds, realtime=True)

    def stop(self) -> None:
        self.loop.stop()

    def report(self) -> dict[str, Any]:
        s = self._state()
        return {
            "node": NODE_NAME,
            "sim_time_s": self.sim_time_s,
            "started_mono_s": self.started_mono_s,
            "final_pos_m": s.base_pos_m[0].tolist(),
            "final_speed_m_s": float(np.linalg.norm(s.base_lin_vel_m_s[0])),
            "loop": self.loop.stats.snapshot().to_dict(),
            # which real-time options took effect (the loop's defaults, deploy/runtime/runtime.yaml:
            # SCHED_FIFO 50, mlockall, GC frozen): on a busy HIL computer the sensors stay on time
            "realtime": None if self.loop.realtime_status is None else self.loop.realtime_status.to_dict(),
            "published": self.published,
            "dropped": self.dropped,
            "delayed": self.delayed,
            "frozen_out": self.frozen_out,
            "nan_sent": self.nan_sent,
            "odom_stamps": self.odom_stamps,
            "latency": [[list(k), a, b] for k, a, b in self.latency],
            "commands_rx": self.commands_rx,
            "commands_rejected": self.commands_rejected,
            "command_auth": self.guard.stats(),
            # PX4: ActuatorMotors with an infinite control (NaN is a stopped motor there, not a fault)
            "nonfinite_commands": self.nonfinite_commands
            + (0 if self.px4 is None else self.px4.motors_ignored.get("not_finite", 0)),
            "zero_commands_rx": self.zero_commands_rx,
            "last_nonzero_rx_s": self.last_nonzero_rx_s,
            "watchdog": self.watchdog,
            "crash": self.crash,
            "trajectory": self.trajectory,
            "motors": list(self.motors),
            "episode": {"seed": int(self.params["seed"]), "index": int(self.params["episode_index"])},
            "engine": self.params["engine"],
            "hardware": self.params["hardware"],
            "px4": None if self.px4 is None else self.px4.report(),
        }


def main(argv: list[str] | None = None) -> int:
    return node_main(
        SimBridgeNode, NODE_NAME, argv, "Tether simulator bridge node on Cyclone DDS (ROS 2 wire format)."
    )


if __name__ == "__main__":
    raise SystemExit(main())
