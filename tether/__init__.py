"""Tether: learned robot control policies from simulation to ROS 2 robots."""

__version__ = "0.1.0"
