"""The PX4 hardware interface (policy node side): px4_msgs over uXRCE-DDS ↔ the runtime.

In   <ns>/out/vehicle_odometry  VehicleOdometry → the runtime's odometry (frames converted in
                                deploy/px4/frames.py); refused, counted by reason and logged:
                                  px4_odometry_frame     pose_frame not NED, or velocity_frame
                                                         neither NED nor body FRD
                                  px4_stamp_backwards    timestamp_sample earlier than the last one
                                  px4_stamp_future       timestamp_sample ahead of the smallest
                                                         delay seen so far by more than the tolerance
                                (a refused odometry never reaches the runtime: it goes stale there,
                                with the runtime's own failsafe)
     <ns>/out/vehicle_status    arming state and nav_state (the vehicle's mode)
Out  <ns>/in/offboard_control_mode  the heartbeat, heartbeat_rate_hz, always: direct_actuator set
                                    for a motor-level policy, body_rate set for a CTBR one
     <ns>/in/vehicle_command        DO_SET_MODE offboard and ARM / DISARM, repeated until PX4 complies
     and, only while VehicleStatus (fresh) says armed + OFFBOARD, one of (by the policy's contract,
     `action_mode`):
     <ns>/in/actuator_motors        motor-level (action_mode actuators): the runtime's motor command
                                    in PX4's order, NaN (disarmed) while the runtime is not flying and
                                    for unused channels
     <ns>/in/vehicle_rates_setpoint collective thrust + body rates (action_mode ctbr): roll / pitch /
                                    yaw in rad/s FRD, thrust_body (0, 0, −c) normalized (z down); zero
                                    thrust and rates (reset_integral) while the runtime is not flying

The robot profile's actuators must fit the contract's mode: motors (mapped to PX4's order by
position, deploy/px4/motors.py) for motor-level, exactly CTBR_TARGETS for ctbr; anything else is
refused at construction (Px4ActionModeError, reason px4_action_mode).

Arming: an arm request first asks PX4 for offboard and arming (after offboard_request_after_s of
heartbeat); the runtime arms only when PX4 reports both, so the runtime's start-up begins when its
commands can reach the motors; no answer within engage_timeout_s drops the request (reason
px4_offboard_not_engaged). While the runtime flies, a VehicleStatus that is not armed + OFFBOARD
(px4_offboard_lost: PX4's own failsafe, a pilot, a kill switch took over) or no VehicleStatus for
status_max_age_s (px4_status_stale) e-stops the runtime with that reason: Tether stops commanding
and PX4 keeps the vehicle. After a disarm the runtime lands, then PX4 is asked to disarm.

Stamps: PX4 stamps with its own clock (µs since boot). Each odometry's stamp is mapped onto the
runtime's stamp clock with the smallest delay seen so far (stamp + min(arrival − stamp)), so the
runtime's stamp_too_old measures the delay beyond the best one seen. Arrival is read on the
runtime's stamp clock, or the local clock while that has no time (a simulation's /clock not yet
running, when the odometry is judged by arrival only); when that changes, the smallest delay is
measured afresh.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deploy.contract import CTBR_TARGETS
from deploy.px4 import frames
from deploy.px4 import messages as px4
from deploy.px4.motors import Px4Rotor, map_motors, to_px4_controls
from deploy.rotations import rotate_body_to_world
from deploy.runtime.input_store import Odometry
from deploy.runtime.runtime import ArmingRefusedError, Runtime, RuntimeOutput
from deploy.runtime.safety import State
from deploy.transport.base import Transport

log = logging.getLogger("tether.px4")

DEFAULT_CONFIG = Path(__file__).with_name("px4_quad_x.yaml")
#: QoS as PX4's uXRCE-DDS bridge: its writers (/fmu/out) are best effort, transient local; its
#: readers (/fmu/in) best effort. Tether reads best effort and writes reliable (matches either).
QOS_READ = "px4_read"
QOS_WRITE = "default"
FLYING = (State.STARTING, State.RUNNING, State.FAILSAFE)


@dataclass(frozen=True)
class Px4Config:
    rotors: tuple[Px4Rotor, ...]
    msg_dir: str = ""
    topic_namespace: str = "/fmu"
    versioned_topics: bool = True
    target_system: int = 1
    target_component: int = 1
    source_system: int = 1
    source_component: int = 1
    heartbeat_rate_hz: float = 20.0
    offboard_request_after_s: float = 1.2
    command_retry_s: float = 0.5
    engage_timeout_s: float = 5.0
    status_max_age_s: float = 1.0
    stamp_future_tolerance_s: float = 0.02
    offboard_mode_params: tuple[float, float] = (1.0, 6.0)
    angle_tolerance_deg: float = 10.0
    path: Path | None = field(default=None, compare=False)

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_CONFIG) -> Px4Config:
        path = Path(path)
        with open(path) as f:
            d = dict(yaml.safe_load(f) or {})
        known = set(cls.__dataclass_fields__) - {"path"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
        rotors = tuple(Px4Rotor(float(r["px"]), float(r["py"]), int(r["spin"])) for r in d.pop("rotors", []))
        if not rotors:
            raise ValueError(f"{path}: `rotors` is empty; list the vehicle's CA_ROTOR*_PX/PY and spins")
        if "offboard_mode_params" in d:
            d["offboard_mode_params"] = tuple(float(x) for x in d["offboard_mode_params"])
        cfg = cls(rotors=rotors, path=path, **d)
        if not cfg.heartbeat_rate_hz > 2.0:
            raise ValueError(f"{path}: heartbeat_rate_hz must be above 2 Hz (PX4's offboard minimum)")
        return cfg

    def topic(self, direction: str, base: str, message: str) -> str:
        return px4.topic_name(f"{self.topic_namespace}/{direction}/{base}", message, self.versioned_topics)


class Px4ActionModeError(ValueError):
    """The policy's action mode does not fit the robot profile (reason: px4_action_mode)."""


def output_message(action_mode: str) -> str:
    """The px4_msgs message that carries a policy of this contract action mode to PX4."""
    if action_mode == "ctbr":
        return "VehicleRatesSetpoint"
    if action_mode == "actuators":
        return "ActuatorMotors"
    raise Px4ActionModeError(
        f"px4_action_mode: the policy's action mode '{action_mode}' has no PX4 offboard output; PX4 "
        "takes motor-level (actuators: ActuatorMotors) or collective thrust + body rates (ctbr: "
        "VehicleRatesSetpoint)"
    )


def check_action_mode(action_mode: str, actuators: tuple[str, ...], where: str) -> None:
    """Refuse a profile whose actuators do not fit the policy's action mode, naming both."""
    output_message(action_mode)
    ctbr_names = [n for n in actuators if n in CTBR_TARGETS]
    if action_mode == "ctbr" and tuple(actuators) != CTBR_TARGETS:
        raise Px4ActionModeError(
            f"px4_action_mode: the policy commands collective thrust + body rates (ctbr, PX4 "
            f"VehicleRatesSetpoint), but {where} expects actuators {list(actuators)}; use a profile whose "
            f"actuators are {list(CTBR_TARGETS)} (e.g. deploy/runtime/profile_crazyflie_2_1_px4_ctbr.yaml), "
            "or a motor-level policy"
        )
    if action_mode == "actuators" and ctbr_names:
        raise Px4ActionModeError(
            f"px4_action_mode: the policy commands motors (PX4 ActuatorMotors), but {where} expects "
            f"collective thrust + body rates {list(actuators)}; use a motor-level profile (e.g. "
            "deploy/runtime/profile_crazyflie_2_1_px4.yaml), or a ctbr policy"
        )


class Px4Interface:
    """Owns PX4's protocol for the policy node; see the module docstring."""

    #: the runtime inputs this interface feeds (the policy node subscribes none of them)
    provides = ("odometry",)

    def __init__(
        self,
        transport: Transport,
        runtime: Runtime,
        config: Px4Config,
        clock: Callable[[], float] = time.monotonic,
        arm_action: np.ndarray | None = None,
        on_odometry: Callable[[tuple[int, int], float], None] | None = None,
    ) -> None:
        self.t, self.runtime, self.cfg, self.clock = transport, runtime, config, clock
        self._arm_action = arm_action
        self._on_odometry_cb = on_odometry
        px4.register(config.msg_dir or None)
        self.k_status = px4.constants("VehicleStatus")
        self.k_odom = px4.constants("VehicleOdometry")
        self.k_cmd = px4.constants("VehicleCommand")
        profile = runtime.profile
        q = profile.quadrotor
        if q is None:
            raise ValueError(f"{profile.where}: the PX4 interface drives quadrotors; this profile has none")
        #: the contract's action mode picks the output: ActuatorMotors or VehicleRatesSetpoint
        self.action_mode = runtime.contract.action_mode
        check_action_mode(self.action_mode, tuple(profile.actuators), profile.where)
        self.output = output_message(self.action_mode)
        self.motor_names = tuple(profile.actuators)
        if self.output == "ActuatorMotors":
            self.index: tuple[int, ...] = map_motors(
                self.motor_names,
                q.params.rotor_angles_deg,
                q.params.rotor_spin_directions,
                config.rotors,
                config.angle_tolerance_deg,
            )
        else:
            self.index = ()
        c = config
        self.topics = {
            "odometry": c.topic("out", "vehicle_odometry", "VehicleOdometry"),
            "status": c.topic("out", "vehicle_status", "VehicleStatus"),
            "heartbeat": c.topic("in", "offboard_control_mode", "OffboardControlMode"),
            "command": c.topic("in", "vehicle_command", "VehicleCommand"),
        }
        if self.output == "ActuatorMotors":
            self.topics["motors"] = c.topic("in", "actuator_motors", "ActuatorMotors")
        else:
            self.topics["rates"] = c.topic("in", "vehicle_rates_setpoint", "VehicleRatesSetpoint")
        transport.subscribe(
            self.topics["odometry"], px4.ros_type("VehicleOdometry"), QOS_READ, self.on_odometry
        )
        transport.subscribe(self.topics["status"], px4.ros_type("VehicleStatus"), QOS_READ, self.on_status)
        self._pub_hb = transport.publisher(
            self.topics["heartbeat"], px4.ros_type("OffboardControlMode"), QOS_WRITE
        )
        self._pub_cmd = transport.publisher(self.topics["command"], px4.ros_type("VehicleCommand"), QOS_WRITE)
        out_topic = self.topics["motors" if self.output == "ActuatorMotors" else "rates"]
        self._pub_out = transport.publisher(out_topic, px4.ros_type(self.output), QOS_WRITE)
        self._lock = threading.Lock()
        self._status: tuple[float, int, int] | None = None  # (arrival, arming_state, nav_state)
        self._last_stamp_us: int | None = None
        self._min_delay_s: float | None = None
        self._delay_reference: str | None = None  # the clock the delays were measured against
        self._odom_key: tuple[int, int] = (0, 0)
        self._hb_first: float | None = None
        self._hb_last: float | None = None
        self._want_engaged_since: float | None = None
        self._last_request: float | None = None
        self._last_disarm: float | None = None
        self.refused: dict[str, int] = {}
        self.refusal_log: list[str] = []
        out_key = "actuator_motors" if self.output == "ActuatorMotors" else "vehicle_rates_setpoint"
        self.sent = {"heartbeat": 0, "vehicle_command": 0, out_key: 0}
        #: cycles with no ActuatorMotors / VehicleRatesSetpoint because the vehicle was not armed + offboard
        self.motors_withheld = 0
        self.faults: list[str] = []

    # -- inputs (transport thread) --------------------------------------------------------------

    def _refuse(self, reason: str, detail: str) -> None:
        with self._lock:
            n = self.refused[reason] = self.refused.get(reason, 0) + 1
        if n == 1 or n % 100 == 0:
            log.warning("%s (%d so far): %s", reason, n, detail)
            self.refusal_log.append(f"{reason}: {detail}")

    def on_odometry(self, msg: Any) -> None:
        now = self.clock()
        k = self.k_odom
        if int(msg.pose_frame) != k["POSE_FRAME_NED"]:
            self._refuse(
                "px4_odometry_frame",
                f"pose_frame {int(msg.pose_frame)}, expected POSE_FRAME_NED ({k['POSE_FRAME_NED']}); set the "
                "estimator to a north-referenced NED frame (EKF2 with a heading source)",
            )
            return
        vf = int(msg.velocity_frame)
        if vf not in (k["VELOCITY_FRAME_NED"], k["VELOCITY_FRAME_BODY_FRD"]):
            self._refuse(
                "px4_odometry_frame",
                f"velocity_frame {vf}, expected VELOCITY_FRAME_NED ({k['VELOCITY_FRAME_NED']}) or "
                f"VELOCITY_FRAME_BODY_FRD ({k['VELOCITY_FRAME_BODY_FRD']})",
            )
            return
        stamp_us = int(msg.timestamp_sample) or int(msg.timestamp)
        stamp_s = stamp_us * 1e-6
        clock_now = self.runtime.stamp_clock.now_s()
        local_now = now if clock_now is None else clock_now
        delay_s = local_now - stamp_s
        reference = "local" if clock_now is None else "stamp_clock"
        with self._lock:
            if reference != self._delay_reference:  # e.g. a simulation's /clock started: delays restart
                self._delay_reference, self._min_delay_s = reference, None
            last, min_delay = self._last_stamp_us, self._min_delay_s
        if last is not None and stamp_us < last:
            self._refuse(
                "px4_stamp_backwards",
                f"timestamp_sample {stamp_us} µs after {last} µs; a rebooted or second publisher?",
            )
            return
        if min_delay is not None and delay_s < min_delay - self.cfg.stamp_future_tolerance_s:
            self._refuse(
                "px4_stamp_future",
                f"timestamp_sample {stamp_us} µs is {(min_delay - delay_s) * 1e3:.1f} ms ahead of the "
                f"usual delay (tolerance {self.cfg.stamp_future_tolerance_s * 1e3:.0f} ms)",
            )
            return
        min_delay = delay_s if min_delay is None else min(min_delay, delay_s)
        key = (stamp_us // 1_000_000, (stamp_us % 1_000_000) * 1000)
        with self._lock:
            self._last_stamp_us, self._min_delay_s, self._odom_key = stamp_us, min_delay, key
        q_enu = frames.quat_ned_frd_to_enu_flu(np.asarray(msg.q, dtype=np.float64))
        v = np.asarray(msg.velocity, dtype=np.float64)
        with np.errstate(all="ignore"):  # non-finite values are refused by the runtime's input store
            if vf == k["VELOCITY_FRAME_NED"]:
                v_world = frames.ned_to_enu(v)
            else:
                v_world = rotate_body_to_world(q_enu[None], frames.frd_to_flu(v)[None])[0]
        odom = Odometry(
            pos_m=frames.ned_to_enu(np.asarray(msg.position, dtype=np.float64)),
            quat_wxyz=q_enu,
            lin_vel_m_s=v_world,
            ang_vel_rad_s=frames.frd_to_flu(np.asarray(msg.angular_velocity, dtype=np.float64)),
        )
        if self._on_odometry_cb is not None:  # before the put, which may start the cycle answering it
            self._on_odometry_cb(key, now)
        # no simulation time yet (/clock not running): judged by arrival only, as a zero stamp is
        no_sim_time = clock_now is None and self.runtime.stamp_clock.kind == "sim"
        self.runtime.put("odometry", odom, now, None if no_sim_time else stamp_s + min_delay)

    def on_status(self, msg: Any) -> None:
        with self._lock:
            self._status = (self.clock(), int(msg.arming_state), int(msg.nav_state))

    # -- the vehicle's mode ---------------------------------------------------------------------

    def vehicle_mode(self, now: float) -> tuple[bool, str]:
        """(armed and in offboard, a description) from the newest VehicleStatus."""
        with self._lock:
            st = self._status
        if st is None:
            return False, "no VehicleStatus received"
        age = now - st[0]
        if age > self.cfg.status_max_age_s:
            return False, f"VehicleStatus {age:.2f} s old (limit {self.cfg.status_max_age_s:g} s)"
        armed = st[1] == self.k_status["ARMING_STATE_ARMED"]
        offboard = st[2] == self.k_status["NAVIGATION_STATE_OFFBOARD"]
        return armed and offboard, f"arming_state {st[1]}, nav_state {st[2]}"

    def request_arm(self, on: bool) -> None:
        """The operator's arm (True) / disarm (False); see the module docstring for the order."""
        if not on:
            with self._lock:
                self._want_engaged_since = None
            self.runtime.disarm()
            return
        problems = self.runtime.arming_problems()
        if problems:
            raise ArmingRefusedError("arming refused: " + "; ".join(problems))
        with self._lock:
            self._want_engaged_since = self.clock()
            self._last_request = None

    def arming_problems(self) -> list[str]:
        return []  # PX4's own pre-arm checks answer the arm command; the runtime's are in request_arm

    # -- outputs (control loop, every cycle) ------------------------------------------------------

    def _now_us(self) -> int:
        now = self.runtime.stamp_clock.now_s()
        return int(round((time.time() if now is None else now) * 1e6))

    def _command(self, command: int, *params: float) -> None:
        p = list(params) + [0.0] * (7 - len(params))
        c = self.cfg
        self._pub_cmd.publish(
            self.t.make(
                px4.ros_type("VehicleCommand"),
                timestamp=self._now_us(), command=command,
                param1=p[0], param2=p[1], param3=p[2], param4=p[3], param5=p[4], param6=p[5], param7=p[6],
                target_system=c.target_system, target_component=c.target_component,
                source_system=c.source_system, source_component=c.source_component, from_external=True,
            )
        )  # fmt: skip
        self.sent["vehicle_command"] += 1

    def publish(self, out: RuntimeOutput) -> None:
        now = self.clock()
        self._heartbeat(now)
        engaged, mode = self.vehicle_mode(now)
        state = out.state
        with self._lock:
            want_since = self._want_engaged_since
        if state in FLYING and not engaged:
            reason = "px4_status_stale" if "old" in mode or "no Vehicle" in mode else "px4_offboard_lost"
            self._fault(reason, f"the vehicle left armed + OFFBOARD while Tether flew it ({mode})")
        elif want_since is not None and state is State.DISARMED:
            self._engage(now, engaged, mode, want_since)
        elif state in (State.DISARMED, State.ESTOP) and want_since is None and engaged:
            if self._last_disarm is None or now - self._last_disarm >= self.cfg.command_retry_s:
                self._last_disarm = now
                self._command(self.k_cmd["VEHICLE_CMD_COMPONENT_ARM_DISARM"], 0.0)
        if not engaged:
            self.motors_withheld += 1
            return
        flying = state in FLYING
        if self.output == "VehicleRatesSetpoint":
            self._publish_rates(out, flying)
            return
        control = to_px4_controls(self._in_profile_order(out), self.index) if flying else [math.nan] * 12
        with self._lock:
            key = self._odom_key
        self._pub_out.publish(
            self.t.make(
                px4.ros_type("ActuatorMotors"),
                timestamp=self._now_us(),
                timestamp_sample=key[0] * 1_000_000 + key[1] // 1000,
                control=control,
            )
        )
        self.sent["actuator_motors"] += 1

    def _publish_rates(self, out: RuntimeOutput, flying: bool) -> None:
        """VehicleRatesSetpoint from the runtime's CTBR command (FLU → FRD, thrust z down); while the
        runtime is not flying: zero thrust, zero rates, and PX4's rate integrals reset."""
        ctbr = self._in_profile_order(out) if flying else np.zeros(len(CTBR_TARGETS))
        rates_frd, thrust_body = frames.ctbr_to_rates_setpoint(ctbr)
        self._pub_out.publish(
            self.t.make(
                px4.ros_type("VehicleRatesSetpoint"),
                timestamp=self._now_us(),
                roll=float(rates_frd[0]),
                pitch=float(rates_frd[1]),
                yaw=float(rates_frd[2]),
                thrust_body=[float(x) for x in thrust_body],
                reset_integral=not flying,
            )
        )
        self.sent["vehicle_rates_setpoint"] += 1

    def _in_profile_order(self, out: RuntimeOutput) -> np.ndarray:
        if tuple(out.actuator_names) == self.motor_names:
            return out.actuator_command
        by_name = dict(zip(out.actuator_names, out.actuator_command, strict=True))
        return np.array([by_name[n] for n in self.motor_names])

    def _heartbeat(self, now: float) -> None:
        if self._hb_last is not None and now - self._hb_last < 1.0 / self.cfg.heartbeat_rate_hz - 1e-4:
            return
        rates = self.output == "VehicleRatesSetpoint"
        self._pub_hb.publish(
            self.t.make(
                px4.ros_type("OffboardControlMode"),
                timestamp=self._now_us(),
                direct_actuator=not rates,
                body_rate=rates,
            )
        )
        self._hb_first = now if self._hb_first is None else self._hb_first
        self._hb_last = now
        self.sent["heartbeat"] += 1

    def _engage(self, now: float, engaged: bool, mode: str, since: float) -> None:
        c = self.cfg
        if engaged:
            with self._lock:
                self._want_engaged_since = None
            try:
                self.runtime.arm(current_action=self._arm_action)
                log.info("PX4 reports armed + OFFBOARD: runtime armed")
            except ArmingRefusedError as exc:
                self._fault("px4_arm_refused", str(exc))
            return
        if now - since > c.engage_timeout_s:
            with self._lock:
                self._want_engaged_since = None
            self._fault(
                "px4_offboard_not_engaged", f"no armed + OFFBOARD within {c.engage_timeout_s:g} s ({mode})"
            )
            self._command(self.k_cmd["VEHICLE_CMD_COMPONENT_ARM_DISARM"], 0.0)
            return
        hb_s = 0.0 if self._hb_first is None else now - self._hb_first
        due = self._last_request is None or now - self._last_request >= c.command_retry_s
        if hb_s >= c.offboard_request_after_s and due:
            self._last_request = now
            self._command(self.k_cmd["VEHICLE_CMD_DO_SET_MODE"], *c.offboard_mode_params)
            self._command(self.k_cmd["VEHICLE_CMD_COMPONENT_ARM_DISARM"], 1.0)

    def _fault(self, reason: str, detail: str) -> None:
        text = f"{reason}: {detail}"
        if not self.faults or self.faults[-1] != text:
            self.faults.append(text)
            log.warning("%s", text)
        if self.runtime.state in FLYING:
            self.runtime.estop(text)

    # -- reporting ---------------------------------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        engaged, mode = self.vehicle_mode(self.clock())
        out: dict[str, Any] = {
            "px4.engaged": engaged,
            "px4.vehicle": mode,
            "px4.last_fault": self.faults[-1] if self.faults else "",
            "px4.motors_withheld": self.motors_withheld,
        }
        out.update({f"px4.sent.{k}": v for k, v in self.sent.items()})
        out.update({f"px4.refused.{k}": v for k, v in self.refused.items()})
        return out

    def report(self) -> dict[str, Any]:
        return {
            "interface": "px4",
            "topics": self.topics,
            "action_mode": self.action_mode,
            "output": self.output,
            "motor_index": dict(zip(self.motor_names, self.index, strict=True)) if self.index else {},
            "refused": dict(self.refused),
            "refusals": list(self.refusal_log),
            "faults": list(self.faults),
            "sent": dict(self.sent),
            "motors_withheld": self.motors_withheld,
        }
