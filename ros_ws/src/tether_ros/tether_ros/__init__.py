"""Tether's ROS 2 entry points: thin wrappers that run deploy/ node logic on rclpy."""
