"""Legged commands the way a ros2_control robot takes them: forward_command_controllers.

A forward_command_controller (ros2_controllers' forward_command_controller/ForwardCommandController)
subscribes to `/<controller>/commands` (std_msgs/Float64MultiArray) and writes `data[k]` to the
command interface `<joints[k]>/<interface_name>`; its `joints` parameter gives the order and its
`interface_name` the one interface it claims on every joint. No names travel on the wire, so both
ends must agree on that order. Three stock controllers, one per command interface, over the same
joints in the same order:

- `/joint_position_controller/commands`: joint position targets (rad), interface `position`;
- `/joint_kp_controller/commands`: stiffness of every joint (N·m/rad), interface `kp`;
- `/joint_kd_controller/commands`: damping of every joint (N·m·s/rad), interface `kd`;

`kp` / `kd` are the per-joint gain command interfaces legged ros2_control hardware exposes (as
Unitree's ros2_control hardware interfaces do); the hardware closes τ = kp (q* − q) − kd q̇ at its
own rate. (MultiInterfaceForwardCommandController is no alternative: it takes one joint with several
interfaces.) `launch/config/quadruped_ros2_control.yaml` is the controller-manager file of these
controllers for a 12-joint quadruped; `check_controllers_file` checks a node's joints and topics
against such a file.

Gains each cycle: the runtime's (start-up: stand gains; DISARMED, ESTOP, FAILSAFE: kp 0 and the
damping kd), otherwise (the policy) the contract's joint drives, the gains it was trained with.
Order on the wire: kp, then kd, then the targets, so a change of mode never pairs new targets with
old gains for longer than the messages take; and a drop to damping removes the stiffness first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deploy.contract import Contract
from deploy.runtime.robot_profile import RobotProfile
from deploy.runtime.runtime import RuntimeOutput
from deploy.transport import convert
from deploy.transport.cdr import Float64ArrayEncoder
from deploy.transport.names import TOPICS

#: Topic role of the policy node → the command interface its forward_command_controller claims.
COMMAND_INTERFACES: dict[str, str] = {
    "joint_position_commands": "position",
    "joint_kp_commands": "kp",
    "joint_kd_commands": "kd",
}
FORWARD_COMMAND_CONTROLLER = "forward_command_controller/ForwardCommandController"


def controller_order(actuators: Sequence[str], controller_joints: Sequence[str], where: str) -> np.ndarray:
    """Indices into `actuators` (profile order) for each controller joint; ValueError on a mismatch."""
    joints = list(controller_joints) or list(actuators)
    if sorted(joints) != sorted(actuators) or len(set(joints)) != len(joints):
        raise ValueError(
            f"{where}: the controller's joints {joints} must be the robot's actuators {list(actuators)} "
            "in some order, each once; copy the `joints` list of the robot's forward_command_controller"
        )
    return np.array([list(actuators).index(j) for j in joints])


class JointCommandPublisher:
    def __init__(
        self,
        transport: Any,
        contract: Contract,
        profile: RobotProfile,
        controller_joints: Sequence[str],
        topics: Mapping[str, str],
    ) -> None:
        """`topics`: the topic of each role in COMMAND_INTERFACES."""
        self.t = transport
        self.order = controller_order(profile.actuators, controller_joints, "joint_command.joints")
        drives = {j.name: j for j in contract.joints}
        missing = [n for n in profile.actuators if n not in drives]
        if missing:
            raise ValueError(
                f"the policy's contract has no joint drive (Kp, Kd) for {missing}; a legged policy "
                "exported by `tether export` carries one per joint"
            )
        self.drive_kp = np.array([drives[n].kp_nm_per_rad for n in profile.actuators])
        self.drive_kd = np.array([drives[n].kd_nm_s_per_rad for n in profile.actuators])
        self._pub = {
            role: transport.publisher(topics[role], TOPICS[role].type, TOPICS[role].qos)
            for role in COMMAND_INTERFACES
        }
        self.published = 0
        self._gains_cache: dict[str, tuple[bytes, Any]] = {}
        # DDS: the three messages written as hand-written CDR (deploy/transport/cdr.py), the gains'
        # bytes kept while they stay the same; another transport gets messages
        writers = {role: getattr(pub, "publish_cdr", None) for role, pub in self._pub.items()}
        self._cdr = writers if all(w is not None for w in writers.values()) else None
        self._encoder = Float64ArrayEncoder("joints", len(self.order))
        # the policy's cycles (no kp/kd in the output: the drive gains) write these bytes as they are
        k = self.order
        self._drive_cdr = (
            self._encoder.encode(self.drive_kp[k].tolist()),
            self._encoder.encode(self.drive_kd[k].tolist()),
        )
        self._order_list = None if k.tolist() == list(range(len(k))) else k.tolist()

    def publish(self, out: RuntimeOutput) -> None:
        k = self.order
        if self._cdr is not None:
            w = self._cdr
            if out.kp is None and out.kd is None:
                kp_cdr, kd_cdr = self._drive_cdr
            else:
                kp = self.drive_kp if out.kp is None else np.asarray(out.kp)
                kd = self.drive_kd if out.kd is None else np.asarray(out.kd)
                kp_cdr, kd_cdr = self._gains_cdr("kp", kp[k]), self._gains_cdr("kd", kd[k])
            w["joint_kp_commands"](kp_cdr)
            w["joint_kd_commands"](kd_cdr)
            targets = out.actuator_command.tolist()
            if self._order_list is not None:
                targets = [targets[i] for i in self._order_list]
            w["joint_position_commands"](self._encoder.encode(targets))
            self.published += 1
            return
        kp = self.drive_kp if out.kp is None else np.asarray(out.kp)
        kd = self.drive_kd if out.kd is None else np.asarray(out.kd)
        self._pub["joint_kp_commands"].publish(self._gains_msg("kp", kp[k]))
        self._pub["joint_kd_commands"].publish(self._gains_msg("kd", kd[k]))
        self._pub["joint_position_commands"].publish(
            convert.float64_array_msg(self.t.make, out.actuator_command[k], "joints")
        )
        self.published += 1

    def _gains_cdr(self, role: str, values: np.ndarray) -> bytes:
        key = values.tobytes()
        cached = self._gains_cache.get(role)
        if cached is None or cached[0] != key:
            cached = self._gains_cache[role] = (key, self._encoder.encode(values.tolist()))
        return cached[1]

    def _gains_msg(self, role: str, values: np.ndarray) -> Any:
        """The gains message for `values`; built again only when they change (the gains stay the
        same for many cycles, e.g. the contract's drive gains while the policy runs)."""
        key = values.tobytes()
        cached = self._gains_cache.get(role)
        if cached is None or cached[0] != key:
            cached = self._gains_cache[role] = (key, convert.float64_array_msg(self.t.make, values, "joints"))
        return cached[1]


def load_controllers_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """A controller-manager parameter file → {controller name: its parameters, plus `type`}.

    The ROS 2 layout: `controller_manager: {ros__parameters: {update_rate, <name>: {type}}}` and
    `<name>: {ros__parameters: {...}}` per controller (a leading `/**:` wildcard is accepted).
    """
    doc = yaml.safe_load(Path(path).read_text()) or {}
    if "/**" in doc and "controller_manager" not in doc:
        doc = doc["/**"]
    manager = (doc.get("controller_manager") or {}).get("ros__parameters")
    if not isinstance(manager, dict):
        raise ValueError(f"{path}: no controller_manager.ros__parameters")
    controllers: dict[str, dict[str, Any]] = {}
    for name, value in manager.items():
        if isinstance(value, dict) and "type" in value:
            params = (doc.get(name) or {}).get("ros__parameters") or {}
            controllers[name] = {**params, "type": value["type"]}
    return controllers


def check_controllers_file(path: str | Path, joints: Sequence[str], topics: Mapping[str, str]) -> None:
    """ValueError naming the mismatch unless each command topic in `topics` is `/<c>/commands` of a
    ForwardCommandController c in the file with the role's interface_name and exactly `joints`, in order."""
    controllers = load_controllers_file(path)
    problems = []
    for role, interface in COMMAND_INTERFACES.items():
        topic = "/" + topics[role].strip("/")
        name = topic.removesuffix("/commands").strip("/")
        c = controllers.get(name)
        if not topic.endswith("/commands") or "/" in name or c is None:
            problems.append(
                f"topics.{role} {topic} is not /<controller>/commands of a controller in the file "
                f"(controllers: {sorted(controllers)})"
            )
            continue
        if c["type"] != FORWARD_COMMAND_CONTROLLER:
            problems.append(f"{name}: type {c['type']}, expected {FORWARD_COMMAND_CONTROLLER}")
        if c.get("interface_name") != interface:
            problems.append(f"{name}: interface_name {c.get('interface_name')!r}, expected {interface!r}")
        if list(c.get("joints") or []) != list(joints):
            problems.append(
                f"{name}: joints {c.get('joints')} differ from joint_command.joints {list(joints)}"
            )
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
