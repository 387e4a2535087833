"""Transports carrying node logic over ROS 2: Cyclone DDS (ROS 2 wire format) or rclpy.

- names     topics, frames and DDS names, in one place (REP-103/105)
- qos       ROS 2 QoS profiles and their DDS / rclpy forms
- messages  ROS 2 message types from the rosbags type store, as Cyclone DDS types
- convert   messages ↔ the runtime's inputs and outputs (frame conversions live here)
- base      the interface node logic uses; make_transport picks one
"""
