"""The hand-written CDR of deploy/transport/cdr.py is byte for byte what Cyclone DDS's own serializer
writes for the same message (and what DataWriter.write hands on: padded to a multiple of 4), for
many values and edge cases; the decoder reads back what the serializer wrote."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from deploy.transport import convert, messages
from deploy.transport.cdr import (
    Float64ArrayEncoder,
    ImuEncoder,
    JointStateDecoder,
    JointStateEncoder,
    OdometryEncoder,
    UInt8ArrayEncoder,
    decode_imu,
    decode_odometry,
    encode_clock,
    encode_diagnostic_array,
)
from deploy.transport.command_auth import TOKEN_BYTES, canonical_bytes
from tests.ros_helpers import FASTDDS_CHILD_ENV, needs_rclpy


def _written(msg) -> bytes:
    """What cyclonedds' DataWriter.write passes to the C layer for `msg`."""
    ser = msg.serialize()
    return ser.ljust((len(ser) + 3) & ~3, b"\0")


def _reference(frame_id: str, names, sec: int, nanosec: int, effort) -> bytes:
    msg = messages.make(
        "sensor_msgs/msg/JointState",
        header={"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id},
        name=list(names),
        effort=[float(x) for x in effort],
    )
    return _written(msg)


EDGE = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-308, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308,
        math.pi, 1.0 / 3.0, 0.1 + 0.2]  # fmt: skip
STAMPS = [
    (0, 0),
    (1, 1),
    (2**31 - 1, 999_999_999),
    (-(2**31), 0),
    (1_700_000_000, 123_456_789),
    (-1, 2**32 - 1),
]


@pytest.mark.parametrize(
    "frame_id, names",
    [
        ("base_link", ("m0", "m1", "m2", "m3")),  # the quadrotor's motors
        ("", ("m0", "m1", "m2", "m3")),
        ("base_link", ()),
        ("b", ("a",)),
        ("base_link", ("motor_front_right_long_name", "x", "yz", "abc")),  # every string-padding case
        ("frame_ü", ("jöint", "j2", "j3")),  # UTF-8
        ("base_link", tuple(f"joint_{k}" for k in range(12))),
    ],
)
def test_joint_state_bytes_match_cyclonedds_for_every_stamp_and_many_values(frame_id, names):
    enc = JointStateEncoder(frame_id, names)
    rng = np.random.default_rng(len(names))
    n = len(names)
    cases = [rng.standard_normal(n).tolist(), rng.uniform(0, 1, n).tolist()]
    cases += [[EDGE[(k + i) % len(EDGE)] for i in range(n)] for k in range(len(EDGE))]
    for sec, nanosec in STAMPS:
        for effort in cases:
            got = enc.encode(sec, nanosec, effort)
            assert got == _reference(frame_id, names, sec, nanosec, effort), (sec, nanosec, effort)
            assert len(got) % 4 == 0


@pytest.mark.parametrize(
    "label, size", [("joints", 12), ("joints", 1), ("joints", 0), ("", 3), ("abc", 2), ("ab", 5)]
)
def test_float64_array_bytes_match_cyclonedds(label, size):
    enc = Float64ArrayEncoder(label, size)
    rng = np.random.default_rng(size)
    cases = [rng.standard_normal(size).tolist(), [0.0] * size]
    cases += [[EDGE[(k + i) % len(EDGE)] for i in range(size)] for k in range(len(EDGE))]
    for values in cases:
        want = _written(convert.float64_array_msg(messages.make, values, label))
        assert enc.encode(values) == want, values


@pytest.mark.parametrize(
    "frame_id, names",
    [("base_link", ("m0", "m1", "m2", "m3")), ("", ()), ("frame_ü", ("jöint", "j2")), ("b", ("a",))],
)
def test_the_commands_canonical_encoding_is_command_auths(frame_id, names):
    enc = JointStateEncoder(frame_id, names)
    rng = np.random.default_rng(3)
    for sec, nanosec in STAMPS:
        effort = rng.standard_normal(len(names)).tolist()
        msg = messages.make(
            "sensor_msgs/msg/JointState",
            header={"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id},
            name=list(names),
            effort=effort,
        )
        assert enc.canonical(sec, nanosec, effort) == canonical_bytes(msg, "sensor_msgs/msg/JointState")


ODOMETRY_FRAMES = [("odom", "base_link"), ("", ""), ("o", "ab"), ("world_frame", "abc")]


def _odometry_cases(frames, count: int, seed: int, covariance: bool):
    """(sec, nanosec, values (pose 7, twist 6), message) for `count` odometry messages: edge values
    first, then random ones of every magnitude; with `covariance`, random covariances (else zero,
    as OdometryEncoder writes them)."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        v = rng.standard_normal(13) * (10.0 ** rng.integers(-300, 300))
        if k < len(EDGE):
            v[:] = EDGE[k]
        sec, nanosec = STAMPS[k % len(STAMPS)]
        pose = {"pose": {"position": dict(zip("xyz", v[:3].tolist(), strict=True)),
                         "orientation": dict(zip("xyzw", v[3:7].tolist(), strict=True))}}  # fmt: skip
        twist = {"twist": {"linear": dict(zip("xyz", v[7:10].tolist(), strict=True)),
                           "angular": dict(zip("xyz", v[10:13].tolist(), strict=True))}}  # fmt: skip
        if covariance:
            pose["covariance"] = rng.standard_normal(36).tolist()
            twist["covariance"] = rng.standard_normal(36).tolist()
        msg = messages.make(
            "nav_msgs/msg/Odometry",
            header={"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frames[0]},
            child_frame_id=frames[1],
            pose=pose,
            twist=twist,
        )
        yield sec, nanosec, v, msg


@pytest.mark.parametrize("frames", ODOMETRY_FRAMES)
def test_odometry_bytes_match_cyclonedds(frames):
    enc = OdometryEncoder(*frames)
    for sec, nanosec, v, msg in _odometry_cases(frames, 30, seed=11, covariance=False):
        data = enc.encode(sec, nanosec, v[:7].tolist(), v[7:].tolist())
        assert data == _written(msg)
        assert decode_odometry(data) == (sec, nanosec, tuple(v[:7].tolist()), tuple(v[7:].tolist()))


@pytest.mark.parametrize("frame_id", ["imu_link", "", "i", "abc"])
def test_imu_bytes_match_cyclonedds(frame_id):
    enc = ImuEncoder(frame_id)
    rng = np.random.default_rng(12)
    for k in range(30):
        v = rng.standard_normal(10) * (10.0 ** rng.integers(-300, 300))
        if k < len(EDGE):
            v[:] = EDGE[k]
        sec, nanosec = STAMPS[k % len(STAMPS)]
        msg = messages.make(
            "sensor_msgs/msg/Imu",
            header={"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id},
            orientation=dict(zip("xyzw", v[:4].tolist(), strict=True)),
            angular_velocity=dict(zip("xyz", v[4:7].tolist(), strict=True)),
            linear_acceleration=dict(zip("xyz", v[7:].tolist(), strict=True)),
        )
        data = enc.encode(sec, nanosec, v[:4].tolist(), v[4:7].tolist(), v[7:].tolist())
        assert data == _written(msg)
        q, w, a = tuple(v[:4].tolist()), tuple(v[4:7].tolist()), tuple(v[7:].tolist())
        assert decode_imu(data) == (sec, nanosec, q, w, a)


def test_clock_bytes_match_cyclonedds():
    for sec, nanosec in STAMPS:
        msg = messages.make("rosgraph_msgs/msg/Clock", clock={"sec": sec, "nanosec": nanosec})
        assert encode_clock(sec, nanosec) == _written(msg)


@pytest.mark.parametrize("size", [0, 1, 3, 4, TOKEN_BYTES])
def test_uint8_array_bytes_match_cyclonedds(size):
    enc = UInt8ArrayEncoder(size)
    for fill in (0, 7, 255):
        data = bytes((fill + i) % 256 for i in range(size))
        assert enc.encode(data) == _written(messages.make("std_msgs/msg/UInt8MultiArray", data=list(data)))
    with pytest.raises(ValueError, match=f"expected {size} bytes"):
        enc.encode(bytes(size + 1))


@pytest.mark.parametrize(
    "statuses",
    [
        [],
        [(0, "", "", "", {})],
        [(2, "policy_node: runtime", "ESTOP: ü", "crazyflie", {"a": 1, "bb": 2.5, "c": None, "d": math.nan})],
        [(1, "a", "m", "h", {"k": "v", "kk": True}), (3, "bcd", "", "g", {"x" * 7: "y" * 5})],
    ],
)
def test_diagnostic_array_bytes_match_cyclonedds(statuses):
    for t in (0.0, 12.5, 1_700_000_000.123456789):
        stamp = convert.s_to_stamp(t)
        text = [(lv, n, m, h, convert.diagnostic_text(v)) for lv, n, m, h, v in statuses]
        got = encode_diagnostic_array(stamp["sec"], stamp["nanosec"], text)
        assert got == _written(convert.diagnostic_array(messages.make, t, statuses))
        msg = messages.deserialize(got, "diagnostic_msgs/msg/DiagnosticArray")
        assert set(convert.diagnostics_to_dict(msg)) == {s[1] for s in statuses}


def test_the_encoder_does_not_keep_a_previous_message_in_its_bytes():
    enc = JointStateEncoder("base_link", ("m0", "m1"))
    first = enc.encode(5, 6, [0.25, 0.75])
    second = enc.encode(7, 8, [1.0, 0.0])
    assert first == _reference("base_link", ("m0", "m1"), 5, 6, [0.25, 0.75])  # not changed by the second
    assert second == _reference("base_link", ("m0", "m1"), 7, 8, [1.0, 0.0])


def test_the_encoded_command_decodes_as_the_message():
    enc = JointStateEncoder("base_link", ("m0", "m1", "m2", "m3"))
    msg = messages.deserialize(enc.encode(12, 34, [0.1, 0.2, 0.3, 0.4]), "sensor_msgs/msg/JointState")
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (12, 34, "base_link")
    assert list(msg.name) == ["m0", "m1", "m2", "m3"] and list(msg.effort) == [0.1, 0.2, 0.3, 0.4]
    assert list(msg.position) == [] and list(msg.velocity) == []
    assert convert.actuator_command_from_msg(msg, ["m3", "m0"]).tolist() == [0.4, 0.1]


def test_out_of_range_values_are_refused_as_by_the_serializer():
    enc = JointStateEncoder("base_link", ("m0",))
    with pytest.raises(struct.error):
        enc.encode(2**31, 0, [0.0])
    with pytest.raises(struct.error):
        enc.encode(0, 0, [0.0, 1.0])  # more efforts than names


@pytest.mark.parametrize("frames", ODOMETRY_FRAMES)
def test_odometry_decodes_what_cyclonedds_serialized(frames):
    for sec, nanosec, v, msg in _odometry_cases(frames, 50, seed=7, covariance=True):
        got = decode_odometry(_written(msg))
        assert got == (sec, nanosec, tuple(v[:7].tolist()), tuple(v[7:].tolist()))


def test_odometry_decoding_refuses_what_it_cannot_read():
    msg = convert.odometry_msg(messages.make, 1.0, [0, 0, 2], [1, 0, 0, 0], [0, 0, 0], [0, 0, 0])
    data = _written(msg)
    with pytest.raises(ValueError, match="encapsulation"):
        decode_odometry(b"\x00\x00" + data[2:])  # big-endian CDR
    with pytest.raises((ValueError, struct.error)):
        decode_odometry(data[: len(data) - 100])


def _joint_state(frame_id: str, names, sec: int, nanosec: int, pos, vel, effort=()) -> bytes:
    msg = messages.make(
        "sensor_msgs/msg/JointState",
        header={"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id},
        name=list(names),
        position=[float(x) for x in pos],
        velocity=[float(x) for x in vel],
        effort=[float(x) for x in effort],
    )
    return _written(msg)


JOINT_NAME_SETS = [
    (),
    ("a",),
    tuple(f"{leg}_{j}_joint" for leg in ("FL", "FR", "RL", "RR") for j in ("hip", "thigh", "calf")),
    ("motor_front_right_long_name", "x", "yz", "abc"),  # every string-padding case
    ("jöint", "j2", "j3"),  # UTF-8
]


def test_joint_states_decode_what_cyclonedds_serialized_and_the_names_cache_follows_changes():
    """One decoder across messages whose names change now and then (the cache must notice), with
    every frame padding, empty and full velocity lists, efforts or none, edge values."""
    rng = np.random.default_rng(11)
    decoder = JointStateDecoder()
    names = JOINT_NAME_SETS[2]
    for k in range(400):
        if k % 5 == 0:
            names = JOINT_NAME_SETS[int(rng.integers(len(JOINT_NAME_SETS)))]
        n = len(names)
        frame_id = ["", "b", "base", "base_link_x", "frame_ü"][k % 5]
        sec, nanosec = STAMPS[k % len(STAMPS)]
        pos = [EDGE[int(i)] for i in rng.integers(len(EDGE), size=n)] if k % 3 == 0 else rng.normal(0, 3, n)
        vel = [] if k % 7 == 0 else rng.normal(0, 30, n)
        effort = rng.normal(0, 5, n) if k % 2 else []
        got = decoder.decode(_joint_state(frame_id, names, sec, nanosec, pos, vel, effort))
        assert got == (sec, nanosec, names, tuple(float(x) for x in pos), tuple(float(x) for x in vel))


def test_joint_states_decoding_refuses_what_it_cannot_read():
    names = JOINT_NAME_SETS[2]
    data = _joint_state("", names, 1, 2, np.zeros(12), np.zeros(12))
    decoder = JointStateDecoder()
    with pytest.raises(ValueError, match="encapsulation"):
        decoder.decode(b"\x00\x00" + data[2:])  # big-endian CDR
    for cut in (30, len(data) - 200, len(data) - 100):
        with pytest.raises((ValueError, struct.error)):
            JointStateDecoder().decode(data[:cut])
    decoder.decode(data)  # cached names, then a truncated body
    with pytest.raises(struct.error):
        decoder.decode(data[: len(data) - 100])
    huge = bytearray(data)
    huge[20:24] = (2**31).to_bytes(4, "little")  # the name count, after an empty frame_id and padding
    with pytest.raises(ValueError, match="count"):
        JointStateDecoder().decode(bytes(huge))


@pytest.mark.parametrize("frame_id", ["", "imu_link", "imu", "frame_ü"])
def test_imu_decodes_what_cyclonedds_serialized(frame_id):
    rng = np.random.default_rng(len(frame_id))
    for k in range(60):
        sec, nanosec = STAMPS[k % len(STAMPS)]
        v = rng.normal(0, 3, 10)
        if k % 4 == 0:
            v = np.array([EDGE[int(i)] for i in rng.integers(len(EDGE), size=10)])
        msg = messages.make(
            "sensor_msgs/msg/Imu",
            header={"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id},
            orientation=dict(zip("xyzw", v[:4].tolist(), strict=True)),
            orientation_covariance=rng.normal(0, 1, 9).tolist(),
            angular_velocity=dict(zip("xyz", v[4:7].tolist(), strict=True)),
            angular_velocity_covariance=rng.normal(0, 1, 9).tolist(),
            linear_acceleration=dict(zip("xyz", v[7:].tolist(), strict=True)),
            linear_acceleration_covariance=rng.normal(0, 1, 9).tolist(),
        )
        data = _written(msg)
        expected = (sec, nanosec, tuple(v[:4].tolist()), tuple(v[4:7].tolist()), tuple(v[7:].tolist()))
        assert decode_imu(data) == expected
    with pytest.raises(ValueError, match="encapsulation"):
        decode_imu(b"\x00\x00" + data[2:])
    with pytest.raises(struct.error):
        decode_imu(data[: len(data) - 80])


def test_odometry_conversion_on_floats_agrees_with_the_rotation_module():
    from deploy.rotations import rotate_body_to_world

    rng = np.random.default_rng(3)
    qs = [rng.standard_normal(4) * 10.0 ** rng.integers(-3, 3) for _ in range(2000)]
    qs += [np.array(q, dtype=float) for q in ([1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [1e-13, 0, 0, 0])]
    for q in qs:
        v = rng.standard_normal(3) * 10.0 ** rng.integers(-3, 6)
        msg = convert.odometry_msg(messages.make, 1.0, [1, 2, 3], [1, 0, 0, 0], [0, 0, 0], [4, 5, 6])
        o = msg.pose.pose.orientation
        o.w, o.x, o.y, o.z = q.tolist()
        t = msg.twist.twist.linear
        t.x, t.y, t.z = v.tolist()
        got = convert.odometry_from_msg(msg)
        want = rotate_body_to_world(q[None], v[None])[0]
        np.testing.assert_allclose(got.lin_vel_m_s, want, rtol=0, atol=1e-14 * (np.linalg.norm(v) + 1e-300))
        assert got.quat_wxyz.tolist() == q.tolist() and got.pos_m.tolist() == [1, 2, 3]
        assert got.ang_vel_rad_s.tolist() == [4, 5, 6]
    msg.pose.pose.orientation.w = float("nan")
    assert not np.isfinite(convert.odometry_from_msg(msg).quat_wxyz).all()  # passed on, refused by the store


RCLPY_COMMAND_READER = """
import json, sys, time
from deploy.transport.names import TOPICS
from deploy.transport.rclpy.transport import RclpyTransport
t = RclpyTransport("cdr_reader", domain_id=int(sys.argv[1]))
got = {}
spec = TOPICS["actuator_command"]
def on(m):
    got[(m.header.stamp.sec, m.header.stamp.nanosec)] = [m.header.frame_id, list(m.name), list(m.position),
                                                         list(m.velocity), list(m.effort)]
t.subscribe(spec.name, spec.type, spec.qos, on)
t.start()
print("ready", flush=True)
t0 = time.monotonic()
while len(got) < int(sys.argv[2]) and time.monotonic() - t0 < 30:
    time.sleep(0.01)
print(json.dumps([[k[0], k[1], *v] for k, v in sorted(got.items())]), flush=True)
t.close()
"""


@needs_rclpy
def test_rclpy_reads_the_hand_written_actuator_command(dds_domain):
    """A real ROS 2 node (rclpy on Fast DDS, in a child) reads the bytes the policy node writes."""
    import json
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport
    from deploy.transport.names import TOPICS

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, **FASTDDS_CHILD_ENV}
    sent = {(7, k): [0.125 * k, -0.0, 1.0, 1e-300 * k] for k in range(1, 6)}
    child = subprocess.Popen(
        [sys.executable, "-c", RCLPY_COMMAND_READER, str(dds_domain), str(len(sent))],
        cwd=root, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    use_loopback()
    t = DdsTransport("policy_node", dds_domain)
    try:
        spec = TOPICS["actuator_command"]
        pub = t.publisher(spec.name, spec.type, spec.qos)
        enc = JointStateEncoder("base_link", ("m0", "m1", "m2", "m3"))
        assert child.stdout.readline().strip() == "ready"
        for _ in range(300):  # until the reader has them all (it exits then), at most ~30 s
            for (sec, nanosec), effort in sent.items():
                pub.publish_cdr(enc.encode(sec, nanosec, effort))
            if child.poll() is not None:
                break
            time.sleep(0.1)
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        t.close()
    got = json.loads(out.strip().splitlines()[-1])
    assert got == [[s, ns, "base_link", ["m0", "m1", "m2", "m3"], [], [], e] for (s, ns), e in sent.items()]


#: The byte paths decode in compiled C where a compiler is (deploy/transport/compiled_decode.py),
#: else in Python: both are checked against the message paths.
DECODING = [pytest.param("compiled C", id="compiled"), pytest.param("python", id="python")]


def _decode_in(node, decoding: str) -> None:
    if decoding == "python":
        node._decoders = None
    elif node._decoders is None:
        pytest.skip("no compiled sensor decoders here (no C compiler)")
    assert node.input_decoding == decoding


@pytest.mark.parametrize("decoding", DECODING)
def test_the_policy_node_reads_odometry_bytes_as_the_message(tmp_path, decoding):
    """The node's CDR odometry path stores what its message path stores, for little- and big-endian
    senders (the latter through Cyclone's deserializer), and refuses the same bad values."""
    from cyclonedds.idl._support import Endianness

    from deploy.nodes.policy_node import PolicyNode
    from deploy.runtime.config import DEFAULT_CONFIG
    from tests.runtime_helpers import NullTransport, hover_policy

    class CdrTransport(NullTransport):
        def subscribe_cdr(self, topic, ros_type, qos, callback):
            self.subscribe(topic, ros_type, qos, callback)

    config = tmp_path / "runtime.yaml"
    config.write_text(DEFAULT_CONFIG.read_text().replace("clock: system", "clock: none"))
    policy = hover_policy(tmp_path / "hover.onnx")
    params = {"policy_file": str(policy), "airborne_start": True, "runtime_config": str(config)}
    by_bytes, by_msg = PolicyNode(CdrTransport(), params), PolicyNode(NullTransport(), params)
    assert by_bytes.odometry_as_cdr and not by_msg.odometry_as_cdr
    _decode_in(by_bytes, decoding)
    assert by_msg.input_decoding == "messages"
    q = np.array([0.9, 0.1, -0.2, 0.3])
    for k, (quat, big) in enumerate([(q / np.linalg.norm(q), False), (q / np.linalg.norm(q), True),
                                     ([1, 0, 0, float("nan")], False), ([0.0, 0, 0, 0], False)]):  # fmt: skip
        msg = convert.odometry_msg(
            messages.make, 5.0 + k, [1, 2, 3], [1, 0, 0, 0], [0.5, -0.5, 2], [0.1, 0.2, 0.3]
        )
        o = msg.pose.pose.orientation
        o.w, o.x, o.y, o.z = (float(x) for x in quat)
        data = msg.serialize(endianness=Endianness.Big if big else Endianness.Little)
        assert (data[1] == 0) == big
        by_bytes._on_odometry_cdr(data)
        by_msg._on_odometry(msg)
        a, b = by_bytes.runtime.inputs, by_msg.runtime.inputs
        sa, sb = a.get("odometry"), b.get("odometry")
        for f in ("pos_m", "quat_wxyz", "lin_vel_m_s", "ang_vel_rad_s"):
            assert getattr(sa.value, f).tolist() == getattr(sb.value, f).tolist()
        assert sa.header_stamp_s == sb.header_stamp_s
        assert a.status("odometry").invalid == b.status("odometry").invalid
        assert by_bytes._odom_key == by_msg._odom_key == (5 + k, 0)
    assert a.status("odometry").rejected == b.status("odometry").rejected == 2


RCLPY_ODOMETRY_WRITER = """
import sys, time
from deploy.transport import convert
from deploy.transport.names import TOPICS
from deploy.transport.rclpy.transport import RclpyTransport
t = RclpyTransport("odometry_writer", domain_id=int(sys.argv[1]))
spec = TOPICS["odometry"]
pub = t.publisher(spec.name, spec.type, spec.qos)
t.start()
t0 = time.monotonic()
while time.monotonic() - t0 < 30 and not sys.stdin.closed:
    for k in range(1, 4):
        q, v, w = [0.5, 0.5, 0.5, 0.5], [0.25 * k, 0, -1], [0.1, 0.2, 0.3 * k]
        pub.publish(convert.odometry_msg(t.make, 100.0 + k, [k, 2, 3], q, v, w))
    time.sleep(0.02)
"""


@needs_rclpy
def test_the_dds_transport_hands_over_odometry_from_rclpy_as_bytes_the_decoder_reads(dds_domain):
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from deploy.transport.dds.loopback import use_loopback
    from deploy.transport.dds.transport import DdsTransport
    from deploy.transport.names import TOPICS

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, **FASTDDS_CHILD_ENV}
    use_loopback()
    t = DdsTransport("policy_node", dds_domain)
    got: dict[int, tuple] = {}
    spec = TOPICS["odometry"]
    t.subscribe_cdr(spec.name, spec.type, spec.qos, lambda data: got.setdefault(*_by_sec(data)))
    t.start()
    child = subprocess.Popen(
        [sys.executable, "-c", RCLPY_ODOMETRY_WRITER, str(dds_domain)],
        cwd=root,
        env=env,
        stdin=subprocess.PIPE,
    )
    try:
        for _ in range(600):
            if len(got) == 3:
                break
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait(timeout=30)
        t.close()
    assert sorted(got) == [101, 102, 103]
    for k in (1, 2, 3):
        data, (sec, nanosec, pose, twist) = got[100 + k]
        q = [0.5, 0.5, 0.5, 0.5]
        want = convert.odometry_msg(
            messages.make, 100.0 + k, [k, 2, 3], q, [0.25 * k, 0, -1], [0.1, 0.2, 0.3 * k]
        )
        assert data == _written(want)  # Fast DDS wrote the bytes Cyclone writes
        assert (sec, nanosec) == (100 + k, 0)
        p, o = want.pose.pose.position, want.pose.pose.orientation
        assert pose == (p.x, p.y, p.z, o.x, o.y, o.z, o.w)


def _by_sec(data: bytes) -> tuple[int, tuple]:
    decoded = decode_odometry(data)
    return decoded[0], (bytes(data), decoded)


@pytest.mark.parametrize("decoding", DECODING)
def test_the_policy_node_reads_joint_states_and_imu_bytes_as_the_messages(tmp_path, decoding):
    """A legged node's CDR paths store what its message paths store, for little- and big-endian
    senders, and refuse the same bad samples for the same reasons."""
    from cyclonedds.idl._support import Endianness

    from bench.loop import WALK_POLICY, _profile_for
    from deploy.nodes.policy_node import PolicyNode
    from deploy.policy_file import PolicyFile
    from deploy.runtime.config import DEFAULT_CONFIG
    from tests.runtime_helpers import NullTransport

    class CdrTransport(NullTransport):
        def subscribe_cdr(self, topic, ros_type, qos, callback):
            self.subscribe(topic, ros_type, qos, callback)

    config = tmp_path / "runtime.yaml"
    config.write_text(DEFAULT_CONFIG.read_text().replace("clock: system", "clock: none"))
    profile = _profile_for(PolicyFile(WALK_POLICY).contract.robot)
    params = {"policy_file": str(WALK_POLICY), "robot_profile": str(profile), "runtime_config": str(config)}
    by_bytes, by_msg = PolicyNode(CdrTransport(), params), PolicyNode(NullTransport(), params)
    assert {"imu", "joint_states"} <= by_bytes.cdr_inputs and not by_msg.cdr_inputs
    _decode_in(by_bytes, decoding)
    joints = list(by_bytes.runtime.assembler.joints)
    q = np.array([0.9, 0.1, -0.2, 0.3]) / np.linalg.norm([0.9, 0.1, -0.2, 0.3])
    nan = float("nan")
    imu_cases = [(q, False), (q, True), ([0.0, 0, 0, 0], False), ([1, 0, 0, nan], False), (q, False)]
    joint_cases = [  # names, positions, velocities, big-endian
        (joints, np.linspace(-1, 1, 12), np.linspace(2, 3, 12), False),
        (joints[::-1], np.linspace(-1, 1, 12), [], False),  # another order, no velocities
        (joints, np.linspace(-1, 1, 12), np.linspace(2, 3, 12), True),
        (joints, [nan] + [0.0] * 11, np.zeros(12), False),
        (joints[:-1] + joints[:1], np.zeros(12), np.zeros(12), False),  # a duplicate name
        (joints, np.zeros(11), np.zeros(12), False),  # lengths differ
        (joints, np.ones(12), np.ones(12), False),
    ]
    for k, (quat, big) in enumerate(imu_cases):
        quat = np.array(quat, dtype=float)
        msg = convert.imu_msg(messages.make, 5.0 + k, quat, [0.1, 0.2, 0.3], [0, 0, 9.8])
        data = msg.serialize(endianness=Endianness.Big if big else Endianness.Little)
        by_bytes._on_imu_cdr(data)
        by_msg._on_imu(msg)
        _same_input(by_bytes, by_msg, "imu", ("quat_wxyz", "ang_vel_rad_s", "lin_acc_m_s2"))
    for k, (names, pos, vel, big) in enumerate(joint_cases):
        msg = convert.joint_states_msg(messages.make, 7.0 + k, names, np.asarray(pos), np.asarray(vel))
        data = msg.serialize(endianness=Endianness.Big if big else Endianness.Little)
        by_bytes._on_joint_states_cdr(data)
        by_msg._on_joint_states(msg)
        _same_input(by_bytes, by_msg, "joint_states", ("names", "pos_rad", "vel_rad_s"))
    a, b = by_bytes.runtime.inputs, by_msg.runtime.inputs
    assert a.status("imu").rejected == b.status("imu").rejected == 2
    assert a.status("joint_states").rejected == b.status("joint_states").rejected == 3


def _same_input(by_bytes, by_msg, name: str, fields: tuple[str, ...]) -> None:
    a, b = by_bytes.runtime.inputs, by_msg.runtime.inputs
    sa, sb = a.get(name), b.get(name)
    for f in fields:
        va, vb = (np.asarray(getattr(s.value, f)).tolist() for s in (sa, sb))
        assert va == vb
    assert sa.header_stamp_s == sb.header_stamp_s
    assert a.status(name).invalid == b.status(name).invalid
