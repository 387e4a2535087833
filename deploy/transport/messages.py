"""ROS 2 message types for the DDS transport, generated from the rosbags type store.

Message definitions are not written by hand here: the field lists come from
rosbags' ROS 2 Jazzy type store (`rosbags.typesys.Stores.ROS2_JAZZY`), a
maintained copy of the upstream .msg files of the standard packages
(std_msgs, geometry_msgs, sensor_msgs, nav_msgs, diagnostic_msgs,
rosgraph_msgs, builtin_interfaces, rmw_dds_common). The same store gives the
RIHS01 type hashes that ROS 2 Iron and later put into each endpoint's
USER_DATA, and its CDR serializer is the independent implementation the
wire-compatibility tests compare against.

For each type, `idl_class` builds a Cyclone DDS IdlStruct named as ROS 2 names
it on the wire (`pkg::msg::dds_::Type_`), with final extensibility, so it
serializes as plain CDR (XCDR1), as rmw_cyclonedds does. Field names and order
are the message's; ROS `char` and `byte` are unsigned bytes, as in rosidl's IDL.

`make(type, **fields)` builds a message with every field not given set to its
default (zeros, empty strings/sequences); nested messages may be passed as
dicts. Node code builds messages through its transport's `make`, so the same
code runs on rclpy's classes.
"""

from __future__ import annotations

import functools
from typing import Any

from deploy.transport.names import dds_type_name

#: Every message type a Tether node or the HIL tools send or receive.
MESSAGE_TYPES: tuple[str, ...] = (
    "builtin_interfaces/msg/Time",
    "std_msgs/msg/Header",
    "std_msgs/msg/Bool",
    "std_msgs/msg/String",
    "std_msgs/msg/Empty",
    "std_msgs/msg/UInt8MultiArray",
    "geometry_msgs/msg/Vector3",
    "geometry_msgs/msg/Quaternion",
    "nav_msgs/msg/Odometry",
    "sensor_msgs/msg/Imu",
    "sensor_msgs/msg/JointState",
    "std_msgs/msg/Float64MultiArray",
    "geometry_msgs/msg/Twist",
    "diagnostic_msgs/msg/DiagnosticArray",
    "rosgraph_msgs/msg/Clock",
    "rmw_dds_common/msg/ParticipantEntitiesInfo",
)

_INT = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "byte", "char"}


@functools.cache
def typestore() -> Any:
    """rosbags' ROS 2 Jazzy type store (definitions, RIHS01 hashes, reference CDR serializer)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def fields(ros_type: str) -> list[tuple[str, tuple]]:
    """[(name, rosbags field type)] of `ros_type`, in wire order."""
    try:
        return list(typestore().fielddefs[ros_type][1])
    except KeyError:
        raise ValueError(
            f"unknown message type '{ros_type}'; the ROS 2 Jazzy type store has no definition for it"
        ) from None


@functools.cache
def type_hash(ros_type: str) -> str:
    """The RIHS01 type hash of `ros_type` (as `ros2 topic info -v` prints it)."""
    return typestore().hash_rihs01(ros_type)


def user_data(ros_type: str) -> bytes:
    """The endpoint USER_DATA ROS 2 (Iron and later) sets: b'typehash=RIHS01_<hex>;'."""
    return f"typehash={type_hash(ros_type)};".encode()


def _idl_type(ft: tuple) -> Any:
    from cyclonedds.idl import types as t
    from rosbags.typesys.base import Nodetype

    kind, arg = ft
    if kind == Nodetype.BASE:
        name, bound = arg
        if name == "string":
            return t.bounded_str[bound] if bound else str
        if name == "bool":
            return bool
        if name in ("char", "byte"):
            # rosidl maps char to uint8 and byte to octet: one unsigned byte on the wire either way
            # (cyclonedds' `byte` packs as signed, which rejects octets above 127)
            return t.uint8
        if name in ("float32", "float64") or name in _INT:
            return getattr(t, name)
        raise ValueError(f"unsupported base type '{name}'")
    if kind == Nodetype.NAME:
        return idl_class(arg)
    if kind == Nodetype.ARRAY:
        sub, n = arg
        return t.array[_idl_type(sub), n]
    if kind == Nodetype.SEQUENCE:
        sub, bound = arg
        return t.sequence[_idl_type(sub), bound] if bound else t.sequence[_idl_type(sub)]
    raise ValueError(f"unsupported field kind {kind}")


@functools.cache
def idl_class(ros_type: str) -> type:
    """The Cyclone DDS IdlStruct of `ros_type`, named and laid out as ROS 2 puts it on the wire."""
    from cyclonedds.idl import IdlStruct, make_idl_struct

    members = {name: _idl_type(ft) for name, ft in fields(ros_type)}
    cls = make_idl_struct(ros_type.replace("/", "__"), dds_type_name(ros_type).replace("::", "."), members)
    cls.__idl_annotations__["extensibility"] = "final"
    assert issubclass(cls, IdlStruct)
    return cls


def default_value(ft: tuple) -> Any:
    from rosbags.typesys.base import Nodetype

    kind, arg = ft
    if kind == Nodetype.BASE:
        name = arg[0]
        return "" if name == "string" else False if name == "bool" else 0.0 if name.startswith("float") else 0
    if kind == Nodetype.NAME:
        return make(arg)
    if kind == Nodetype.ARRAY:
        sub, n = arg
        return [default_value(sub) for _ in range(n)]
    return []


def make(ros_type: str, **values: Any) -> Any:
    """A DDS message of `ros_type`; fields not given take their defaults; nested dicts are converted."""
    from rosbags.typesys.base import Nodetype

    kwargs = {}
    known = dict(fields(ros_type))
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"{ros_type} has no fields {sorted(unknown)}; its fields are {list(known)}")
    for name, ft in known.items():
        if name not in values:
            kwargs[name] = default_value(ft)
            continue
        v = values[name]
        if ft[0] == Nodetype.NAME and isinstance(v, dict):
            v = make(ft[1], **v)
        elif ft[0] in (Nodetype.ARRAY, Nodetype.SEQUENCE) and not isinstance(v, list):
            v = list(v.tolist() if hasattr(v, "tolist") else v)
        kwargs[name] = v
    return idl_class(ros_type)(**kwargs)


def to_rosbags(msg: Any, ros_type: str) -> Any:
    """The same content as a rosbags message object (for its serializer, and the bag writer)."""
    import numpy as np
    from rosbags.typesys.base import Nodetype

    store = typestore()
    out = {}
    for name, ft in fields(ros_type):
        v = getattr(msg, name)
        kind, arg = ft
        if kind == Nodetype.NAME:
            v = to_rosbags(v, arg)
        elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            sub = arg[0]
            if sub[0] == Nodetype.NAME:
                v = [to_rosbags(x, sub[1]) for x in v]
            elif sub[0] == Nodetype.BASE and sub[1][0] not in ("string", "bool"):
                v = np.asarray(v, dtype=_numpy_dtype(sub[1][0]))
            else:
                v = list(v)
        out[name] = v
    return store.types[ros_type](**out)


def from_rosbags(obj: Any, ros_type: str) -> Any:
    """A rosbags message object as a DDS message of the same content."""
    from rosbags.typesys.base import Nodetype

    values = {}
    for name, ft in fields(ros_type):
        v = getattr(obj, name)
        kind, arg = ft
        if kind == Nodetype.NAME:
            v = from_rosbags(v, arg)
        elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            sub = arg[0]
            v = (
                [from_rosbags(x, sub[1]) for x in v]
                if sub[0] == Nodetype.NAME
                else list(v.tolist() if hasattr(v, "tolist") else v)
            )
        values[name] = v
    return idl_class(ros_type)(**values)


def _numpy_dtype(name: str) -> str:
    return {"byte": "uint8", "char": "uint8"}.get(name, name)


def serialize(msg: Any) -> bytes:
    """Plain CDR bytes of a DDS message, with the 4-byte encapsulation header (as in a rosbag2 file)."""
    return msg.serialize()


def deserialize(data: bytes, ros_type: str) -> Any:
    return idl_class(ros_type).deserialize(data)
