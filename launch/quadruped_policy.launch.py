"""Legged (Go2-class) policy node only, for a real robot on ros2_control.

    ros2 launch tether_ros quadruped_policy.launch.py policy_file:=/abs/path/quadruped_walk.onnx \
        [controllers_file:=/abs/path/controllers.yaml] [spawn_controllers:=true]

Reads config/quadruped_robot.yaml. The robot's controller manager must run the controllers of
config/quadruped_ros2_control.yaml (`controllers_file`): joint_state_broadcaster (/joint_states),
imu_sensor_broadcaster (/imu_sensor_broadcaster/imu) and three
forward_command_controller/ForwardCommandControllers over the same 12 joints in the order of
joint_command.joints: joint_position_controller (interface_name position), joint_kp_controller
(kp) and joint_kd_controller (kd). The policy node is given the same file
(joint_command.controllers_file) and refuses to start when its topics or joint order do not match
it. With spawn_controllers:=true this launch also spawns the five controllers from that file into
the running /controller_manager (the robot's bringup starts ros2_control_node with its URDF and
hardware plugin). Drive it with geometry_msgs/Twist on /cmd_vel; arm with
`ros2 topic pub --once /tether/arm std_msgs/msg/Bool "{data: true}"` (the robot stands up, then
walks); disarm or /tether/estop makes it sit down (damping).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

CONTROLLERS = (
    "joint_state_broadcaster",
    "imu_sensor_broadcaster",
    "joint_position_controller",
    "joint_kp_controller",
    "joint_kd_controller",
)


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("tether_ros")
    controllers_file = LaunchConfiguration("controllers_file")
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file", default_value=os.path.join(share, "config", "quadruped_robot.yaml")
            ),
            DeclareLaunchArgument("policy_file", default_value="policies/quadruped_walk.onnx"),
            DeclareLaunchArgument(
                "controllers_file",
                default_value=os.path.join(share, "config", "quadruped_ros2_control.yaml"),
                description="the robot's controller-manager parameter file",
            ),
            DeclareLaunchArgument("spawn_controllers", default_value="false"),
            Node(
                package="controller_manager",
                executable="spawner",
                arguments=[*CONTROLLERS, "--param-file", controllers_file],
                output="screen",
                condition=IfCondition(LaunchConfiguration("spawn_controllers")),
            ),
            Node(
                package="tether_ros",
                executable="policy_node",
                name="policy_node",
                parameters=[
                    LaunchConfiguration("params_file"),
                    {
                        "policy_file": LaunchConfiguration("policy_file"),
                        "joint_command.controllers_file": controllers_file,
                    },
                ],
                output="screen",
            ),
        ]
    )
