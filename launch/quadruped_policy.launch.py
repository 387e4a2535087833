"""Legged (Go2-class) policy node only, for a real robot on ros2_control.

    ros2 launch tether_ros quadruped_policy.launch.py policy_file:=/abs/path/quadruped_walk.onnx

Reads config/quadruped_robot.yaml. The robot's ros2_control stack must run a
joint_state_broadcaster (/joint_states), an imu_sensor_broadcaster (/imu/data) and two
forward_command_controllers whose `joints` equal joint_command.joints in that file:
joint_position_controller (interface position) and joint_gains_controller (the hardware's kp and
kd interfaces: kp of every joint, then kd). Drive it with geometry_msgs/Twist on /cmd_vel; arm
with `ros2 topic pub --once /tether/arm std_msgs/msg/Bool "{data: true}"` (the robot stands up,
then walks); disarm or /tether/estop makes it sit down (damping).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    default_params = os.path.join(get_package_share_directory("tether_ros"), "config", "quadruped_robot.yaml")
    return LaunchDescription(
        [
            DeclareLaunchArgument("params_file", default_value=default_params),
            DeclareLaunchArgument("policy_file", default_value="policies/quadruped_walk.onnx"),
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
