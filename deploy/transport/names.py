"""Every ROS 2 topic, frame and DDS name Tether uses, in one place (REP-103 / REP-105).

Frames (REP-105):  odom ──► base_link (──► imu_link, fixed, identity on the Crazyflie)

- ``odom``: world-fixed, ENU (x east/forward at start, y left, z up), continuous.
  Tether's "world" frame is this frame: positions, linear velocities and the
  hover target are expressed in it.
- ``base_link``: the body, FLU (x forward, y left, z up), origin at the centre of mass.
- nav_msgs/Odometry follows REP-105: pose in ``header.frame_id`` (odom), twist in
  ``child_frame_id`` (base_link), so the linear velocity on the wire is in the body
  frame; the conversion to Tether's world-frame velocity happens in
  deploy.transport.convert, once.
- Quaternions on the wire are ROS's (x, y, z, w); inside Tether (w, x, y, z).

DDS naming as ROS 2 does it (rmw_cyclonedds): topic ``/odom`` is the DDS topic
``rt/odom``; message type ``nav_msgs/msg/Odometry`` is the DDS type
``nav_msgs::msg::dds_::Odometry_``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORLD_FRAME = "odom"
BASE_FRAME = "base_link"
IMU_FRAME = "imu_link"


@dataclass(frozen=True)
class TopicSpec:
    name: str  # ROS name, absolute
    type: str  # ROS type, pkg/msg/Type
    qos: str  # profile name in deploy.transport.qos.PROFILES
    doc: str


#: The default topics, by role. Node parameters may rename any of them (the role stays).
TOPICS: dict[str, TopicSpec] = {
    "odometry": TopicSpec(
        "/odom",
        "nav_msgs/msg/Odometry",
        "sensor_data",
        "vehicle state estimate: pose in odom, twist in base_link",
    ),
    "imu": TopicSpec("/imu/data", "sensor_msgs/msg/Imu", "sensor_data", "IMU in imu_link"),
    "joint_states": TopicSpec(
        "/joint_states", "sensor_msgs/msg/JointState", "sensor_data", "measured joints, by name"
    ),
    "reference": TopicSpec(
        "/tether/reference",
        "nav_msgs/msg/Odometry",
        "default",
        "task command: target position (pose) and velocity (twist), both in odom",
    ),
    "actuator_command": TopicSpec(
        "/tether/actuator_command",
        "sensor_msgs/msg/JointState",
        "default",
        "motor commands by name: effort = normalized command [0, 1]; header.stamp = stamp of the "
        "odometry the command was computed from",
    ),
    "cmd_vel": TopicSpec(
        "/cmd_vel",
        "geometry_msgs/msg/Twist",
        "default",
        "legged: velocity command in base_link (linear.x, linear.y m/s; angular.z rad/s), held until "
        "the next one",
    ),
    "joint_position_commands": TopicSpec(
        "/joint_position_controller/commands",
        "std_msgs/msg/Float64MultiArray",
        "default",
        "legged: joint position targets (rad) in the controller's `joints` order, as ros2_control's "
        "forward_command_controller takes them (no names on the wire: the order is a parameter)",
    ),
    "joint_kp_commands": TopicSpec(
        "/joint_kp_controller/commands",
        "std_msgs/msg/Float64MultiArray",
        "default",
        "legged: stiffness kp (N·m/rad) of every joint for the hardware's `kp` command interfaces, in "
        "the controller's `joints` order (a forward_command_controller with interface_name kp)",
    ),
    "joint_kd_commands": TopicSpec(
        "/joint_kd_controller/commands",
        "std_msgs/msg/Float64MultiArray",
        "default",
        "legged: damping kd (N·m·s/rad) of every joint for the hardware's `kd` command interfaces, in "
        "the controller's `joints` order (a forward_command_controller with interface_name kd)",
    ),
    "arm": TopicSpec("/tether/arm", "std_msgs/msg/Bool", "default", "true: arm, false: disarm"),
    "estop": TopicSpec(
        "/tether/estop",
        "std_msgs/msg/Bool",
        "default",
        "true: e-stop (latched, motors stop; accepted from any writer: stopping needs no key); false "
        "is ignored (counted as estop_false_ignored): only /tether/estop_reset resets",
    ),
    "estop_reset": TopicSpec(
        "/tether/estop_reset",
        "std_msgs/msg/Empty",
        "default",
        "operator action: reset a latched e-stop to DISARMED (signed, when the command plane is)",
    ),
    "state": TopicSpec(
        "/tether/state", "std_msgs/msg/String", "state", "runtime state, published on change (latched)"
    ),
    "diagnostics": TopicSpec(
        "/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", "default", "state, faults, loop statistics"
    ),
    "clock": TopicSpec("/clock", "rosgraph_msgs/msg/Clock", "clock", "simulation time (use_sim_time)"),
    "sim_fault": TopicSpec(
        "/tether/sim/fault",
        "std_msgs/msg/String",
        "default",
        "simulator only: inject a sensor fault now ('freeze' or 'nan', as configured in faults.*)",
    ),
    "ground_truth": TopicSpec(
        "/tether/sim/ground_truth",
        "nav_msgs/msg/Odometry",
        "sensor_data",
        "simulator only: noise-free state, same frames as /odom",
    ),
}

_NAME = re.compile(r"^/?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_TYPE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)/(msg|srv|action)/([A-Z][A-Za-z0-9]*)$")


def check_topic_name(name: str) -> str:
    """The absolute form of a ROS 2 topic name, or ValueError saying what is wrong with it."""
    if not _NAME.match(name) or "__" in name:
        raise ValueError(
            f"'{name}' is not a valid ROS 2 topic name; expected tokens of letters, digits and "
            "underscores separated by '/', not starting with a digit, without '__' (e.g. /odom)"
        )
    return name if name.startswith("/") else "/" + name


def dds_topic_name(ros_name: str) -> str:
    """ROS 2 topic → DDS topic, as rmw_cyclonedds names it: /odom → rt/odom."""
    return "rt" + check_topic_name(ros_name)


def dds_type_name(ros_type: str) -> str:
    """ROS 2 message type → DDS type name: nav_msgs/msg/Odometry → nav_msgs::msg::dds_::Odometry_."""
    m = _TYPE.match(ros_type)
    if m is None:
        raise ValueError(f"'{ros_type}' is not a ROS 2 interface type; expected pkg/msg/Type")
    pkg, kind, name = m.groups()
    return f"{pkg}::{kind}::dds_::{name}_"


def ros_type_name(dds_name: str) -> str:
    """Inverse of dds_type_name."""
    m = re.match(r"^([A-Za-z][A-Za-z0-9_]*)::(msg|srv|action)::dds_::([A-Z][A-Za-z0-9]*)_$", dds_name)
    if m is None:
        raise ValueError(f"'{dds_name}' is not a ROS 2 DDS type name (pkg::msg::dds_::Type_)")
    return "/".join(m.groups())
