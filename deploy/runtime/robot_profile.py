"""The robot profile, and its check against a policy's contract before anything can arm.

A RobotProfile says what a robot offers a policy: actuators and measured
joints by name, the control rate of its loop, the sensors it provides, the
limits the safety supervisor enforces, and how it starts and fails safe. It is
loaded from YAML; profile_crazyflie_2_1.yaml documents every key.

check_profile(contract, profile) raises a ContractError listing every way the
two do not fit; problems(contract, profile) returns the same list. Each entry
names what differs and how to fix it; the first words are stable (tests and
operators match them):

- ``robot type: the policy was trained for 'A', this profile describes 'B'``
- ``actuator names: the policy commands [..] that the robot does not have; the robot has [..] not commanded
  by the policy``
- ``control rate: the policy runs at X Hz, the robot profile at Y Hz``
- ``sensors: the policy needs [..], the robot profile provides [..]``
- ``frames: ...``, ``rate limits: ...``, ``observation terms: ...``, ``quadrotor: ...``, ``legged: ...``
- ``action mode: ...`` (a collective thrust + body rate policy on a motor-level robot, or back)

Joints and motors are matched by name, never by index: `index_map` gives
the permutation from contract order to the profile's (hardware) order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deploy.contract import CTBR_TARGETS, FRAMES, Contract, ContractError
from deploy.observations import term_function
from deploy.pid import DEFAULT_GAINS, PidGains
from deploy.quadrotor_params import QuadrotorParams

KINDS = ("quadrotor", "legged")
SENSORS = ("odometry", "imu", "joint_states")
PROFILE_DIR = Path(__file__).parent
DEFAULT_PROFILE = PROFILE_DIR / "profile_crazyflie_2_1.yaml"
#: How far (rad) a profile's default pose may sit from the contract's before start-up is refused.
DEFAULT_POSE_TOLERANCE_RAD = 1e-6


@dataclass(frozen=True)
class Limits:
    """What the safety supervisor enforces; None disables a check."""

    max_tilt_deg: float | None = None
    geofence_min_m: tuple[float, float, float] | None = None
    geofence_max_m: tuple[float, float, float] | None = None
    joint_limits_rad: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.geofence_min_m is None) != (self.geofence_max_m is None):
            raise ValueError("limits: give both geofence_min_m and geofence_max_m, or neither")
        if self.geofence_min_m is not None and not np.all(
            np.asarray(self.geofence_min_m) < np.asarray(self.geofence_max_m)
        ):
            raise ValueError(
                f"limits: geofence_min_m {self.geofence_min_m} must be below geofence_max_m "
                f"{self.geofence_max_m} on every axis"
            )
        for name, (lo, hi) in self.joint_limits_rad.items():
            if not lo < hi:
                raise ValueError(f"limits: joint '{name}' has limits [{lo}, {hi}]; expected low < high")


@dataclass(frozen=True)
class QuadrotorStarting:
    idle_command: float = 0.1
    idle_s: float = 1.0
    spinup_s: float = 1.0


@dataclass(frozen=True)
class QuadrotorFailsafeConfig:
    hold_s: float = 1.0
    land_speed_m_s: float = 0.5
    ground_z_m: float = 0.0
    landed_height_m: float = 0.1
    landed_speed_m_s: float = 0.3
    landed_s: float = 0.2
    geofence_margin_m: float = 0.2
    state_max_age_s: float = 0.2
    blind_descent_thrust_ratio: float = 0.85
    blind_descent_max_s: float = 3.0
    land_timeout_margin_s: float = 5.0


@dataclass(frozen=True)
class QuadrotorProfile:
    params: QuadrotorParams
    gains: PidGains
    starting: QuadrotorStarting = field(default_factory=QuadrotorStarting)
    failsafe: QuadrotorFailsafeConfig = field(default_factory=QuadrotorFailsafeConfig)


@dataclass(frozen=True)
class LeggedProfile:
    """Legged start-up (interpolate to the default pose) and failsafe (damping) settings."""

    default_pose_rad: dict[str, float]
    stand_kp: float = 20.0
    stand_kd: float = 0.5
    damping_kd: float = 2.0
    stand_up_s: float = 2.0
    damping_s: float = 3.0


@dataclass(frozen=True)
class RobotProfile:
    name: str
    kind: str
    robot: str
    control_rate_hz: float
    actuators: tuple[str, ...]
    sensors: tuple[str, ...]
    action_rate_limits_per_s: dict[str, float]
    limits: Limits = field(default_factory=Limits)
    joints: tuple[str, ...] = ()
    frames: dict[str, str] = field(default_factory=lambda: dict(FRAMES))
    quadrotor: QuadrotorProfile | None = None
    legged: LeggedProfile | None = None
    #: the hardware interface the policy node loads for this robot: "" = ROS topics (odometry /
    #: IMU / joint states in, actuator or ros2_control commands out); "unitree_go2" = the Go2's
    #: low-level DDS (rt/lowstate, rt/lowcmd; deploy/go2/interface.py)
    hardware_interface: str = ""
    #: the input whose arrival starts a sensor-triggered cycle ("" = the contract's first sensor):
    #: of several sensors sent together, the one that arrives last
    trigger_input: str = ""
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"robot profile '{self.name}': kind '{self.kind}' unknown; expected one of {KINDS}"
            )
        if self.kind == "quadrotor" and self.quadrotor is None:
            raise ValueError(f"robot profile '{self.name}' is a quadrotor but has no `quadrotor:` section")
        if self.kind == "legged" and self.legged is None:
            raise ValueError(f"robot profile '{self.name}' is legged but has no `legged:` section")
        unknown = set(self.sensors) - set(SENSORS)
        if unknown:
            raise ValueError(
                f"robot profile '{self.name}': unknown sensors {sorted(unknown)}; expected some of {SENSORS}"
            )
        if not self.control_rate_hz > 0:
            raise ValueError(f"robot profile '{self.name}': control_rate_hz must be positive")

    @property
    def where(self) -> str:
        return str(self.path) if self.path else f"robot profile '{self.name}'"

    # -- loading ------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_PROFILE) -> RobotProfile:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"robot profile {path} not found; start from {DEFAULT_PROFILE} (documents every key)"
            )
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f), base_dir=path.parent, path=path)

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], base_dir: Path = PROFILE_DIR, path: Path | None = None
    ) -> RobotProfile:
        where = str(path or "robot profile")
        required = {
            "name",
            "kind",
            "robot",
            "control_rate_hz",
            "actuators",
            "sensors",
            "action_rate_limits_per_s",
        }
        optional = {
            "limits",
            "joints",
            "frames",
            "quadrotor",
            "legged",
            "hardware_interface",
            "trigger_input",
        }
        missing, unknown = required - set(d), set(d) - required - optional
        if missing or unknown:
            raise ValueError(
                f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}; "
                f"see {DEFAULT_PROFILE} for the documented layout"
            )
        lim = dict(d.get("limits") or {})
        _keys(lim, set(Limits.__dataclass_fields__), f"{where}: limits")
        limits = Limits(
            max_tilt_deg=_opt_float(lim.get("max_tilt_deg")),
            geofence_min_m=_opt_vec3(lim.get("geofence_min_m")),
            geofence_max_m=_opt_vec3(lim.get("geofence_max_m")),
            joint_limits_rad={
                k: (float(v[0]), float(v[1])) for k, v in (lim.get("joint_limits_rad") or {}).items()
            },
        )
        trigger = str(d.get("trigger_input") or "")
        if trigger and trigger not in (d["sensors"] or ()):
            raise ValueError(f"{where}: trigger_input '{trigger}' is not one of its sensors {d['sensors']}")
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            robot=str(d["robot"]),
            control_rate_hz=float(d["control_rate_hz"]),
            actuators=tuple(d["actuators"]),
            sensors=tuple(d["sensors"] or ()),
            action_rate_limits_per_s={k: float(v) for k, v in (d["action_rate_limits_per_s"] or {}).items()},
            limits=limits,
            joints=tuple(d.get("joints") or ()),
            frames=dict(d.get("frames") or FRAMES),
            quadrotor=_quadrotor(d["quadrotor"], base_dir, where) if d.get("quadrotor") else None,
            legged=_legged(d["legged"], where) if d.get("legged") else None,
            hardware_interface=str(d.get("hardware_interface") or ""),
            trigger_input=trigger,
            path=path,
        )


def _quadrotor(d: dict[str, Any], base_dir: Path, where: str) -> QuadrotorProfile:
    _keys(d, {"params_file", "params", "pid_gains_file", "starting", "failsafe"}, f"{where}: quadrotor")
    if "params" in d:
        params = QuadrotorParams.from_dict(d["params"])
    elif "params_file" in d:
        p = (base_dir / d["params_file"]).resolve()
        if not p.exists():
            raise FileNotFoundError(
                f"{where}: quadrotor.params_file {p} not found; point it at the vehicle's parameter YAML "
                "(QuadrotorParams fields), relative to the profile"
            )
        with open(p) as f:
            params = QuadrotorParams.from_dict(yaml.safe_load(f))
    else:
        raise ValueError(
            f"{where}: quadrotor needs `params_file` or inline `params` (QuadrotorParams fields)"
        )
    gains_file = d.get("pid_gains_file")
    gains = PidGains.from_yaml(base_dir / gains_file if gains_file else DEFAULT_GAINS)
    st = d.get("starting") or {}
    fs = d.get("failsafe") or {}
    _keys(st, set(QuadrotorStarting.__dataclass_fields__), f"{where}: quadrotor.starting")
    _keys(fs, set(QuadrotorFailsafeConfig.__dataclass_fields__), f"{where}: quadrotor.failsafe")
    starting = QuadrotorStarting(**{k: float(v) for k, v in st.items()})
    if not 0.0 <= starting.idle_command <= 1.0:
        raise ValueError(
            f"{where}: quadrotor.starting.idle_command must be in [0, 1], found {starting.idle_command}"
        )
    failsafe = QuadrotorFailsafeConfig(**{k: float(v) for k, v in fs.items()})
    if not failsafe.land_speed_m_s > 0:
        raise ValueError(f"{where}: quadrotor.failsafe.land_speed_m_s must be positive")
    return QuadrotorProfile(params=params, gains=gains, starting=starting, failsafe=failsafe)


def _legged(d: dict[str, Any], where: str) -> LeggedProfile:
    _keys(d, set(LeggedProfile.__dataclass_fields__), f"{where}: legged")
    if "default_pose_rad" not in d:
        raise ValueError(f"{where}: legged needs default_pose_rad (joint name: angle)")
    rest = {k: float(v) for k, v in d.items() if k != "default_pose_rad"}
    return LeggedProfile(default_pose_rad={k: float(v) for k, v in d["default_pose_rad"].items()}, **rest)


def _keys(d: Any, known: set[str], where: str) -> None:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a mapping with keys {sorted(known)}, found {d!r}")
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; expected some of {sorted(known)}")


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


def _opt_vec3(x: Any) -> tuple[float, float, float] | None:
    if x is None:
        return None
    v = tuple(float(a) for a in x)
    if len(v) != 3:
        raise ValueError(f"expected three values (x, y, z), found {x!r}")
    return v  # type: ignore[return-value]


# -- the check against a contract -------------------------------------------------------------------


def required_inputs(contract: Contract) -> tuple[str, ...]:
    """The inputs a runtime must receive for this contract: its sensors, and `command` if it has any."""
    return tuple(contract.sensors) + (("command",) if contract.command_size > 0 else ())


def trigger_input(contract: Contract, profile: RobotProfile) -> str:
    """The input whose arrival starts a sensor-triggered cycle: the profile's trigger_input when it
    names one of the contract's sensors, else the contract's first sensor."""
    if profile.trigger_input and profile.trigger_input in contract.sensors:
        return profile.trigger_input
    return contract.sensors[0] if contract.sensors else ""


def problems(contract: Contract, profile: RobotProfile) -> list[str]:
    """Every way `profile` does not fit `contract`; empty when they fit."""
    out: list[str] = []
    where = profile.where
    if contract.robot != profile.robot:
        out.append(
            f"robot type: the policy was trained for '{contract.robot}', this profile describes "
            f"'{profile.robot}'; use a policy trained for this robot, or the profile of the robot it was "
            f"trained for"
        )
    targets, actuators = contract.action_target_names, profile.actuators
    missing = [n for n in targets if n not in actuators]
    extra = [n for n in actuators if n not in targets]
    if missing or extra:
        out.append(
            f"actuator names: the policy commands {missing} that the robot does not have; the robot has "
            f"{extra} not commanded by the policy (policy targets {list(targets)}, robot actuators "
            f"{list(actuators)}); rename the actuators in {where} to the names the policy was trained with, "
            f"or use a policy trained for this robot"
        )
    if abs(contract.control_rate_hz - profile.control_rate_hz) > 1e-9:
        out.append(
            f"control rate: the policy runs at {contract.control_rate_hz:g} Hz, the robot profile at "
            f"{profile.control_rate_hz:g} Hz; set control_rate_hz: {contract.control_rate_hz:g} in {where}, "
            f"or retrain the policy at {profile.control_rate_hz:g} Hz"
        )
    absent = [s for s in contract.sensors if s not in profile.sensors]
    if absent:
        out.append(
            f"sensors: the policy needs {list(contract.sensors)}, the robot profile provides "
            f"{list(profile.sensors)} (missing {absent}); add the sensor to the robot and to `sensors:` in "
            f"{where}, or use a policy that does not need it"
        )
    if contract.frames != profile.frames:
        out.append(
            f"frames: the policy uses {contract.frames}, the robot profile {profile.frames}; Tether is "
            f"REP-103 inside ({FRAMES}): convert at the hardware interface and declare Tether's frames"
        )
    for term in contract.actions:
        rate = profile.action_rate_limits_per_s.get(term.name)
        if rate is None or not rate > 0:
            out.append(
                f"rate limits: action term '{term.name}' has no positive rate limit (found {rate}); add "
                f"`action_rate_limits_per_s: {{{term.name}: ...}}` (action units per second) to {where}"
            )
    for term in contract.observations:
        try:
            term_function(term.name)
        except ContractError as exc:
            out.append(f"observation terms: {exc}; this Tether version cannot build the policy's observation")
    profile_ctbr = set(actuators) == set(CTBR_TARGETS)
    if contract.action_mode == "ctbr" and not profile_ctbr:
        out.append(
            f"action mode: the policy commands collective thrust + body rates (ctbr: {list(CTBR_TARGETS)}) "
            f"for the flight controller's rate loop, {where} describes actuators {list(actuators)}; use a "
            "profile whose actuators are the CTBR setpoints (e.g. profile_crazyflie_2_1_px4_ctbr.yaml), or "
            "a motor-level policy"
        )
    if contract.action_mode != "ctbr" and profile_ctbr:
        out.append(
            f"action mode: the policy commands its actuators directly ({list(targets)}), {where} takes "
            f"collective thrust + body rates {list(actuators)}; use a motor-level profile, or a ctbr policy"
        )
    # A ctbr policy's failsafe PID commands thrust and rates (no motors to match): the robot's flight
    # controller runs the rate loop.
    if profile.kind == "quadrotor" and profile.quadrotor is not None and contract.action_mode != "ctbr":
        motors = profile.quadrotor.params.motor_names
        if set(motors) != set(targets):
            out.append(
                f"quadrotor: the failsafe PID's vehicle has motors {list(motors)}, the policy commands "
                f"{list(targets)}; point quadrotor.params_file in {where} at this vehicle's parameters"
            )
    drives = {j.name: j.default_pos_rad for j in contract.joints}
    undriven = [n for n in profile.joints if drives and n not in drives]
    if undriven:
        out.append(
            f"joints: {undriven} of `joints:` in {where} have no drive in the policy's contract (it "
            f"drives {sorted(drives)}); list only the joints the policy commands"
        )
    if profile.kind == "legged" and profile.legged is not None:
        no_pose = [n for n in targets if n not in profile.legged.default_pose_rad]
        if no_pose:
            out.append(f"legged: joints {no_pose} have no default_pose_rad in {where}; add them")
        unmeasured = [n for n in targets if n not in profile.joints]
        if unmeasured:
            out.append(
                f"legged: joints {unmeasured} are commanded but not measured (`joints:` in {where}); "
                "damping and start-up need their measured positions"
            )
        if "joint_states" not in profile.sensors:
            out.append(
                f"legged: a legged robot needs the joint_states sensor; add it to `sensors:` in {where}"
            )
        differ = {
            n: (profile.legged.default_pose_rad[n], q0)
            for n, q0 in drives.items()
            if n in profile.legged.default_pose_rad
            and abs(profile.legged.default_pose_rad[n] - q0) > DEFAULT_POSE_TOLERANCE_RAD
        }
        if differ:
            out.append(
                "legged: default_pose_rad differs from the pose the policy was trained around "
                f"(joint: profile, contract) {differ}; copy the contract's pose into {where}"
            )
    return out


def check_profile(contract: Contract, profile: RobotProfile, policy: str = "the policy") -> None:
    """Raise ContractError naming every mismatch between the policy's contract and the robot profile."""
    found = problems(contract, profile)
    if found:
        lines = "\n".join(f"  - {p}" for p in found)
        raise ContractError(
            f"{policy} (task '{contract.task}') does not fit robot profile '{profile.name}'; "
            f"refusing to start:\n{lines}"
        )


def index_map(contract: Contract, profile: RobotProfile) -> np.ndarray:
    """For each profile actuator, its column in the contract's action vector (match by name)."""
    order = {n: i for i, n in enumerate(contract.action_target_names)}
    return np.array([order[n] for n in profile.actuators], dtype=np.int64)
