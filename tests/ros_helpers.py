"""What the ROS 2 tests share: whether rclpy is importable, probed once per session.

The probe runs in a child process because rclpy and Cyclone DDS never share one."""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest


@functools.cache
def rclpy_available() -> bool:
    r = subprocess.run([sys.executable, "-c", "import rclpy"], capture_output=True, timeout=60)
    return r.returncode == 0


#: Skips, visibly, where ROS 2 is not installed.
needs_rclpy = pytest.mark.skipif(
    not rclpy_available(),
    reason="rclpy is not importable here (install the project's `ros` extra: `make setup` does)",
)

#: Environment of a child rclpy node on Fast DDS (Tether's rclpy profile), discovering on loopback.
FASTDDS_CHILD_ENV = {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp", "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
