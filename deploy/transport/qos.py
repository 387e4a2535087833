"""ROS 2 QoS profiles Tether uses, transport-neutral, with their rclpy and Cyclone DDS forms.

They are rclpy's own presets (rclpy.qos), written out so the DDS transport
offers exactly what a ROS 2 node on the robot requests; mismatched QoS
(a best-effort writer, a reliable reader) silently never matches in DDS.

=============  ============  ===============  ==========  ==============================================
profile        reliability   durability       history     used for
=============  ============  ===============  ==========  ==============================================
sensor_data    best effort   volatile         keep 5      sensors (rclpy qos_profile_sensor_data)
default        reliable      volatile         keep 10     commands, setpoints, arm/e-stop, diagnostics
clock          best effort   volatile         keep 1      /clock (rclcpp ClockQoS)
state          reliable      transient local  keep 1      latched state (late joiners get the last one)
px4_read       best effort   volatile         keep 5      reading PX4's /fmu/out (its uXRCE-DDS writers:
                                                          best effort, transient local)
px4_out        best effort   transient local  keep 1      PX4's /fmu/out writers (the PX4 emulator)
=============  ============  ===============  ==========  ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QosProfile:
    reliable: bool
    transient_local: bool
    depth: int


PROFILES: dict[str, QosProfile] = {
    "sensor_data": QosProfile(reliable=False, transient_local=False, depth=5),
    "default": QosProfile(reliable=True, transient_local=False, depth=10),
    "clock": QosProfile(reliable=False, transient_local=False, depth=1),
    "state": QosProfile(reliable=True, transient_local=True, depth=1),
    "px4_read": QosProfile(reliable=False, transient_local=False, depth=5),
    "px4_out": QosProfile(reliable=False, transient_local=True, depth=1),
}


def profile(name: str) -> QosProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown QoS profile '{name}'; known: {sorted(PROFILES)}") from None


def to_cyclonedds(p: QosProfile, user_data: bytes | None = None) -> Any:
    """The profile as a cyclonedds Qos (with USER_DATA, e.g. the ROS type hash, when given)."""
    from cyclonedds.core import Policy, Qos
    from cyclonedds.util import duration

    policies = [
        Policy.Reliability.Reliable(duration(milliseconds=100))
        if p.reliable
        else Policy.Reliability.BestEffort,
        Policy.Durability.TransientLocal if p.transient_local else Policy.Durability.Volatile,
        Policy.History.KeepLast(p.depth),
        # ROS 2 types are plain CDR (XCDR1); rmw_cyclonedds offers nothing else.
        Policy.DataRepresentation(use_cdrv0_representation=True),
    ]
    if user_data is not None:
        policies.append(Policy.Userdata(data=user_data))
    return Qos(*policies)


def to_rclpy(p: QosProfile) -> Any:
    """The profile as an rclpy QoSProfile (only where rclpy is importable)."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        reliability=ReliabilityPolicy.RELIABLE if p.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if p.transient_local else DurabilityPolicy.VOLATILE,
        history=HistoryPolicy.KEEP_LAST,
        depth=p.depth,
    )
