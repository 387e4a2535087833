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
- nav_msgs/Odometry (the driving input): `decode_odometry` reads the stamp, pose and twist.

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

    def encode(self, sec: int, nanosec: int, effort: Sequence[float]) -> bytes:
        """The message's bytes (encapsulation header included), stamped (sec, nanosec)."""
        buf = self._buf
        _STAMP.pack_into(buf, self._stamp_at, sec, nanosec)
        self._effort.pack_into(buf, self._effort_at, *effort)
        return bytes(buf)


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
    if bytes(data[:2]) != ENCAPSULATION_LE[:2]:
        raise ValueError(f"not little-endian plain CDR: encapsulation {bytes(data[:4]).hex()}")
    sec, nanosec = _STAMP.unpack_from(data, 4)
    at = 12
    for _ in range(2):  # header.frame_id, child_frame_id
        at += (-(at - 4)) % 4
        (length,) = _U32.unpack_from(data, at)
        at += 4 + length
    at += (-(at - 4)) % 8
    pose = _F64X7.unpack_from(data, at)
    at += _F64X7.size + _COVARIANCE
    twist = _F64X6.unpack_from(data, at)
    if at + _F64X6.size + _COVARIANCE > len(data):
        raise ValueError(f"odometry of {len(data)} bytes is truncated")
    return sec, nanosec, pose, twist
