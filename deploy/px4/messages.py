"""PX4's message types (px4_msgs), registered from the .msg files of the px4_msgs package.

Tether reads the .msg files of the px4_msgs version that matches the vehicle's firmware (PX4
publishes them, generated from its uORB definitions, as the px4_msgs ROS 2 package; each PX4
release has a branch, e.g. release/1.16).
They are registered into the same rosbags type store that gives Tether its standard ROS 2 types
(deploy/transport/messages.py: `get_types_from_msg`), so the DDS types, the RIHS01 hashes, the
reference CDR serializer and the MCAP writer work for PX4 messages exactly as for the others.
Constants (NAVIGATION_STATE_OFFBOARD, VEHICLE_CMD_DO_SET_MODE, POSE_FRAME_NED, ...) are read from
the same definitions, never retyped.

Where the definitions are looked for, first hit wins (`find_msg_dir`):
  1. the hardware configuration's `msg_dir` (a px4_msgs checkout's msg/ folder);
  2. the environment variable TETHER_PX4_MSG_DIR;
  3. an installed px4_msgs ROS 2 package: <prefix>/share/px4_msgs/msg for each AMENT_PREFIX_PATH entry;
  4. shared/px4_msgs/msg beside the Tether checkout;
  5. the definitions shipped with Tether (deploy/px4/msg: px4_msgs release/1.16, commit
     392e831c, fields and constants only), so the interface and its tests work without a
     px4_msgs checkout; point 1-3 at the px4_msgs of another firmware version.

Topic names: PX4 v1.16 and later append `_v<MESSAGE_VERSION>` to a topic whose message has a
MESSAGE_VERSION above 0 (e.g. /fmu/out/vehicle_status_v1); `topic_name` does that when asked.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

PACKAGE = "px4_msgs"
#: The messages the PX4 interface and its emulator use.
MESSAGES: tuple[str, ...] = (
    "VehicleOdometry",
    "VehicleStatus",
    "OffboardControlMode",
    "VehicleCommand",
    "ActuatorMotors",
    "VehicleRatesSetpoint",
)
ENV_VAR = "TETHER_PX4_MSG_DIR"
_REPO = Path(__file__).resolve().parents[2]
#: px4_msgs release/1.16 (commit 392e831c1f659429ca83902e66820d7094591410), comments removed.
SHIPPED_MSG_DIR = Path(__file__).resolve().parent / "msg"


class Px4DefinitionsMissingError(FileNotFoundError):
    """No px4_msgs .msg files were found where they are looked for."""


def ros_type(name: str) -> str:
    return f"{PACKAGE}/msg/{name}"


def candidate_dirs(configured: str | Path | None = None) -> list[Path]:
    """Every place the .msg files are looked for, in order."""
    out: list[Path] = []
    if configured:
        out.append(Path(configured).expanduser())
    if os.environ.get(ENV_VAR):
        out.append(Path(os.environ[ENV_VAR]).expanduser())
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        out.append(Path(prefix) / "share" / PACKAGE / "msg")
    out.append(_REPO.parent / "shared" / PACKAGE / "msg")
    out.append(SHIPPED_MSG_DIR)
    return out


def find_msg_dir(configured: str | Path | None = None) -> Path:
    """The first folder holding every needed .msg file, or an error listing where it looked."""
    tried = candidate_dirs(configured)
    for d in tried:
        if all((d / f"{m}.msg").is_file() for m in MESSAGES):
            return d
    raise Px4DefinitionsMissingError(
        f"px4_msgs definitions not found: expected {', '.join(m + '.msg' for m in MESSAGES)} in one of "
        f"{[str(d) for d in tried]}; found none complete. Point the hardware configuration's msg_dir "
        f"(or {ENV_VAR}) at the msg/ folder of the px4_msgs branch matching the vehicle's PX4 release "
        "(e.g. release/1.16), or source a ROS 2 workspace that has px4_msgs installed"
    )


@functools.cache
def register(msg_dir: str | None = None) -> Path:
    """Register the PX4 messages into Tether's type store (once per process); returns the folder."""
    from rosbags.typesys import get_types_from_msg

    from deploy.transport.messages import typestore

    d = find_msg_dir(msg_dir)
    store = typestore()
    types: dict[str, Any] = {}
    for m in MESSAGES:
        types.update(get_types_from_msg((d / f"{m}.msg").read_text(), ros_type(m)))
    store.register(types)
    return d


def constants(name: str) -> dict[str, Any]:
    """The constants a registered message declares (e.g. NAVIGATION_STATE_OFFBOARD), by name."""
    from deploy.transport.messages import typestore

    try:
        consts = typestore().fielddefs[ros_type(name)][0]
    except KeyError:
        raise ValueError(f"{ros_type(name)} is not registered; call deploy.px4.messages.register()") from None
    return {c[0]: c[2] for c in consts}


def constant(name: str, const: str) -> Any:
    c = constants(name)
    if const not in c:
        raise ValueError(
            f"{ros_type(name)} declares no constant {const}; the registered definitions may be of another "
            f"PX4 version than the interface expects (constants found: {sorted(c)[:12]} ...)"
        )
    return c[const]


def message_version(name: str) -> int:
    """MESSAGE_VERSION of a registered message (0 when it declares none)."""
    return int(constants(name).get("MESSAGE_VERSION", 0))


def topic_name(base: str, message: str, versioned: bool) -> str:
    """/fmu/out/vehicle_status → /fmu/out/vehicle_status_v1 when `versioned` and the message's
    MESSAGE_VERSION is 1 (PX4 v1.16+ naming); unchanged for version 0 or when not versioned."""
    v = message_version(message) if versioned else 0
    return f"{base}_v{v}" if v > 0 else base
