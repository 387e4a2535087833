"""PX4's side of the uXRCE-DDS offboard protocol, for the simulator bridge (HIL). No simulator here:
the quadrotor bridge (deploy/nodes/sim_bridge_node.py, `hardware: px4`) supplies the simulated
state and flies the motor command this module accepts, or PX4's own fallback when it says so.

What PX4 does, the emulator does (px4_msgs from deploy/px4/messages.py, topics, `_vN` suffixes,
MAV_SYS_ID and CA_ROTOR geometry from the same hardware settings the interface reads):

- writes <ns>/out/vehicle_odometry (VehicleOdometry: NED world, FRD body, pose_frame NED,
  velocity_frame NED, µs timestamps) and <ns>/out/vehicle_status (VehicleStatus: arming_state,
  nav_state, the arming / disarming reasons, failsafe) with PX4's writer QoS: best effort,
  transient local (`px4_out`); VehicleStatus at status_rate_hz and at once on every change;
- reads <ns>/in/offboard_control_mode, vehicle_command and actuator_motors best effort, as PX4's
  readers do (`px4_read`: the same QoS);
- proof of life: OffboardControlMode is the heartbeat. A stream counts from its first message
  and restarts after a gap longer than heartbeat_max_gap_s (PX4 wants > 2 Hz);
- VehicleCommand addressed to another target_system / target_component is ignored (counted).
  DO_SET_MODE with the hardware settings' offboard_mode_params switches nav_state to OFFBOARD
  only after the heartbeat has streamed for more than offboard_min_heartbeat_s; otherwise, and
  for any other mode, it is refused (counted with the reason). ARM (COMPONENT_ARM_DISARM,
  param1 1) is accepted only in OFFBOARD with proof of life: the emulated vehicle has no manual
  control (COM_RC_IN_MODE 4), so PX4 refuses to arm in a manual mode. DISARM is accepted on the
  ground, or in the air only when forced (param2 21196, MAVLink's force value), as PX4's commander;
- ActuatorMotors is applied only while armed, in OFFBOARD and with the newest heartbeat's
  direct_actuator set; anything else is ignored and counted by reason. control[i] drives PX4 motor
  i+1 (mapped to the simulated motors by position and spin, deploy/px4/motors.py); NaN is a
  stopped (disarmed) motor, an infinite value refuses the message;
- VehicleRatesSetpoint (<ns>/in/vehicle_rates_setpoint) likewise only while armed, in OFFBOARD and
  with the newest heartbeat's body_rate set (reasons as for motors, plus not_body_rate and
  no_rate_controller when the vehicle parameters have no rate-loop gains); a non-finite field
  refuses it. Accepted, it is flown through PX4's rate controller, modelled by the same rate loop
  the CTBR tasks train with (deploy/rate_controller.py, the vehicle's rate_controller gains), one
  rate-loop step per bridge cycle (`rate_loop`); reset_integral zeroes its integrators;
- offboard loss: in OFFBOARD, no heartbeat for com_of_loss_t_s (PX4's COM_OF_LOSS_T) → armed: the
  failsafe, PX4's Hold (nav_state AUTO_LOITER, `failsafe` true) for com_fail_act_t_s
  (COM_FAIL_ACT_T), then the offboard-loss action Land (COM_OBL_RC_ACT 4: AUTO_LAND), then
  disarmed com_disarm_land_s (COM_DISARM_LAND) after touching down (latest_disarming_reason
  AUTO_DISARM_LAND); disarmed: back to the mode before OFFBOARD. A new DO_SET_MODE offboard with
  proof of life takes the vehicle back into OFFBOARD while it is still armed.

Timers run on the bridge's loop time (`update(now_s)`: its cycles times its period), which also
runs while the simulation is held frozen before the first command, and which a stalled host
cannot advance behind the emulator's back; message stamps are simulation time in µs (PX4 in
lockstep SITL stamps with the simulator's clock).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deploy.px4 import frames
from deploy.px4 import messages as px4
from deploy.px4.interface import DEFAULT_CONFIG, Px4Config
from deploy.px4.motors import from_px4_controls, map_motors
from deploy.quadrotor_params import QuadrotorParams
from deploy.rate_controller import RateController

log = logging.getLogger("tether.px4_emulator")

#: MAVLink MAV_CMD_COMPONENT_ARM_DISARM param2 that forces a disarm in the air (common.xml).
FORCE_DISARM_PARAM2 = 21196.0
QOS_PX4_WRITERS = "px4_out"  # best effort, transient local
QOS_PX4_READERS = "px4_read"  # best effort


@dataclass(frozen=True)
class Px4EmulatorConfig:
    """The emulated PX4's parameters (the bridge's `px4` block; defaults are PX4 v1.16's own)."""

    hardware_config: str = ""  # PX4 settings (topics, _vN, MAV_SYS_ID, CA_ROTOR*): "" = px4_quad_x.yaml
    com_of_loss_t_s: float = 1.0  # COM_OF_LOSS_T: no heartbeat this long in OFFBOARD → failsafe
    com_fail_act_t_s: float = 5.0  # COM_FAIL_ACT_T: Hold this long before the failsafe action
    com_disarm_land_s: float = 2.0  # COM_DISARM_LAND: disarm this long after touching down
    offboard_min_heartbeat_s: float = 1.0  # heartbeat streamed this long before OFFBOARD is allowed
    heartbeat_max_gap_s: float = 0.5  # a longer gap restarts the stream (PX4 wants > 2 Hz)
    status_rate_hz: float = 5.0  # VehicleStatus at this rate, and at once on a change

    @classmethod
    def from_params(cls, d: dict[str, Any]) -> Px4EmulatorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"px4 emulator parameters: unknown {sorted(unknown)}; expected some of {sorted(known)}"
            )
        cfg = cls(**{k: (str(v) if k == "hardware_config" else float(v)) for k, v in d.items()})
        for name in ("com_of_loss_t_s", "offboard_min_heartbeat_s", "heartbeat_max_gap_s", "status_rate_hz"):
            if not getattr(cfg, name) > 0.0:
                raise ValueError(f"px4 emulator parameter {name} is {getattr(cfg, name)}; expected > 0")
        return cfg


class Px4Emulator:
    """PX4's offboard rules on a transport; the bridge calls update() every loop cycle."""

    def __init__(
        self,
        transport: Any,
        motors: Sequence[str],
        rotor_angles_deg: Sequence[float],
        rotor_spins: Sequence[int],
        config: Px4EmulatorConfig,
        hardware: Px4Config | None = None,
        vehicle: QuadrotorParams | None = None,
        rate_loop_dt_s: float | None = None,
    ) -> None:
        """`vehicle` and `rate_loop_dt_s`: what PX4's rate controller is configured for and its
        period (the bridge's cycle); without both, or without rate_controller gains in `vehicle`,
        VehicleRatesSetpoint is refused (no_rate_controller)."""
        from deploy.nodes.params import resolve_path

        self.cfg = config
        self.hw = hardware or Px4Config.from_yaml(
            resolve_path(config.hardware_config) if config.hardware_config else DEFAULT_CONFIG
        )
        px4.register(self.hw.msg_dir or None)
        self.t = transport
        self.k_status = px4.constants("VehicleStatus")
        self.k_cmd = px4.constants("VehicleCommand")
        self.k_odom = px4.constants("VehicleOdometry")
        self.motors = tuple(motors)
        #: PX4 control index of each simulated motor (by position and spin, as the interface maps them)
        self.index = map_motors(
            self.motors, rotor_angles_deg, rotor_spins, self.hw.rotors, self.hw.angle_tolerance_deg
        )
        h = self.hw
        self.topics = {
            "odometry": h.topic("out", "vehicle_odometry", "VehicleOdometry"),
            "status": h.topic("out", "vehicle_status", "VehicleStatus"),
            "heartbeat": h.topic("in", "offboard_control_mode", "OffboardControlMode"),
            "command": h.topic("in", "vehicle_command", "VehicleCommand"),
            "motors": h.topic("in", "actuator_motors", "ActuatorMotors"),
            "rates": h.topic("in", "vehicle_rates_setpoint", "VehicleRatesSetpoint"),
        }
        #: PX4's rate controller (None: this vehicle has no rate-loop gains; rates are refused)
        self.rate_controller: RateController | None = None
        if vehicle is not None and vehicle.rate_controller is not None and rate_loop_dt_s is not None:
            self.rate_controller = RateController([vehicle], rate_loop_dt_s)
        self.odometry_publisher = transport.publisher(
            self.topics["odometry"], px4.ros_type("VehicleOdometry"), QOS_PX4_WRITERS
        )
        self._status_pub = transport.publisher(
            self.topics["status"], px4.ros_type("VehicleStatus"), QOS_PX4_WRITERS
        )
        for role, name, cb in (
            ("heartbeat", "OffboardControlMode", self._on_heartbeat),
            ("command", "VehicleCommand", self._on_command),
            ("motors", "ActuatorMotors", self._on_motors),
            ("rates", "VehicleRatesSetpoint", self._on_rates),
        ):
            transport.subscribe(self.topics[role], px4.ros_type(name), QOS_PX4_READERS, cb)
        self._lock = threading.Lock()
        k = self.k_status
        self.now_s = 0.0  # loop time (see the module docstring)
        self.sim_time_s = 0.0
        self.armed = False
        self.manual_nav_state = int(k["NAVIGATION_STATE_POSCTL"])  # the mode before OFFBOARD
        self.nav_state = self.manual_nav_state
        self.arming_reason = int(k["ARM_DISARM_REASON_TRANSITION_TO_STANDBY"])
        self.disarming_reason = int(k["ARM_DISARM_REASON_TRANSITION_TO_STANDBY"])
        self._hb_first: float | None = None
        self._hb_last: float | None = None
        self._direct_actuator = False
        self._body_rate = False
        #: what the newest accepted setpoint was: "motors" (ActuatorMotors) or "rates" (VehicleRatesSetpoint)
        self.setpoint_kind = "motors"
        self._rates: np.ndarray | None = None  # newest accepted CTBR setpoint [c, ω* FLU]
        self._motors: np.ndarray | None = None  # newest accepted command, simulated motors' order
        self._motors_key: tuple[int, int] | None = None
        self._fresh = False
        self._landed_since: float | None = None
        self._status_last: float | None = None
        self._status_key: tuple[int, int, bool] | None = None
        #: the failsafe after an offboard loss (None: never happened); the bridge reports it
        self.failsafe: dict[str, Any] | None = None
        self._failsafe_since: float | None = None
        self.counts: dict[str, int] = {
            "heartbeat_rx": 0, "vehicle_command_rx": 0, "wrong_target": 0, "actuator_motors_rx": 0,
            "actuator_motors_applied": 0, "odometry_sent": 0, "status_sent": 0,
            "vehicle_rates_setpoint_rx": 0, "vehicle_rates_setpoint_applied": 0,
        }  # fmt: skip
        #: VehicleRatesSetpoint ignored, by reason (as motors_ignored, plus not_body_rate, no_rate_controller)
        self.rates_ignored: dict[str, int] = {}
        #: ActuatorMotors ignored, by reason (not_armed, not_offboard, not_direct_actuator, not_finite)
        self.motors_ignored: dict[str, int] = {}
        #: VehicleCommands refused, by reason
        self.commands_refused: dict[str, int] = {}
        #: every change of arming / nav_state and every refusal, in order (loop time, sim time)
        self.events: list[dict[str, Any]] = []

    # -- inputs (transport thread) ----------------------------------------------------------------

    def _event(self, kind: str, detail: str) -> None:
        self.events.append(
            {"t_s": self.now_s, "sim_time_s": self.sim_time_s, "event": kind, "detail": detail}
        )
        if len(self.events) > 2000:
            del self.events[1000:1500]  # keep the start and the end of a long run

    def _proof_of_life(self) -> tuple[bool, float]:
        """(heartbeat streamed long enough for OFFBOARD, for how long it has streamed)."""
        if self._hb_first is None or self._hb_last is None:
            return False, 0.0
        if self.now_s - self._hb_last > self.cfg.heartbeat_max_gap_s:
            return False, 0.0
        streamed = self.now_s - self._hb_first
        return streamed > self.cfg.offboard_min_heartbeat_s, streamed

    def _on_heartbeat(self, msg: Any) -> None:
        with self._lock:
            self.counts["heartbeat_rx"] += 1
            if self._hb_last is None or self.now_s - self._hb_last > self.cfg.heartbeat_max_gap_s:
                self._hb_first = self.now_s
            self._hb_last = self.now_s
            self._direct_actuator = bool(msg.direct_actuator)
            self._body_rate = bool(msg.body_rate)

    def _refuse(self, reason: str, detail: str) -> None:
        self.commands_refused[reason] = self.commands_refused.get(reason, 0) + 1
        self._event("refused", f"{reason}: {detail}")
        log.info("vehicle command refused: %s: %s", reason, detail)

    def _on_command(self, msg: Any) -> None:
        with self._lock:
            self.counts["vehicle_command_rx"] += 1
            if int(msg.target_system) not in (0, self.hw.target_system) or int(msg.target_component) not in (
                0,
                self.hw.target_component,
            ):
                self.counts["wrong_target"] += 1
                return
            k = self.k_cmd
            cmd = int(msg.command)
            if cmd == k["VEHICLE_CMD_DO_SET_MODE"]:
                self._set_mode(float(msg.param1), float(msg.param2))
            elif cmd == k["VEHICLE_CMD_COMPONENT_ARM_DISARM"]:
                if float(msg.param1) >= 0.5:
                    self._arm()
                else:
                    self._disarm(forced=float(msg.param2) == FORCE_DISARM_PARAM2)
            else:
                self._refuse(
                    "unsupported_command", f"command {cmd}: the emulator handles DO_SET_MODE and ARM_DISARM"
                )

    def _set_mode(self, base_mode: float, custom_main_mode: float) -> None:
        want = tuple(float(x) for x in self.hw.offboard_mode_params)
        if (base_mode, custom_main_mode) != want[:2]:
            self._refuse(
                "unsupported_mode",
                f"DO_SET_MODE ({base_mode:g}, {custom_main_mode:g}); the emulator switches only to OFFBOARD "
                f"{want[:2]}",
            )
            return
        ok, streamed = self._proof_of_life()
        if not ok:
            self._refuse(
                "offboard_no_heartbeat",
                f"OffboardControlMode streamed {streamed:.2f} s; PX4 needs more than "
                f"{self.cfg.offboard_min_heartbeat_s:g} s of it (> 2 Hz) before switching to OFFBOARD",
            )
            return
        if self.nav_state != self.k_status["NAVIGATION_STATE_OFFBOARD"]:
            self._set_nav("NAVIGATION_STATE_OFFBOARD", "DO_SET_MODE offboard")
            self._failsafe_since = None

    def _arm(self) -> None:
        if self.armed:
            return
        if self.nav_state != self.k_status["NAVIGATION_STATE_OFFBOARD"]:
            self._refuse(
                "arm_not_offboard",
                f"nav_state {self.nav_state}: without manual control PX4 arms only in OFFBOARD; switch first",
            )
            return
        if not self._proof_of_life()[0]:
            self._refuse("arm_no_heartbeat", "OFFBOARD without proof of life (OffboardControlMode)")
            return
        self.armed = True
        self.arming_reason = int(self.k_status["ARM_DISARM_REASON_COMMAND_EXTERNAL"])
        self._event("armed", "ARM command")
        log.info("armed (OFFBOARD)")

    def _disarm(self, forced: bool) -> None:
        if not self.armed:
            return
        if self._landed_since is None and not forced:
            self._refuse("disarm_not_landed", "DISARM in the air; PX4 disarms in the air only when forced")
            return
        self._set_disarmed(
            "ARM_DISARM_REASON_COMMAND_EXTERNAL", "DISARM command" + (" (forced)" if forced else "")
        )

    def _set_disarmed(self, reason: str, detail: str) -> None:
        self.armed = False
        self.disarming_reason = int(self.k_status[reason])
        self._motors = None
        self._event("disarmed", detail)
        log.info("disarmed: %s", detail)

    def _set_nav(self, name: str, detail: str) -> None:
        self.nav_state = int(self.k_status[name])
        self._event("nav_state", f"{name} ({self.nav_state}): {detail}")
        log.info("nav_state %s: %s", name, detail)

    def _not_engaged(self) -> str | None:
        """Why any setpoint is refused: not armed, or not in OFFBOARD; None when engaged."""
        if not self.armed:
            return "not_armed"
        if self.nav_state != self.k_status["NAVIGATION_STATE_OFFBOARD"]:
            return "not_offboard"
        return None

    def _on_motors(self, msg: Any) -> None:
        with self._lock:
            self.counts["actuator_motors_rx"] += 1
            reason = self._not_engaged()
            if reason is None and not self._direct_actuator:
                reason = "not_direct_actuator"
            controls = from_px4_controls(list(msg.control), self.index)
            if reason is None and np.any(np.isinf(controls)):
                reason = "not_finite"
            if reason is not None:
                self.motors_ignored[reason] = self.motors_ignored.get(reason, 0) + 1
                return
            # NaN: the motor is disarmed (stopped); the rest clipped to PX4's [0, 1]
            self._motors = np.clip(np.nan_to_num(controls, nan=0.0), 0.0, 1.0)
            self.setpoint_kind = "motors"
            us = int(msg.timestamp_sample)
            self._motors_key = (us // 1_000_000, (us % 1_000_000) * 1000)
            self._fresh = True
            self.counts["actuator_motors_applied"] += 1

    def _on_rates(self, msg: Any) -> None:
        with self._lock:
            self.counts["vehicle_rates_setpoint_rx"] += 1
            reason = self._not_engaged()
            if reason is None and not self._body_rate:
                reason = "not_body_rate"
            elif reason is None and self.rate_controller is None:
                reason = "no_rate_controller"
            rates_frd = np.array([float(msg.roll), float(msg.pitch), float(msg.yaw)])
            thrust_body = np.asarray(msg.thrust_body, dtype=np.float64)
            if reason is None and not (np.all(np.isfinite(rates_frd)) and np.all(np.isfinite(thrust_body))):
                reason = "not_finite"
            if reason is not None:
                self.rates_ignored[reason] = self.rates_ignored.get(reason, 0) + 1
                return
            assert self.rate_controller is not None
            if bool(msg.reset_integral) or self.setpoint_kind != "rates":
                self.rate_controller.reset(np.array([0]))
            self._rates = frames.rates_setpoint_to_ctbr(rates_frd, thrust_body)
            self._motors = self._rates.copy()
            self.setpoint_kind = "rates"
            us = int(msg.timestamp)
            self._motors_key = (us // 1_000_000, (us % 1_000_000) * 1000)
            self._fresh = True
            self.counts["vehicle_rates_setpoint_applied"] += 1

    # -- the bridge's side (loop thread) -----------------------------------------------------------

    def take(self) -> tuple[np.ndarray, tuple[int, int] | None] | None:
        """The newest accepted ActuatorMotors (simulated motors' order, NaN → 0) and its
        timestamp_sample as (s, ns), once; None when nothing new arrived. After a
        VehicleRatesSetpoint (setpoint_kind "rates"): its CTBR setpoint [c, roll, pitch, yaw rate
        FLU] and its timestamp; the motors then come from rate_loop() every cycle."""
        with self._lock:
            if not self._fresh or self._motors is None:
                return None
            self._fresh = False
            return self._motors.copy(), self._motors_key

    def rate_loop(self, omega_flu_rad_s: np.ndarray) -> np.ndarray:
        """One step of PX4's rate controller on the newest accepted rate setpoint: motor commands
        (simulated motors' order, [0, 1]) from the measured body rates (FLU, rad/s)."""
        with self._lock:
            if self.rate_controller is None or self._rates is None:
                raise RuntimeError("rate_loop needs an accepted VehicleRatesSetpoint (setpoint_kind 'rates')")
            sp = self._rates
        omega = np.asarray(omega_flu_rad_s, dtype=np.float64).reshape(1, 3)
        return self.rate_controller.step(sp[None, :], omega)[0]

    def offboard(self) -> bool:
        """Armed and in OFFBOARD: the accepted motor commands fly the vehicle."""
        with self._lock:
            return self.armed and self.nav_state == self.k_status["NAVIGATION_STATE_OFFBOARD"]

    def mode(self) -> tuple[bool, int]:
        with self._lock:
            return self.armed, self.nav_state

    def update(self, now_s: float, sim_time_s: float, landed: bool) -> None:
        """One bridge cycle at loop time `now_s`: offboard loss, the failsafe's progress, the landed
        auto-disarm, and VehicleStatus when due or changed. `landed`: PX4's land detector."""
        with self._lock:
            self.now_s, self.sim_time_s = now_s, sim_time_s
            if not landed:
                self._landed_since = None
            elif self._landed_since is None:
                self._landed_since = now_s
            k = self.k_status
            in_offboard = self.nav_state == k["NAVIGATION_STATE_OFFBOARD"]
            silent_s = math.inf if self._hb_last is None else now_s - self._hb_last
            if in_offboard and silent_s > self.cfg.com_of_loss_t_s:
                limit = self.cfg.com_of_loss_t_s
                detail = f"no OffboardControlMode for {silent_s:.3f} s (COM_OF_LOSS_T {limit:g} s)"
                if self.armed:
                    self._failsafe_since = now_s
                    if self.failsafe is None:
                        self.failsafe = {
                            "t_s": now_s, "sim_time_s": sim_time_s, "silent_s": silent_s,
                            "timeout_s": self.cfg.com_of_loss_t_s, "reason": "offboard_lost",
                        }  # fmt: skip
                    self._set_nav("NAVIGATION_STATE_AUTO_LOITER", f"offboard lost: {detail}; Hold")
                else:
                    self._set_nav(
                        self._nav_name(self.manual_nav_state), f"offboard lost while disarmed: {detail}"
                    )
            if self._failsafe_since is not None and self.armed:
                if (
                    self.nav_state == k["NAVIGATION_STATE_AUTO_LOITER"]
                    and now_s - self._failsafe_since >= self.cfg.com_fail_act_t_s
                ):
                    self._set_nav("NAVIGATION_STATE_AUTO_LAND", "offboard-loss action Land (COM_OBL_RC_ACT)")
                if (
                    self.nav_state == k["NAVIGATION_STATE_AUTO_LAND"]
                    and self._landed_since is not None
                    and now_s - self._landed_since >= self.cfg.com_disarm_land_s
                ):
                    self._set_disarmed("ARM_DISARM_REASON_AUTO_DISARM_LAND", "landed (COM_DISARM_LAND)")
                    if self.failsafe is not None:
                        self.failsafe.setdefault("disarmed_sim_time_s", sim_time_s)
            key = (self.armed, self.nav_state, self._failsafe_since is not None)
            due = (
                self._status_last is None or now_s - self._status_last >= 1.0 / self.cfg.status_rate_hz - 1e-9
            )
            if key != self._status_key or due:
                self._status_key, self._status_last = key, now_s
                self._publish_status(sim_time_s)

    def _nav_name(self, value: int) -> str:
        for name, v in self.k_status.items():
            if name.startswith("NAVIGATION_STATE_") and v == value:
                return name
        raise ValueError(f"nav_state {value} is not one of VehicleStatus's NAVIGATION_STATE_* constants")

    def _publish_status(self, sim_time_s: float) -> None:
        k = self.k_status
        us = int(round(sim_time_s * 1e6))
        self._status_pub.publish(
            self.t.make(
                px4.ros_type("VehicleStatus"),
                timestamp=us,
                arming_state=k["ARMING_STATE_ARMED"] if self.armed else k["ARMING_STATE_DISARMED"],
                nav_state=self.nav_state,
                nav_state_user_intention=self.nav_state,
                nav_state_timestamp=us,
                latest_arming_reason=self.arming_reason,
                latest_disarming_reason=self.disarming_reason,
                failsafe=self._failsafe_since is not None,
                vehicle_type=k["VEHICLE_TYPE_ROTARY_WING"],
                system_id=self.hw.target_system,
                component_id=self.hw.target_component,
                pre_flight_checks_pass=True,
            )
        )
        self.counts["status_sent"] += 1

    def odometry_msg(
        self,
        sim_time_s: float,
        pos_enu_m: np.ndarray,
        quat_enu_flu_wxyz: np.ndarray,
        lin_vel_enu_m_s: np.ndarray,
        ang_vel_flu_rad_s: np.ndarray,
        variances: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> tuple[Any, tuple[int, int]]:
        """A VehicleOdometry (NED / FRD, stamped sim time in µs) from the simulated state in Tether's
        frames, and its stamp as (s, ns); the caller publishes it on `odometry_publisher` (now or after
        an injected latency). `variances`: position, orientation, velocity (each on all three axes)."""
        us = int(round(sim_time_s * 1e6))
        k = self.k_odom
        with np.errstate(invalid="ignore"):  # a NaN fault passes through as NaN
            q = frames.quat_enu_flu_to_ned_frd(np.asarray(quat_enu_flu_wxyz, dtype=np.float64))
        msg = self.t.make(
            px4.ros_type("VehicleOdometry"),
            timestamp=us,
            timestamp_sample=us,
            pose_frame=k["POSE_FRAME_NED"],
            position=[float(x) for x in frames.enu_to_ned(pos_enu_m)],
            q=[float(x) for x in q],
            velocity_frame=k["VELOCITY_FRAME_NED"],
            velocity=[float(x) for x in frames.enu_to_ned(lin_vel_enu_m_s)],
            angular_velocity=[float(x) for x in frames.flu_to_frd(ang_vel_flu_rad_s)],
            position_variance=[float(variances[0])] * 3,
            orientation_variance=[float(variances[1])] * 3,
            velocity_variance=[float(variances[2])] * 3,
            quality=100,
        )
        self.counts["odometry_sent"] += 1
        return msg, (us // 1_000_000, (us % 1_000_000) * 1000)

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "hardware": "px4",
                "hardware_config": str(self.hw.path) if self.hw.path else None,
                "topics": dict(self.topics),
                "motor_index": dict(zip(self.motors, self.index, strict=True)),
                "parameters": dataclasses.asdict(self.cfg),
                "armed": self.armed,
                "nav_state": self.nav_state,
                "counts": dict(self.counts),
                "motors_ignored": dict(self.motors_ignored),
                "rates_ignored": dict(self.rates_ignored),
                "setpoint_kind": self.setpoint_kind,
                "commands_refused": dict(self.commands_refused),
                "failsafe": None if self.failsafe is None else dict(self.failsafe),
                "events": list(self.events),
            }
