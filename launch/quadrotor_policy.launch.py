"""Quadrotor policy node only, for a real vehicle.

    ros2 launch tether_ros quadrotor_policy.launch.py policy_file:=/abs/path/policy.onnx

Reads config/quadrotor_robot.yaml (start-up from the ground). The vehicle's driver must
publish /odom and consume /tether/actuator_command (README, ROS 2 section); a hardware
interface for a specific flight controller is not part of this launch file yet.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(get_package_share_directory("tether_ros"), "config", "quadrotor_robot.yaml")
    return LaunchDescription(
        [
            DeclareLaunchArgument("params_file", default_value=default_params),
            DeclareLaunchArgument("policy_file", default_value="policies/quadrotor_hover.onnx"),
            Node(
                package="tether_ros",
                executable="policy_node",
                name="policy_node",
                parameters=[
                    LaunchConfiguration("params_file"),
                    {"policy_file": LaunchConfiguration("policy_file")},
                ],
                output="screen",
            ),
        ]
    )
