"""The policy contract: what a policy observes and commands, in which units and order.

One Contract per task binds simulation and robot. It is serialized to
canonical JSON, hashed (SHA-256), and embedded in the exported ONNX file; the
robot-side runtime reads it back and refuses to start on any mismatch.
Needs only numpy and the standard library.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

CONTRACT_FORMAT_VERSION = 1

#: Frame conventions every Tether contract declares (REP-103; see deploy.rotations).
FRAMES = {"world": "ENU", "body": "FLU", "quaternion": "wxyz"}


#: How a policy's actions reach the robot (Contract.action_mode):
#:   actuators  each action target is an actuator (a motor's normalized command, a joint's target)
#:   ctbr       collective thrust + body rates: the targets are CTBR_TARGETS, setpoints for the
#:              vehicle's flight-controller rate loop (deploy/rate_controller.py), which drives the motors
ACTION_MODES = ("actuators", "ctbr")
#: The action targets of a ctbr contract, in order: normalized collective thrust [0, 1], then the
#: body rates about FLU x, y, z (rad/s).
CTBR_TARGETS: tuple[str, ...] = ("collective_thrust", "roll_rate", "pitch_rate", "yaw_rate")


class ContractError(ValueError):
    """A contract is malformed or does not match what it is used with."""


@dataclass(frozen=True)
class ObservationTerm:
    """One named block of the observation vector.

    The raw value (SI units, from deploy.observations) gets Gaussian noise of
    `noise_std` in simulation only, is multiplied by `scale`, clipped to
    ±`clip` (if set), and stacked over the last `history` control steps,
    newest first.

    `integrate_within` applies to integrated terms only (deploy.observations
    INTEGRATED_TERMS): the integral advances only while the norm of the raw
    value is at most this (in the integrand's unit, e.g. m), so a far-off
    start does not wind it up (conditional integration, a PID anti-windup).
    None integrates always.

    `leak_time_constant_s` (integrated terms only) makes the integral leaky:
    each step it decays by exp(−period/τ) before the new step is added, so a
    transient (the approach from a far start) fades with time constant τ while
    a steady error e settles at ≈ τ·e, and the value never depends on the
    distant past. None keeps a pure integral.
    """

    name: str
    size: int
    scale: float = 1.0
    clip: float | None = None
    noise_std: float = 0.0
    history: int = 1
    unit: str = ""
    integrate_within: float | None = None
    leak_time_constant_s: float | None = None

    @property
    def total_size(self) -> int:
        return self.size * self.history


@dataclass(frozen=True)
class ActionTerm:
    """One named block of the action vector.

    The policy outputs `a` in [low, high]; the actuator receives
    `offset + scale * clip(a, low, high)` per target, in `unit`. Targets (motors
    or joints) are matched by name, never by index.
    """

    name: str
    target_names: tuple[str, ...]
    scale: float = 1.0
    offset: float = 0.0
    low: float = -1.0
    high: float = 1.0
    unit: str = ""

    @property
    def size(self) -> int:
        return len(self.target_names)


@dataclass(frozen=True)
class CommandTerm:
    """One named block of the task command carried in RobotState.command."""

    name: str
    size: int
    unit: str = ""


@dataclass(frozen=True)
class JointDrive:
    """How the robot drives one joint from the policy's position target: a PD loop
    torque = kp (target − q) − kd q̇, clipped to ±torque_limit_nm, at the motor
    driver's rate. The default pose is what `joint_pos_rel_default_rad` observes
    against and where the legged start-up interpolates to."""

    name: str
    default_pos_rad: float
    kp_nm_per_rad: float
    kd_nm_s_per_rad: float
    torque_limit_nm: float


@dataclass(frozen=True)
class Contract:
    task: str
    robot: str
    control_rate_hz: float
    observations: tuple[ObservationTerm, ...]
    actions: tuple[ActionTerm, ...]
    commands: tuple[CommandTerm, ...] = ()
    sensors: tuple[str, ...] = ()
    frames: dict[str, str] = field(default_factory=lambda: dict(FRAMES))
    joints: tuple[JointDrive, ...] = ()  # articulated robots: one per actuated joint, in action order
    action_mode: str = "actuators"  # one of ACTION_MODES
    format_version: int = CONTRACT_FORMAT_VERSION

    def __post_init__(self) -> None:
        if not (math.isfinite(self.control_rate_hz) and self.control_rate_hz > 0):
            raise ContractError(
                f"control_rate_hz must be a finite positive rate, found {self.control_rate_hz}; "
                "set the task's control rate in its YAML config"
            )
        self._check_numbers()
        for kind, terms in (("observation", self.observations), ("command", self.commands)):
            names = [t.name for t in terms]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ContractError(f"duplicate {kind} term names {sorted(dup)}; names must be unique")
            for t in terms:
                if t.size <= 0:
                    raise ContractError(f"{kind} term '{t.name}' has size {t.size}; expected > 0")
        for t in self.observations:
            if t.history < 1:
                raise ContractError(f"observation term '{t.name}' has history {t.history}; expected ≥ 1")
            if t.integrate_within is not None and not (
                math.isfinite(t.integrate_within) and t.integrate_within > 0
            ):
                raise ContractError(
                    f"observation term '{t.name}' has integrate_within {t.integrate_within}; expected a "
                    "finite radius > 0 (or none, to integrate always)"
                )
            if t.leak_time_constant_s is not None and not (
                math.isfinite(t.leak_time_constant_s) and t.leak_time_constant_s > 0
            ):
                raise ContractError(
                    f"observation term '{t.name}' has leak_time_constant_s {t.leak_time_constant_s}; "
                    "expected a finite time constant > 0 s (or none, for a pure integral)"
                )
        targets = [n for a in self.actions for n in a.target_names]
        if self.action_mode not in ACTION_MODES:
            raise ContractError(f"action_mode '{self.action_mode}' unknown; expected one of {ACTION_MODES}")
        if self.action_mode == "ctbr" and tuple(targets) != CTBR_TARGETS:
            raise ContractError(
                f"a ctbr contract commands {list(CTBR_TARGETS)} in this order, found action targets "
                f"{targets}; build the contract from a ctbr task config"
            )
        dup = {n for n in targets if targets.count(n) > 1}
        if dup:
            raise ContractError(f"action targets {sorted(dup)} appear twice; each motor/joint once")
        names = [j.name for j in self.joints]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ContractError(f"joint drives {sorted(dup)} appear twice; one drive per joint")
        for j in self.joints:
            if j.kp_nm_per_rad < 0 or j.kd_nm_s_per_rad < 0 or not j.torque_limit_nm > 0:
                raise ContractError(
                    f"joint drive '{j.name}': expected kp ≥ 0, kd ≥ 0 and torque_limit_nm > 0, found "
                    f"kp {j.kp_nm_per_rad}, kd {j.kd_nm_s_per_rad}, torque limit {j.torque_limit_nm}"
                )
        undriven = [n for n in self.action_target_names if names and n not in names]
        if undriven:
            raise ContractError(
                f"action targets {undriven} have no joint drive; a contract with joints lists every "
                "actuated joint (name, default pose, Kp/Kd, torque limit)"
            )

    def _check_numbers(self) -> None:
        """Every number that shapes an observation or an actuator command is finite and has the sign
        it needs: a NaN or infinite scale would turn every command non-finite, a negative action
        scale would invert the motors."""
        bad: list[str] = []

        def need(ok: bool, what: str, value: object, expected: str) -> None:
            if not ok:
                bad.append(f"{what} = {value!r} (expected {expected})")

        def finite(x: float) -> bool:
            return isinstance(x, (int, float)) and math.isfinite(x)

        for t in self.observations:
            w = f"observation term '{t.name}'"
            need(finite(t.scale) and t.scale != 0, f"{w} scale", t.scale, "finite and non-zero")
            need(t.clip is None or (finite(t.clip) and t.clip > 0), f"{w} clip", t.clip, "none or finite > 0")
            need(finite(t.noise_std) and t.noise_std >= 0, f"{w} noise_std", t.noise_std, "finite ≥ 0")
        for a in self.actions:
            w = f"action term '{a.name}'"
            need(finite(a.scale) and a.scale > 0, f"{w} scale", a.scale, "finite > 0")
            need(finite(a.offset), f"{w} offset", a.offset, "finite")
            need(finite(a.low) and finite(a.high) and a.low < a.high, f"{w} low/high", (a.low, a.high),
                 "finite, low < high")  # fmt: skip
        for j in self.joints:
            w = f"joint drive '{j.name}'"
            need(finite(j.default_pos_rad), f"{w} default_pos_rad", j.default_pos_rad, "finite")
            for name in ("kp_nm_per_rad", "kd_nm_s_per_rad", "torque_limit_nm"):
                need(finite(getattr(j, name)), f"{w} {name}", getattr(j, name), "finite")
        if bad:
            lines = "\n".join(f"  - {b}" for b in bad)
            raise ContractError(f"contract of task '{self.task}' has invalid numbers:\n{lines}")

    # -- sizes and layout -------------------------------------------------

    @property
    def observation_size(self) -> int:
        return sum(t.total_size for t in self.observations)

    @property
    def action_size(self) -> int:
        return sum(a.size for a in self.actions)

    @property
    def command_size(self) -> int:
        return sum(c.size for c in self.commands)

    @property
    def action_target_names(self) -> tuple[str, ...]:
        return tuple(n for a in self.actions for n in a.target_names)

    @property
    def control_dt_s(self) -> float:
        return 1.0 / self.control_rate_hz

    @property
    def joint_default_pos_rad(self) -> tuple[float, ...]:
        """Default pose of the driven joints, in `joints` order (empty for rotorcraft)."""
        return tuple(j.default_pos_rad for j in self.joints)

    def observation_slices(self) -> dict[str, slice]:
        """Where each term (with its history) sits in the observation vector."""
        out, i = {}, 0
        for t in self.observations:
            out[t.name] = slice(i, i + t.total_size)
            i += t.total_size
        return out

    def command_slices(self) -> dict[str, slice]:
        out, i = {}, 0
        for c in self.commands:
            out[c.name] = slice(i, i + c.size)
            i += c.size
        return out

    # -- serialization ----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for a in d["actions"]:
            a["target_names"] = list(a["target_names"])
        d["sensors"] = list(self.sensors)
        for t in d["observations"]:
            for optional in ("integrate_within", "leak_time_constant_s"):
                if t[optional] is None:
                    # Terms without the option serialize, and hash, as before the field existed.
                    del t[optional]
        if self.joints:
            d["joints"] = [asdict(j) for j in self.joints]
        else:
            # Contracts without joint drives (rotorcraft) serialize, and so hash, exactly as they
            # did before joint drives existed: policies exported then still load.
            del d["joints"]
        if self.action_mode == "actuators":
            # Contracts whose actions drive the actuators directly serialize, and hash, as before
            # action modes existed.
            del d["action_mode"]
        return d

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, so equal contracts hash equally."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Contract:
        try:
            version = d.get("format_version", CONTRACT_FORMAT_VERSION)
            if version != CONTRACT_FORMAT_VERSION:
                raise ContractError(
                    f"contract format_version {version} is not supported (expected "
                    f"{CONTRACT_FORMAT_VERSION}); re-export the policy with this Tether version"
                )
            return cls(
                task=d["task"],
                robot=d["robot"],
                control_rate_hz=float(d["control_rate_hz"]),
                observations=tuple(ObservationTerm(**t) for t in d["observations"]),
                actions=tuple(
                    ActionTerm(**{**a, "target_names": tuple(a["target_names"])}) for a in d["actions"]
                ),
                commands=tuple(CommandTerm(**c) for c in d.get("commands", ())),
                sensors=tuple(d.get("sensors", ())),
                frames=dict(d.get("frames", FRAMES)),
                joints=tuple(JointDrive(**j) for j in d.get("joints", ())),
                action_mode=str(d.get("action_mode", "actuators")),
                format_version=version,
            )
        except (KeyError, TypeError) as exc:
            raise ContractError(
                f"malformed contract: {exc!r}; expected the JSON written by Contract.to_json()"
            ) from exc

    @classmethod
    def from_json(cls, text: str) -> Contract:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"contract is not valid JSON: {exc}") from exc
        return cls.from_dict(d)


def describe_difference(expected: Contract, found: Contract) -> list[str]:
    """Human-readable list of the fields in which two contracts differ (empty if equal)."""
    a, b = expected.to_dict(), found.to_dict()
    diffs = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            if key == "observations":
                na = [(t["name"], t["size"] * t["history"]) for t in a[key]]
                nb = [(t["name"], t["size"] * t["history"]) for t in b[key]]
                diffs.append(
                    f"observations: expected {na}, found {nb}"
                    if na != nb
                    else "observations: same layout, different scale/clip/noise"
                )
            else:
                diffs.append(f"{key}: expected {a.get(key)!r}, found {b.get(key)!r}")
    return diffs
