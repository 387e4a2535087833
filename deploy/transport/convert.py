"""ROS 2 messages ↔ the runtime's inputs and outputs: the one place frames are converted.

Works on any message object with ROS field names (Cyclone DDS types,
rclpy classes, rosbags objects); messages are built through a transport's
`make`, so this module imports neither DDS nor rclpy.

Frame conventions (deploy.transport.names): nav_msgs/Odometry carries the
pose in odom (world, ENU) and the twist in base_link (body, FLU); Tether's
Odometry holds the linear velocity in the world frame, so it is rotated here.
The reference (task command) carries position and velocity both in odom
(child_frame_id = odom). Quaternions: ROS (x, y, z, w) on the wire, Tether (w, x, y, z).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from deploy.rotations import rotate_world_to_body
from deploy.runtime.input_store import Command, Imu, JointStates, Odometry
from deploy.transport.names import BASE_FRAME, IMU_FRAME, WORLD_FRAME

Make = Callable[..., Any]

# diagnostic_msgs/DiagnosticStatus levels
OK, WARN, ERROR, STALE = 0, 1, 2, 3


def stamp_to_s(stamp: Any) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


class Stamp(NamedTuple):
    """A builtin_interfaces/Time's two fields, where a stamp read from CDR bytes needs no message
    object (reads like one: .sec, .nanosec)."""

    sec: int
    nanosec: int


def header_stamp_s(stamp: Any) -> float | None:
    """A message's own stamp in seconds, or None for the zero stamp (sec = nanosec = 0): the
    sender set none (a frozen simulator, a driver that never fills the header). See
    deploy/runtime/stamps.py for how unstamped messages are judged."""
    sec, nanosec = int(stamp.sec), int(stamp.nanosec)
    return None if sec == 0 and nanosec == 0 else sec + nanosec * 1e-9


def stamp_key(stamp: Any) -> tuple[int, int]:
    """An exact, hashable form of a builtin_interfaces/Time (matching stamps across processes)."""
    return int(stamp.sec), int(stamp.nanosec)


def s_to_stamp(t_s: float) -> dict[str, int]:
    """Seconds → builtin_interfaces/Time fields (nanoseconds rounded, never 1e9)."""
    ns = int(round(t_s * 1e9))
    return {"sec": ns // 1_000_000_000, "nanosec": ns % 1_000_000_000}


def _xyz(v: Any) -> np.ndarray:
    return np.array([v.x, v.y, v.z], dtype=np.float64)


def _quat_wxyz(q: Any) -> np.ndarray:
    return np.array([q.w, q.x, q.y, q.z], dtype=np.float64)


def _vec(v: Sequence[float]) -> dict[str, float]:
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}


def _quat(q_wxyz: Sequence[float]) -> dict[str, float]:
    return {"x": float(q_wxyz[1]), "y": float(q_wxyz[2]), "z": float(q_wxyz[3]), "w": float(q_wxyz[0])}


def odometry_from_msg(msg: Any) -> Odometry:
    """nav_msgs/Odometry (twist in child frame, body) → Tether Odometry (linear velocity in world).

    On plain floats (a message's 13 values: several times cheaper than NumPy on 3- and 4-vectors),
    the rotation as deploy.rotations.rotate_body_to_world computes it (normalized quaternion, its
    matrix); non-finite values pass through as NaN/inf and are rejected by the input store."""
    pose, twist = msg.pose.pose, msg.twist.twist
    p, o, v, w = pose.position, pose.orientation, twist.linear, twist.angular
    return odometry_from_values((p.x, p.y, p.z, o.x, o.y, o.z, o.w), (v.x, v.y, v.z, w.x, w.y, w.z))


def odometry_from_values(pose: Sequence[float], twist: Sequence[float]) -> Odometry:
    """odometry_from_msg on the message's values: pose (px, py, pz, qx, qy, qz, qw), twist in the
    child frame (vx, vy, vz, wx, wy, wz), as deploy.transport.cdr.decode_odometry reads them."""
    px, py, pz, qx, qy, qz, qw = map(float, pose)
    vx, vy, vz, wx, wy, wz = map(float, twist)
    lin_vel_world = _body_to_world(qw, qx, qy, qz, vx, vy, vz)
    return Odometry.of_floats((px, py, pz), (qw, qx, qy, qz), lin_vel_world, (wx, wy, wz))


def _body_to_world(
    w: float, x: float, y: float, z: float, vx: float, vy: float, vz: float
) -> tuple[float, float, float]:
    """rotate_body_to_world for one quaternion (w, x, y, z) and vector, on floats."""
    n = math.sqrt(w * w + x * x + y * y + z * z)  # deploy.rotations._normalized_floats
    if n > 1e-12:
        w, x, y, z = w / n, x / n, y / n, z / n
    else:
        w, x, y, z = 1.0, 0.0, 0.0, 0.0
    return (
        (1 - 2 * (y * y + z * z)) * vx + 2 * (x * y - w * z) * vy + 2 * (x * z + w * y) * vz,
        2 * (x * y + w * z) * vx + (1 - 2 * (x * x + z * z)) * vy + 2 * (y * z - w * x) * vz,
        2 * (x * z - w * y) * vx + 2 * (y * z + w * x) * vy + (1 - 2 * (x * x + y * y)) * vz,
    )


def odometry_msg(
    make: Make,
    stamp_s: float,
    pos_m: np.ndarray,
    quat_wxyz: np.ndarray,
    lin_vel_world_m_s: np.ndarray,
    ang_vel_body_rad_s: np.ndarray,
    frame_id: str = WORLD_FRAME,
    child_frame_id: str = BASE_FRAME,
) -> Any:
    pose, twist = odometry_fields(pos_m, quat_wxyz, lin_vel_world_m_s, ang_vel_body_rad_s)
    return make(
        "nav_msgs/msg/Odometry",
        header={"stamp": s_to_stamp(stamp_s), "frame_id": frame_id},
        child_frame_id=child_frame_id,
        pose={"pose": {"position": _vec(pose[:3]), "orientation": dict(zip("xyzw", pose[3:], strict=True))}},
        twist={"twist": {"linear": _vec(twist[:3]), "angular": _vec(twist[3:])}},
    )


def odometry_fields(
    pos_m: np.ndarray,
    quat_wxyz: np.ndarray,
    lin_vel_world_m_s: np.ndarray,
    ang_vel_body_rad_s: np.ndarray,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """nav_msgs/Odometry's pose (px, py, pz, qx, qy, qz, qw) and twist (vx, vy, vz, wx, wy, wz),
    the twist in the child (body) frame as ROS has it, from Tether's frames (as odometry_msg
    builds it; deploy/transport/cdr.py OdometryEncoder takes these)."""
    v_body = rotate_world_to_body(np.asarray(quat_wxyz)[None], np.asarray(lin_vel_world_m_s)[None])[0]
    w, x, y, z = np.asarray(quat_wxyz, dtype=np.float64).tolist()
    pose = (*np.asarray(pos_m, dtype=np.float64).tolist(), x, y, z, w)
    return pose, (*v_body.tolist(), *np.asarray(ang_vel_body_rad_s, dtype=np.float64).tolist())


def imu_from_msg(msg: Any) -> Imu:
    return Imu(
        quat_wxyz=_quat_wxyz(msg.orientation),
        ang_vel_rad_s=_xyz(msg.angular_velocity),
        lin_acc_m_s2=_xyz(msg.linear_acceleration),
    )


def imu_msg(
    make: Make,
    stamp_s: float,
    quat_wxyz: np.ndarray,
    ang_vel_rad_s: np.ndarray,
    lin_acc_m_s2: np.ndarray,
    frame_id: str = IMU_FRAME,
) -> Any:
    return make(
        "sensor_msgs/msg/Imu",
        header={"stamp": s_to_stamp(stamp_s), "frame_id": frame_id},
        orientation=_quat(quat_wxyz),
        angular_velocity=_vec(ang_vel_rad_s),
        linear_acceleration=_vec(lin_acc_m_s2),
    )


def joint_states_msg(
    make: Make,
    stamp_s: float,
    names: Sequence[str],
    pos_rad: np.ndarray,
    vel_rad_s: np.ndarray,
    effort_nm: np.ndarray | None = None,
) -> Any:
    """sensor_msgs/JointState as ros2_control's joint_state_broadcaster publishes it: every joint by
    name, position (rad), velocity (rad/s) and effort (N·m), frame_id empty."""
    return make(
        "sensor_msgs/msg/JointState",
        header={"stamp": s_to_stamp(stamp_s)},
        name=list(names),
        position=[float(x) for x in pos_rad],
        velocity=[float(x) for x in vel_rad_s],
        effort=[] if effort_nm is None else [float(x) for x in effort_nm],
    )


def joint_states_from_msg(msg: Any) -> JointStates:
    """Measured joints by name; a message whose velocity list is empty reads as zero velocities
    (a driver without velocity sensing), one whose lists differ in length is rejected by the store."""
    names = tuple(str(n) for n in msg.name)
    pos = np.array(list(msg.position), dtype=np.float64)
    vel = np.array(list(msg.velocity), dtype=np.float64)
    if vel.size == 0:
        vel = np.zeros_like(pos)
    return JointStates(names=names, pos_rad=pos, vel_rad_s=vel)


def joint_states_from_values(
    names: tuple[str, ...], position: tuple[float, ...], velocity: tuple[float, ...]
) -> JointStates:
    """joint_states_from_msg on the message's values, as deploy.transport.cdr.JointStateDecoder
    reads them."""
    if not velocity:
        velocity = (0.0,) * len(position)
    return JointStates.of_floats(names, position, velocity)


def imu_from_values(
    orientation_xyzw: Sequence[float], angular_velocity: Sequence[float], linear_acceleration: Sequence[float]
) -> Imu:
    """imu_from_msg on the message's values, as deploy.transport.cdr.decode_imu reads them."""
    x, y, z, w = orientation_xyzw
    return Imu.of_floats((w, x, y, z), tuple(angular_velocity), tuple(linear_acceleration))


def velocity_command_from_twist(msg: Any) -> Command:
    """geometry_msgs/Twist on /cmd_vel (base_link, REP-103) → the walk task's command (vx, vy, yaw rate)."""
    return Command(np.array([msg.linear.x, msg.linear.y, msg.angular.z], dtype=np.float64))


def twist_msg(make: Make, vx_m_s: float, vy_m_s: float, yaw_rate_rad_s: float) -> Any:
    return make(
        "geometry_msgs/msg/Twist",
        linear=_vec([vx_m_s, vy_m_s, 0.0]),
        angular=_vec([0.0, 0.0, yaw_rate_rad_s]),
    )


def float64_array_msg(make: Make, values: Sequence[float], label: str = "joints") -> Any:
    """std_msgs/Float64MultiArray with one labelled dimension (what a forward_command_controller
    takes; it reads only `data`)."""
    data = [float(x) for x in values]
    dim = make("std_msgs/msg/MultiArrayDimension", label=label, size=len(data), stride=len(data))
    return make("std_msgs/msg/Float64MultiArray", layout={"dim": [dim], "data_offset": 0}, data=data)


def float64_array_from_msg(msg: Any, size: int) -> np.ndarray | None:
    """The `data` of a Float64MultiArray, or None when it does not hold exactly `size` values
    (forward_command_controller refuses such a command the same way)."""
    data = np.array(list(msg.data), dtype=np.float64)
    return data if data.shape == (size,) else None


def reference_from_msg(msg: Any) -> Command:
    """The task command (target position, target velocity; both world) from a reference Odometry."""
    return Command(np.concatenate([_xyz(msg.pose.pose.position), _xyz(msg.twist.twist.linear)]))


def reference_msg(make: Make, stamp_s: float, target_pos_m: np.ndarray, target_vel_m_s: np.ndarray) -> Any:
    return make(
        "nav_msgs/msg/Odometry",
        header={"stamp": s_to_stamp(stamp_s), "frame_id": WORLD_FRAME},
        child_frame_id=WORLD_FRAME,  # the velocity is in the world frame too
        pose={"pose": {"position": _vec(target_pos_m), "orientation": _quat([1.0, 0.0, 0.0, 0.0])}},
        twist={"twist": {"linear": _vec(target_vel_m_s)}},
    )


def actuator_command_msg(make: Make, stamp: Any, names: Sequence[str], command: np.ndarray) -> Any:
    """sensor_msgs/JointState: name = actuators, effort = command (normalized [0, 1] for motors)."""
    return make(
        "sensor_msgs/msg/JointState",
        header={"stamp": stamp, "frame_id": BASE_FRAME},
        name=list(names),
        effort=[float(x) for x in command],
    )


def actuator_command_from_msg(msg: Any, names: Sequence[str]) -> np.ndarray | None:
    """The command in `names` order, matched by name; None when a name is missing or sizes differ."""
    got = list(msg.name)
    effort = list(msg.effort)
    if len(got) != len(effort):
        return None
    by_name = dict(zip(got, effort, strict=True))
    if any(n not in by_name for n in names):
        return None
    return np.array([by_name[n] for n in names], dtype=np.float64)


def diagnostic_array(
    make: Make, stamp_s: float, statuses: Sequence[tuple[int, str, str, str, Mapping[str, Any]]]
) -> Any:
    """diagnostic_msgs/DiagnosticArray from (level, name, message, hardware_id, key/values) tuples."""
    return make(
        "diagnostic_msgs/msg/DiagnosticArray",
        header={"stamp": s_to_stamp(stamp_s)},
        status=[
            make(
                "diagnostic_msgs/msg/DiagnosticStatus",
                level=level,
                name=name,
                message=message,
                hardware_id=hw,
                values=[
                    make("diagnostic_msgs/msg/KeyValue", key=k, value=v) for k, v in diagnostic_text(values)
                ],
            )
            for level, name, message, hw, values in statuses
        ],
    )


def diagnostic_text(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A status's key/values as the (key, text) pairs a diagnostic_msgs/KeyValue carries."""
    return [(k, _text(v)) for k, v in values.items()]


def diagnostics_to_dict(msg: Any) -> dict[str, dict[str, Any]]:
    """DiagnosticArray → {status name: {level, message, values: {key: value}}}."""
    out = {}
    for s in msg.status:
        level = s.level if isinstance(s.level, int) else int.from_bytes(bytes(s.level), "little")
        out[s.name] = {"level": level, "message": s.message, "values": {kv.key: kv.value for kv in s.values}}
    return out


def _text(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)
