"""rclpy transport: the same node logic on a ROS 2 installation (never with Cyclone DDS Python)."""
