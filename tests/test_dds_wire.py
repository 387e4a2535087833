"""Wire compatibility against an implementation we did not write: rosbags' ROS 2 CDR serializer.

For every message type Tether sends, with filled-in content, Cyclone DDS's bytes equal
rosbags' bytes, and rosbags' bytes decode in Tether to the same content.
"""

import numpy as np
import pytest
from rosbags.typesys.base import Nodetype

from deploy.transport import convert, messages

# Every type on the wire, including those nested inside the top-level ones.
WIRE_TYPES = sorted(
    set(messages.MESSAGE_TYPES)
    | {
        "diagnostic_msgs/msg/DiagnosticStatus",
        "diagnostic_msgs/msg/KeyValue",
        "geometry_msgs/msg/PoseWithCovariance",
        "geometry_msgs/msg/TwistWithCovariance",
        "std_msgs/msg/MultiArrayLayout",
        "std_msgs/msg/MultiArrayDimension",
        "rmw_dds_common/msg/NodeEntitiesInfo",
        "rmw_dds_common/msg/Gid",
    }
)


def _random(ft, rng):
    kind, arg = ft
    if kind == Nodetype.BASE:
        name, bound = arg
        if name == "string":
            return "".join(rng.choice(list("abcxyz_/ ")) for _ in range(int(rng.integers(0, bound or 12))))
        if name == "bool":
            return bool(rng.integers(2))
        if name.startswith("float"):
            return float(np.float32(rng.normal())) if name == "float32" else float(rng.normal())
        # rosbags packs `byte` as signed (ROS 2: octet): 0..127 reads the same under both
        bits = {"int8": 7, "int16": 15, "int32": 31, "int64": 62, "byte": 7}.get(name, 8)
        return int(rng.integers(0, 2**bits))
    if kind == Nodetype.NAME:
        return _fill(arg, rng)
    if kind == Nodetype.ARRAY:
        sub, n = arg
        return [_random(sub, rng) for _ in range(n)]
    sub, _ = arg
    return [_random(sub, rng) for _ in range(int(rng.integers(0, 4)))]


def _fill(ros_type, rng):
    return messages.make(ros_type, **{name: _random(ft, rng) for name, ft in messages.fields(ros_type)})


@pytest.mark.parametrize("ros_type", WIRE_TYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tether_bytes_equal_rosbags_bytes_and_decode_back(ros_type, seed):
    store = messages.typestore()
    msg = _fill(ros_type, np.random.default_rng(seed))
    ours = bytes(messages.serialize(msg))
    theirs = bytes(store.serialize_cdr(messages.to_rosbags(msg, ros_type), ros_type))
    assert ours[:4] == b"\x00\x01\x00\x00"  # plain CDR, little endian (XCDR1), as ROS 2 uses
    assert ours == theirs
    # rosbags' bytes decode in Tether to the same content, and rosbags reads ours
    back = messages.deserialize(theirs, ros_type)
    assert _plain(back) == _plain(msg)
    assert bytes(messages.serialize(back)) == theirs
    assert bytes(store.serialize_cdr(store.deserialize_cdr(ours, ros_type), ros_type)) == theirs


def test_every_type_tether_sends_is_covered():
    from deploy.transport.names import TOPICS

    assert {t.type for t in TOPICS.values()} <= set(WIRE_TYPES)


def _plain(x):
    """Nested content as plain Python (Cyclone returns uint8 arrays as bytes)."""
    if isinstance(x, bytes | bytearray):
        return list(x)
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if hasattr(x, "__dataclass_fields__"):
        return {k: _plain(getattr(x, k)) for k in x.__dataclass_fields__}
    return x


def _both(msg, ros_type):
    store = messages.typestore()
    return bytes(messages.serialize(msg)), bytes(
        store.serialize_cdr(messages.to_rosbags(msg, ros_type), ros_type)
    )


def test_messages_built_by_the_nodes_are_wire_identical():
    make = messages.make
    q = np.array([0.9, 0.1, -0.2, 0.3])
    q /= np.linalg.norm(q)
    cases = {
        "nav_msgs/msg/Odometry": convert.odometry_msg(make, 1.25, [1, 2, 3], q, [0.1, -0.2, 0.3], [1, 2, 3]),
        "sensor_msgs/msg/Imu": convert.imu_msg(make, 2.5, q, [0.1, 0.2, 0.3], [0, 0, 9.81]),
        "sensor_msgs/msg/JointState": convert.actuator_command_msg(
            make, make("builtin_interfaces/msg/Time", sec=3, nanosec=7), ["motor_0", "motor_1"], [0.4, 0.6]
        ),
        "diagnostic_msgs/msg/DiagnosticArray": convert.diagnostic_array(
            make, 4.0, [(convert.WARN, "policy_node: runtime", "FAILSAFE", "cf", {"a": 1.5, "b": "x"})]
        ),
    }
    for ros_type, msg in cases.items():
        ours, theirs = _both(msg, ros_type)
        assert ours == theirs, ros_type


def test_odometry_twist_is_in_the_body_frame_on_the_wire():
    # REP-105: nav_msgs/Odometry twist is in child_frame_id (base_link). Yawed 90°: world +x is body -y.
    make = messages.make
    q = np.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)])
    msg = convert.odometry_msg(make, 0.0, [0, 0, 1], q, [1.0, 0.0, 0.0], [0, 0, 0])
    v = msg.twist.twist.linear
    assert (v.x, v.y, v.z) == pytest.approx((0.0, -1.0, 0.0))
    assert (msg.header.frame_id, msg.child_frame_id) == ("odom", "base_link")
    back = convert.odometry_from_msg(messages.deserialize(msg.serialize(), "nav_msgs/msg/Odometry"))
    assert back.lin_vel_m_s == pytest.approx([1.0, 0.0, 0.0])
    assert back.quat_wxyz == pytest.approx(q)  # (w, x, y, z) inside, (x, y, z, w) on the wire
    assert msg.pose.pose.orientation.w == pytest.approx(q[0])


def test_stamps_round_trip_exactly():
    for t in (0.0, 0.005, 1.0, 12.345678901, 1e6 + 0.999999999):
        st = convert.s_to_stamp(t)
        assert 0 <= st["nanosec"] < 1_000_000_000
        assert abs(st["sec"] + st["nanosec"] * 1e-9 - t) < 1e-9
