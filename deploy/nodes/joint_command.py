"""Legged commands the way a ros2_control robot takes them: forward_command_controllers.

A forward_command_controller (ros2_controllers) subscribes to `/<controller>/commands`
(std_msgs/Float64MultiArray) and writes `data[k]` to the command interface of `joints[k]`, its
`joints` parameter giving the order; no names travel on the wire, so both ends must agree on that
order. Here:

- `/joint_position_controller/commands`: joint position targets (rad), interface `position`;
- `/joint_gains_controller/commands`: kp of every joint, then kd of every joint, for the
  hardware's `kp` / `kd` command interfaces (as Unitree's ros2_control hardware interfaces expose
  them); the hardware closes τ = kp (q* − q) − kd q̇ at its own rate.

Gains each cycle: the runtime's (start-up: stand gains; DISARMED, ESTOP, FAILSAFE: kp 0 and the
damping kd), otherwise (the policy) the contract's joint drives, the gains it was trained with.
The gains go out before the targets, so a change of mode never pairs new targets with old gains
for longer than the two messages take.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deploy.contract import Contract
from deploy.runtime.robot_profile import RobotProfile
from deploy.runtime.runtime import RuntimeOutput
from deploy.transport import convert
from deploy.transport.names import TOPICS


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
        position_topic: str,
        gains_topic: str,
    ) -> None:
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
        p, g = TOPICS["joint_position_commands"], TOPICS["joint_gain_commands"]
        self._pos = transport.publisher(position_topic, p.type, p.qos)
        self._gains = transport.publisher(gains_topic, g.type, g.qos)
        self.published = 0

    def publish(self, out: RuntimeOutput) -> None:
        kp = self.drive_kp if out.kp is None else np.asarray(out.kp)
        kd = self.drive_kd if out.kd is None else np.asarray(out.kd)
        k = self.order
        self._gains.publish(convert.float64_array_msg(self.t.make, [*kp[k], *kd[k]], "kp_then_kd"))
        self._pos.publish(convert.float64_array_msg(self.t.make, out.actuator_command[k], "joints"))
        self.published += 1
