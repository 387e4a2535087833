"""Tether: learned robot control policies from simulation to ROS 2 robots."""

import deploy  # noqa: F401  (turns ONNX Runtime's telemetry off before anything imports it)

__version__ = "0.1.0"
