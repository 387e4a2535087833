"""Cyclone DDS transport speaking the ROS 2 wire format (no ROS 2 installation needed)."""
