"""Contract vs. robot: a policy that does not fit the robot is refused before arming, with the
documented message (deploy/runtime/robot_profile.py) naming what differs and how to fix it."""

import dataclasses

import pytest

from deploy.contract import ContractError
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, RobotProfile, check_profile, index_map, problems
from sim.tasks.quadrotor_hover import HoverConfig
from tests.runtime_helpers import hover_policy, write_linear_policy


@pytest.fixture(scope="module")
def contract():
    return HoverConfig.from_yaml().contract()


@pytest.fixture(scope="module")
def profile():
    return RobotProfile.from_yaml(DEFAULT_PROFILE)


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory, contract):
    return hover_policy(tmp_path_factory.mktemp("p") / "hover.onnx", contract)


def test_the_shipped_profile_fits_the_hover_contract(contract, profile, policy_path):
    assert problems(contract, profile) == []
    runner = PolicyRunner(policy_path, profile, expected_contract=contract)
    assert runner.contract == contract
    assert list(index_map(contract, profile)) == [0, 1, 2, 3]


def test_wrong_joint_names_are_refused_naming_both_sides(contract, profile, policy_path):
    renamed = dataclasses.replace(profile, actuators=("m1", "m2", "m3", "m4"))
    with pytest.raises(ContractError) as err:
        PolicyRunner(policy_path, renamed)
    msg = str(err.value)
    assert "does not fit robot profile 'crazyflie_2_1'; refusing to start" in msg
    assert (
        "actuator names: the policy commands ['motor_0', 'motor_1', 'motor_2', 'motor_3'] that the robot"
        in msg
    )
    assert "the robot has ['m1', 'm2', 'm3', 'm4'] not commanded by the policy" in msg
    assert "rename the actuators" in msg


def test_actuators_are_matched_by_name_not_by_index(contract, profile):
    shuffled = dataclasses.replace(profile, actuators=("motor_3", "motor_0", "motor_2", "motor_1"))
    assert problems(contract, shuffled) == []
    assert list(index_map(contract, shuffled)) == [3, 0, 2, 1]


def test_wrong_rate_is_refused(contract, profile, policy_path):
    slow = dataclasses.replace(profile, control_rate_hz=50.0)
    with pytest.raises(
        ContractError, match=r"control rate: the policy runs at 100 Hz, the robot profile at 50 Hz"
    ):
        PolicyRunner(policy_path, slow)
    with pytest.raises(ContractError, match="set control_rate_hz: 100 in"):
        check_profile(contract, slow)


def test_missing_sensor_and_wrong_robot_type_are_both_listed(contract, profile):
    other = dataclasses.replace(profile, sensors=("imu",), robot="quadrotor-x6")
    found = problems(contract, other)
    assert any(
        p.startswith("sensors: the policy needs ['odometry'], the robot profile provides ['imu']")
        for p in found
    )
    assert any(p.startswith("robot type: the policy was trained for 'quadrotor-x4'") for p in found)


def test_missing_rate_limit_is_refused(contract, profile):
    no_limit = dataclasses.replace(profile, action_rate_limits_per_s={})
    with pytest.raises(
        ContractError, match="rate limits: action term 'motor_command' has no positive rate limit"
    ):
        check_profile(contract, no_limit)


def test_wrong_observation_size_is_refused(tmp_path, contract, profile):
    import numpy as np

    w = np.zeros((contract.observation_size, contract.action_size))
    path = write_linear_policy(
        tmp_path / "p.onnx", contract, w, np.zeros(4), graph_obs_size=contract.observation_size - 1
    )
    message = (
        f"the graph takes {contract.observation_size - 1} observations but its contract defines "
        f"{contract.observation_size}"
    )
    with pytest.raises(ContractError, match=message):
        PolicyRunner(path, profile)


def test_tampered_metadata_is_refused(tmp_path, contract, profile):
    import numpy as np

    tampered = contract.to_json().replace('"control_rate_hz":100.0', '"control_rate_hz":50.0')
    w = np.zeros((contract.observation_size, contract.action_size))
    path = write_linear_policy(
        tmp_path / "p.onnx", contract, w, np.zeros(4), contract_json=tampered, sha256=contract.sha256()
    )
    with pytest.raises(ContractError, match="does not match its recorded SHA-256"):
        PolicyRunner(path, profile)


def test_policy_for_another_task_contract_is_refused(tmp_path, contract, profile, policy_path):
    other = dataclasses.replace(contract, commands=contract.commands[:1])
    with pytest.raises(ContractError, match="was trained for a different contract"):
        PolicyRunner(policy_path, profile, expected_contract=other)


def test_unknown_profile_keys_and_missing_files_say_what_to_do(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text(DEFAULT_PROFILE.read_text().replace("control_rate_hz:", "control_hz:"))
    with pytest.raises(
        ValueError, match=r"missing keys \['control_rate_hz'\], unknown keys \['control_hz'\]"
    ):
        RobotProfile.from_yaml(bad)
    with pytest.raises(FileNotFoundError, match="start from"):
        RobotProfile.from_yaml(tmp_path / "absent.yaml")


def test_a_commissioned_contract_hash_admits_only_that_contract(contract, profile, policy_path):
    runner = PolicyRunner(policy_path, profile, expected_contract_sha256=contract.sha256().upper())
    assert runner.contract.sha256() == contract.sha256()
    other = "0" * 64
    with pytest.raises(ContractError, match=f"hashes to {contract.sha256()}, the robot expects {other}"):
        PolicyRunner(policy_path, profile, expected_contract_sha256=other)

