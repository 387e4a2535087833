"""Plain CDR (XCDR1, little-endian) of the control cycle's fixed-layout messages, by hand.

The DDS transport's messages are Cyclone DDS IdlStructs (deploy.transport.messages): building
one and serializing it in cyclonedds' Python serializer costs ~100 µs a message on the build
machine, most of the cycle's publish stage. The messages the cycle sends and receives every
sample have a fixed layout once their strings are known, so their bytes are written and read here
with precompiled `struct`s into / out of preallocated buffers, byte for byte what cyclonedds writes
on a little-endian machine (tests/test_cdr.py compares them for many values, edge cases included):

- sensor_msgs/JointState with fixed names, frame_id and only `effort` set (the actuator command):
  `JointStateEncoder`;
- std_msgs/Float64MultiArray with one labelled dimension (a forward_command_controller's command,
  deploy/nodes/joint_command.py): `Float64ArrayEncoder`;
- nav_msgs/Odometry (the driving input): `decode_odometry` reads the stamp, pose and twist;
  `OdometryEncoder` writes it (fixed frames, zero covariances: what the simulator bridge sends);
- sensor_msgs/JointState and sensor_msgs/Imu (a legged robot's inputs; cyclonedds' Python
  deserializer takes ≈ 47 and ≈ 28 µs for them on the build machine): `JointStateDecoder` reads the
  stamp, names, positions and velocities (the names decoded once while their bytes repeat),
  `decode_imu` the stamp, orientation, angular velocity and linear acceleration;
- sensor_msgs/Imu and rosgraph_msgs/Clock as the simulator bridge sends them: `ImuEncoder`,
  `encode_clock`;
- std_msgs/UInt8MultiArray of a fixed length without dimensions (a command's token on
  `<topic>/auth`, deploy/transport/command_auth.py): `UInt8ArrayEncoder`;
- diagnostic_msgs/DiagnosticArray (the policy node's diagnostics, several times a second from a
  thread beside the loop; serializing it in Python held the interpreter ~1 ms):
  `encode_diagnostic_array`.

`JointStateEncoder.canonical` also gives the command's canonical encoding (command_auth's
`canonical_bytes`, which the command's token signs), so a signed command needs no message object.

Layout rules (OMG XCDR1, as cyclonedds' v1 machine writes it): a 4-byte encapsulation header
(00 01 00 00: CDR, little-endian), then each primitive aligned to its size (at most 8) relative
to the end of that header; strings are a uint32 length including the NUL, the bytes and the NUL;
sequences a uint32 count and the elements. The writer pads a sample to a multiple of 4.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

#: XCDR1 (plain CDR), little-endian, options 0.
ENCAPSULATION_LE = b"\x00\x01\x00\x00"

_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iI")  # builtin_interfaces/Time: int32 sec, uint32 nanosec


def _align(buf: bytearray, n: int) -> None:
    """Pad `buf` to a multiple of `n` bytes, counted from the end of the encapsulation header."""
    buf += b"\0" * ((-(len(buf) - 4)) % n)


def _string(buf: bytearray, s: str) -> None:
    raw = s.encode() + b"\0"
    _align(buf, 4)
    buf += _U32.pack(len(raw)) + raw


class JointStateEncoder:
    """sensor_msgs/JointState with `names`, header.frame_id `frame_id`, empty position and velocity,
    and `effort` = the command: only the stamp and the efforts change from one message to the next."""

    def __init__(self, frame_id: str, names: Sequence[str]) -> None:
        self.frame_id, self.names = frame_id, tuple(names)
        n = len(self.names)
        buf = bytearray(ENCAPSULATION_LE)
        self._stamp_at = len(buf)
        buf += bytes(_STAMP.size)
        _string(buf, frame_id)
        _align(buf, 4)
        buf += _U32.pack(n)
        for name in self.names:
            _string(buf, name)
        for _ in ("position", "velocity"):
            _align(buf, 4)
            buf += _U32.pack(0)
        _align(buf, 4)
        buf += _U32.pack(n)
        if n:
            _align(buf, 8)
        self._effort_at = len(buf)
        buf += bytes(8 * n)
        buf += b"\0" * ((-len(buf)) % 4)  # as DataWriter.write pads a sample
        self._buf = buf
        self._effort = struct.Struct(f"<{n}d")

        # the canonical encoding (command_auth): fields in order, packed without alignment, strings
        # and sequences with a uint32 count first, strings without their NUL
        frame = frame_id.encode()
        head = _U32.pack(len(frame)) + frame + _U32.pack(n)
        for name in self.names:
            raw = name.encode()
            head += _U32.pack(len(raw)) + raw
        head += _U32.pack(0) + _U32.pack(0) + _U32.pack(n)  # empty position, velocity; effort count
        self._canonical_head = head
        self._canonical_effort = struct.Struct(f"<{n}d")

    def encode(self, sec: int, nanosec: int, effort: Sequence[float]) -> bytes:
        """The message's bytes (encapsulation header included), stamped (sec, nanosec)."""
        buf = self._buf
        _STAMP.pack_into(buf, self._stamp_at, sec, nanosec)
        self._effort.pack_into(buf, self._effort_at, *effort)
        return bytes(buf)

    def canonical(self, sec: int, nanosec: int, effort: Sequence[float]) -> bytes:
        """The same message's canonical encoding (command_auth.canonical_bytes), which its token
        signs."""
        return _STAMP.pack(sec, nanosec) + self._canonical_head + self._canonical_effort.pack(*effort)


class Float64ArrayEncoder:
    """std_msgs/Float64MultiArray of `size` values with one dimension (label, size, stride = size)
    and data_offset 0, as deploy.transport.convert.float64_array_msg builds it."""

    def __init__(self, label: str, size: int) -> None:
        self.label, self.size = label, size
        buf = bytearray(ENCAPSULATION_LE)
        buf += _U32.pack(1)  # layout.dim: one dimension
        _string(buf, label)
        _align(buf, 4)
        buf += _U32.pack(size) + _U32.pack(size)  # size, stride
        buf += _U32.pack(0)  # layout.data_offset
        buf += _U32.pack(size)  # data
        if size:
            _align(buf, 8)
        self._data_at = len(buf)
        buf += bytes(8 * size)
        buf += b"\0" * ((-len(buf)) % 4)
        self._buf = buf
        self._data = struct.Struct(f"<{size}d")

    def encode(self, values: Sequence[float]) -> bytes:
        self._data.pack_into(self._buf, self._data_at, *values)
        return bytes(self._buf)


_F64X7 = struct.Struct("<7d")  # position (x, y, z), orientation (x, y, z, w)
_F64X6 = struct.Struct("<6d")  # linear (x, y, z), angular (x, y, z)
_COVARIANCE = 36 * 8


def decode_odometry(
    data: bytes | bytearray | memoryview,
) -> tuple[int, int, tuple[float, ...], tuple[float, ...]]:
    """nav_msgs/Odometry bytes (with the encapsulation header, little-endian) → (sec, nanosec,
    pose (px, py, pz, qx, qy, qz, qw), twist (vx, vy, vz, wx, wy, wz)); the frames are not read.
    ValueError for another encapsulation or a truncated message."""
    _check_encapsulation(data)
    sec, nanosec = _STAMP.unpack_from(data, 4)
    at = _skip_string(data, _skip_string(data, 12))  # header.frame_id, child_frame_id
    at += (-(at - 4)) % 8
    pose = _F64X7.unpack_from(data, at)
    at += _F64X7.size + _COVARIANCE
    twist = _F64X6.unpack_from(data, at)
    if at + _F64X6.size + _COVARIANCE > len(data):
        raise ValueError(f"odometry of {len(data)} bytes is truncated")
    return sec, nanosec, pose, twist


def _skip_string(data: bytes | bytearray | memoryview, at: int) -> int:
    """The offset after the string aligned at or after `at`."""
    at += (-(at - 4)) % 4
    (length,) = _U32.unpack_from(data, at)
    return at + 4 + length


def _check_encapsulation(data: bytes | bytearray | memoryview) -> None:
    if bytes(data[:2]) != ENCAPSULATION_LE[:2]:
        raise ValueError(f"not little-endian plain CDR: encapsulation {bytes(data[:4]).hex()}")


#: sensor_msgs/Imu after its header: orientation (x, y, z, w), angular_velocity and
#: linear_acceleration (x, y, z), each followed by its 3×3 covariance.
_IMU_BODY = struct.Struct("<37d")


def decode_imu(
    data: bytes | bytearray | memoryview,
) -> tuple[int, int, tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """sensor_msgs/Imu bytes (little-endian) → (sec, nanosec, orientation (x, y, z, w), angular
    velocity (x, y, z), linear acceleration (x, y, z)); frame and covariances are not read.
    ValueError for another encapsulation, struct.error for a truncated message."""
    _check_encapsulation(data)
    sec, nanosec = _STAMP.unpack_from(data, 4)
    at = _skip_string(data, 12)  # header.frame_id
    at += (-(at - 4)) % 8
    v = _IMU_BODY.unpack_from(data, at)
    return sec, nanosec, v[0:4], v[13:16], v[25:28]


class JointStateDecoder:
    """sensor_msgs/JointState bytes (little-endian) → (sec, nanosec, names, positions, velocities);
    frame and efforts are not read. A driver sends the same names in every message: while their
    bytes repeat, the names decoded before are handed out again (compared byte for byte)."""

    def __init__(self) -> None:
        self._names_raw: bytes | None = None  # the name sequence's bytes, count first
        self._names: tuple[str, ...] = ()
        self._unique = True
        self._doubles: dict[int, struct.Struct] = {}

    def decode(
        self, data: bytes | bytearray | memoryview
    ) -> tuple[int, int, tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
        """ValueError for another encapsulation or a malformed name, struct.error when truncated."""
        sec, nanosec, names, _, at = self.names(data)
        position, at = self._read_doubles(data, at)
        velocity, _ = self._read_doubles(data, at)
        return sec, nanosec, names, position, velocity

    def names(self, data: bytes | bytearray | memoryview) -> tuple[int, int, tuple[str, ...], bool, int]:
        """(sec, nanosec, names, whether the names are all different, the offset after them): the
        message up to its positions (deploy/transport/compiled_decode.py reads the rest in C)."""
        _check_encapsulation(data)
        sec, nanosec = _STAMP.unpack_from(data, 4)
        at = _skip_string(data, 12)  # header.frame_id
        at += (-(at - 4)) % 4
        raw = self._names_raw
        if raw is not None and data[at : at + len(raw)] == raw:
            return sec, nanosec, self._names, self._unique, at + len(raw)
        names, end = self._read_names(data, at)
        self._names_raw, self._names = bytes(data[at:end]), names
        self._unique = len(set(names)) == len(names)
        return sec, nanosec, names, self._unique, end

    @staticmethod
    def _read_names(data: bytes | bytearray | memoryview, at: int) -> tuple[tuple[str, ...], int]:
        (count,) = _U32.unpack_from(data, at)
        at += 4
        if count > len(data):
            raise ValueError(f"joint_states names a count of {count} in {len(data)} bytes")
        names = []
        for _ in range(count):
            at += (-(at - 4)) % 4
            (length,) = _U32.unpack_from(data, at)
            raw = bytes(data[at + 4 : at + 4 + length])
            if length == 0 or len(raw) != length or raw[-1] != 0:
                raise ValueError("joint_states has a name that is not a NUL-terminated string")
            names.append(raw[:-1].decode())
            at += 4 + length
        return tuple(names), at

    def _read_doubles(self, data: bytes | bytearray | memoryview, at: int) -> tuple[tuple[float, ...], int]:
        at += (-(at - 4)) % 4
        (n,) = _U32.unpack_from(data, at)
        at += 4
        if not n:
            return (), at
        if 8 * n > len(data):
            raise ValueError(f"joint_states names a sequence of {n} doubles in {len(data)} bytes")
        at += (-(at - 4)) % 8
        unpack = self._doubles.get(n)
        if unpack is None:
            unpack = self._doubles[n] = struct.Struct(f"<{n}d")
        return unpack.unpack_from(data, at), at + 8 * n


class OdometryEncoder:
    """nav_msgs/Odometry with fixed `frame_id` and `child_frame_id` and zero covariances, as
    deploy.transport.convert.odometry_msg builds it: only the stamp, pose and twist change."""

    def __init__(self, frame_id: str, child_frame_id: str) -> None:
        self.frame_id, self.child_frame_id = frame_id, child_frame_id
        buf = bytearray(ENCAPSULATION_LE)
        self._stamp_at = len(buf)
        buf += bytes(_STAMP.size)
        _string(buf, frame_id)
        _string(buf, child_frame_id)
        _align(buf, 8)
        self._pose_at = len(buf)
        buf += bytes(_F64X7.size + _COVARIANCE)
        self._twist_at = len(buf)
        buf += bytes(_F64X6.size + _COVARIANCE)
        buf += b"\0" * ((-len(buf)) % 4)
        self._buf = buf

    def encode(self, sec: int, nanosec: int, pose: Sequence[float], twist: Sequence[float]) -> bytes:
        """The message's bytes: `pose` (px, py, pz, qx, qy, qz, qw), `twist` (vx, vy, vz, wx, wy, wz)
        in the message's frames (the twist in the child frame), as decode_odometry returns them."""
        buf = self._buf
        _STAMP.pack_into(buf, self._stamp_at, sec, nanosec)
        _F64X7.pack_into(buf, self._pose_at, *pose)
        _F64X6.pack_into(buf, self._twist_at, *twist)
        return bytes(buf)


class ImuEncoder:
    """sensor_msgs/Imu with a fixed `frame_id` and zero covariances, as deploy.transport.convert.imu_msg
    builds it: only the stamp, orientation, angular velocity and linear acceleration change."""

    def __init__(self, frame_id: str) -> None:
        self.frame_id = frame_id
        buf = bytearray(ENCAPSULATION_LE)
        self._stamp_at = len(buf)
        buf += bytes(_STAMP.size)
        _string(buf, frame_id)
        _align(buf, 8)
        self._body_at = len(buf)
        buf += bytes(_IMU_BODY.size)
        self._buf = buf
        self._body = [0.0] * 37  # orientation, angular velocity, linear acceleration, each + 3×3 covariance

    def encode(
        self,
        sec: int,
        nanosec: int,
        orientation_xyzw: Sequence[float],
        angular_velocity: Sequence[float],
        linear_acceleration: Sequence[float],
    ) -> bytes:
        """The message's bytes (vectors as decode_imu returns them)."""
        body = self._body
        body[0:4], body[13:16], body[25:28] = orientation_xyzw, angular_velocity, linear_acceleration
        _STAMP.pack_into(self._buf, self._stamp_at, sec, nanosec)
        _IMU_BODY.pack_into(self._buf, self._body_at, *body)
        return bytes(self._buf)


def encode_clock(sec: int, nanosec: int) -> bytes:
    """rosgraph_msgs/Clock (one builtin_interfaces/Time)."""
    return ENCAPSULATION_LE + _STAMP.pack(sec, nanosec)


class UInt8ArrayEncoder:
    """std_msgs/UInt8MultiArray of exactly `size` bytes, no dimensions, data_offset 0 (a command
    token, deploy/transport/command_auth.py)."""

    def __init__(self, size: int) -> None:
        self.size = size
        buf = bytearray(ENCAPSULATION_LE)
        buf += _U32.pack(0)  # layout.dim: none
        buf += _U32.pack(0)  # layout.data_offset
        buf += _U32.pack(size)
        self._data_at = len(buf)
        buf += bytes(size)
        buf += b"\0" * ((-len(buf)) % 4)
        self._buf = buf

    def encode(self, data: bytes) -> bytes:
        if len(data) != self.size:
            raise ValueError(f"expected {self.size} bytes, found {len(data)}")
        buf = self._buf
        buf[self._data_at : self._data_at + self.size] = data
        return bytes(buf)


def encode_diagnostic_array(
    sec: int, nanosec: int, statuses: Sequence[tuple[int, str, str, str, Sequence[tuple[str, str]]]]
) -> bytes:
    """diagnostic_msgs/DiagnosticArray stamped (sec, nanosec), empty frame_id, from (level, name,
    message, hardware_id, [(key, value), ...]) with the values already text, as
    deploy.transport.convert.diagnostic_array builds it."""
    buf = bytearray(ENCAPSULATION_LE)
    buf += _STAMP.pack(sec, nanosec)
    _string(buf, "")
    _align(buf, 4)
    buf += _U32.pack(len(statuses))
    for level, name, message, hardware_id, values in statuses:
        buf.append(level)  # `byte`: one octet, no alignment
        _string(buf, name)
        _string(buf, message)
        _string(buf, hardware_id)
        _align(buf, 4)
        buf += _U32.pack(len(values))
        for key, value in values:
            _string(buf, key)
            _string(buf, value)
    buf += b"\0" * ((-len(buf)) % 4)
    return bytes(buf)
