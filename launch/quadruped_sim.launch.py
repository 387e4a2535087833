"""Legged policy + legged simulator bridge (simulation / HIL) on ROS 2.

    ros2 launch tether_ros quadruped_sim.launch.py [params_file:=...] [policy_file:=...]

Both nodes read config/quadruped_sim.yaml, the same file `tether hil --scenario quadruped-walk`
starts its processes with. Arm with `ros2 topic pub --once /tether/arm std_msgs/msg/Bool
"{data: true}"` (the robot stands up), then command a walk, e.g.
`ros2 topic pub -r 10 /cmd_vel geometry_msgs/msg/Twist "{linear: {x: 0.5}}"`.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(get_package_share_directory("tether_ros"), "config", "quadruped_sim.yaml")
    params = LaunchConfiguration("params_file")
    overrides = {"policy_file": LaunchConfiguration("policy_file")}
    return LaunchDescription(
        [
            DeclareLaunchArgument("params_file", default_value=default_params),
            DeclareLaunchArgument(
                "policy_file",
                default_value="policies/quadruped_walk.onnx",
                description="ONNX policy; relative paths are resolved against the Tether source tree",
            ),
            DeclareLaunchArgument("start_bridge", default_value="true"),
            Node(
                package="tether_ros",
                executable="legged_sim_bridge_node",
                name="legged_sim_bridge_node",
                parameters=[params],
                output="screen",
                condition=IfCondition(LaunchConfiguration("start_bridge")),
            ),
            Node(
                package="tether_ros",
                executable="policy_node",
                name="policy_node",
                parameters=[params, overrides],
                output="screen",
            ),
        ]
    )
