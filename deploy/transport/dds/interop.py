"""Cyclone DDS settings that let Tether's nodes talk to ROS 2 nodes on Fast DDS (ROS 2's default RMW).

Fast DDS 3.x announces XTypes type information for its endpoints; Cyclone DDS 11 judges the type
objects of types with arrays or sequences (sensor_msgs/Imu's covariances, nav_msgs/Odometry's)
invalid ("ddsi_xt_type_init_impl with invalid type object") and then never matches the endpoints:
measured here, 0 Imu or Odometry messages in either direction while std_msgs/String flowed.
Cyclone's `Compatibility/IgnoreTypeInformation` (a list of vendor ids) makes it ignore the type
information that vendor sends and match by type name, as ROS 2 itself does (the type hash travels
in USER_DATA); with eProsima's vendor id every message type flows both ways
(tests/test_ros_rclpy.py). Cyclone-to-Cyclone matching keeps its type information.

The setting is appended to whatever CYCLONEDDS_URI holds (Cyclone merges a comma-separated list,
later entries winning), before this process creates its first participant.
"""

from __future__ import annotations

import os

#: RTPS vendor id of eProsima Fast DDS (major.minor, as Cyclone's configuration writes it).
FASTDDS_VENDOR_ID = "1.15"
INTEROP_XML = (
    "<CycloneDDS><Domain Id='any'><Compatibility>"
    f"<IgnoreTypeInformation>{FASTDDS_VENDOR_ID}</IgnoreTypeInformation>"
    "</Compatibility></Domain></CycloneDDS>"
)


def with_interop(uri: str | None) -> str:
    """`uri` (a CYCLONEDDS_URI value, possibly empty) with the interoperability setting appended."""
    if not uri:
        return INTEROP_XML
    if INTEROP_XML in uri:
        return uri
    return f"{uri},{INTEROP_XML}"


def apply_interop_config() -> None:
    """Add the setting to this process's CYCLONEDDS_URI (call before the first participant)."""
    os.environ["CYCLONEDDS_URI"] = with_interop(os.environ.get("CYCLONEDDS_URI"))
