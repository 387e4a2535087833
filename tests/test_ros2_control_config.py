"""The ros2_control bring-up example (launch/config/quadruped_ros2_control.yaml) against the contract
of the shipped walking policy and the policy node's robot parameter file.

The controller-manager YAML is parsed as the ROS 2 file it is; nothing here needs ROS 2 installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.nodes.joint_command import COMMAND_INTERFACES, check_controllers_file, load_controllers_file
from deploy.nodes.params import load_node_params, resolve_path
from deploy.nodes.policy_node import DEFAULTS
from deploy.transport.names import TOPICS

ROOT = Path(__file__).resolve().parents[1]
CONTROLLERS_FILE = ROOT / "launch" / "config" / "quadruped_ros2_control.yaml"
ROBOT_PARAMS = ROOT / "launch" / "config" / "quadruped_robot.yaml"
WALK_POLICY = ROOT / "policies" / "quadruped_walk.onnx"
FCC = "forward_command_controller/ForwardCommandController"
JOINT_CONTROLLERS = ("joint_state_broadcaster", "joint_position_controller", "joint_kp_controller",
                     "joint_kd_controller")  # fmt: skip


@pytest.fixture(scope="module")
def node_params():
    return load_node_params(ROBOT_PARAMS, "policy_node")


@pytest.fixture(scope="module")
def controllers():
    return load_controllers_file(CONTROLLERS_FILE)


def _node_topics(params):
    return {**{r: TOPICS[r].name for r in DEFAULTS["topics"]}, **params.get("topics", {})}


def test_the_robot_parameter_file_and_the_launch_file_point_at_the_controller_manager_file(node_params):
    assert resolve_path(node_params["joint_command"]["controllers_file"]) == CONTROLLERS_FILE
    launch = (ROOT / "launch" / "quadruped_policy.launch.py").read_text()
    assert '"quadruped_ros2_control.yaml"' in launch and "joint_command.controllers_file" in launch


def test_controller_manager_runs_the_broadcasters_and_the_three_forward_command_controllers(controllers):
    manager = yaml.safe_load(CONTROLLERS_FILE.read_text())["controller_manager"]["ros__parameters"]
    assert float(manager["update_rate"]) >= 50.0  # at least the policy's rate
    assert controllers["joint_state_broadcaster"]["type"] == "joint_state_broadcaster/JointStateBroadcaster"
    imu = controllers["imu_sensor_broadcaster"]
    assert imu["type"] == "imu_sensor_broadcaster/IMUSensorBroadcaster"
    assert imu["sensor_name"] and imu["frame_id"] == "imu_link"
    for name, interface in (("joint_position_controller", "position"), ("joint_kp_controller", "kp"),
                            ("joint_kd_controller", "kd")):  # fmt: skip
        assert controllers[name]["type"] == FCC
        assert controllers[name]["interface_name"] == interface


@pytest.mark.skipif(not WALK_POLICY.exists(), reason=f"{WALK_POLICY} absent (the contract comes from it)")
def test_every_controller_names_the_contracts_joints_in_the_nodes_order(controllers, node_params):
    from deploy.policy_file import PolicyFile

    contract_joints = [j.name for j in PolicyFile(WALK_POLICY).contract.joints]
    assert len(contract_joints) == 12
    node_order = list(node_params["joint_command"]["joints"])
    assert sorted(node_order) == sorted(contract_joints)
    for name in JOINT_CONTROLLERS:
        joints = list(controllers[name]["joints"])
        assert set(joints) == set(contract_joints) and len(joints) == 12, name
        assert joints == node_order, name


def test_every_command_topic_of_the_node_is_the_commands_topic_of_a_controller_there(
    controllers, node_params
):
    topics = _node_topics(node_params)
    for role, interface in COMMAND_INTERFACES.items():
        name = topics[role].strip("/").removesuffix("/commands")
        assert topics[role] == f"/{name}/commands" and name in controllers, role
        assert controllers[name]["interface_name"] == interface, role
    assert topics["joint_states"] == "/joint_states"  # joint_state_broadcaster's global topic
    assert topics["imu"] == "/imu_sensor_broadcaster/imu"  # imu_sensor_broadcaster's ~/imu
    check_controllers_file(
        CONTROLLERS_FILE, node_params["joint_command"]["joints"], topics
    )  # the node's check


def test_the_nodes_start_up_check_names_each_mismatch(tmp_path, node_params):
    joints = list(node_params["joint_command"]["joints"])
    topics = _node_topics(node_params)
    with pytest.raises(ValueError, match="joint_kd_controller: joints"):
        doc = yaml.safe_load(CONTROLLERS_FILE.read_text())
        doc["joint_kd_controller"]["ros__parameters"]["joints"] = joints[3:] + joints[:3]
        bad = tmp_path / "reordered.yaml"
        bad.write_text(yaml.safe_dump(doc))
        check_controllers_file(bad, joints, topics)
    with pytest.raises(ValueError, match="interface_name 'effort'"):
        doc = yaml.safe_load(CONTROLLERS_FILE.read_text())
        doc["joint_kp_controller"]["ros__parameters"]["interface_name"] = "effort"
        bad = tmp_path / "effort.yaml"
        bad.write_text(yaml.safe_dump(doc))
        check_controllers_file(bad, joints, topics)
    with pytest.raises(ValueError, match="topics.joint_kp_commands /joint_gains_controller/commands"):
        check_controllers_file(
            CONTROLLERS_FILE, joints, {**topics, "joint_kp_commands": "/joint_gains_controller/commands"}
        )
