"""The CTBR hover config trains (a few tiny PPO iterations), exports a policy whose contract says
ctbr, and the PX4 interface then flies that policy with VehicleRatesSetpoint."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from deploy.contract import CTBR_TARGETS
from tests.training_helpers import tiny_config
from training.config import TrainConfig

TASK = "quadrotor-hover"
CTBR_CONFIG = Path("training/configs/quadrotor_hover_ctbr_ppo.yaml")


def test_ctbr_config_is_the_motor_recipe_on_the_ctbr_task():
    ctbr = TrainConfig.from_yaml(CTBR_CONFIG)
    motor = TrainConfig.from_yaml("training/configs/quadrotor_hover_ppo.yaml")
    assert ctbr.env.task_config == "sim/tasks/quadrotor_hover_ctbr.yaml"
    assert ctbr.to_dict()["runner"] == motor.to_dict()["runner"]
    assert ctbr.to_dict()["algorithm"] == motor.to_dict()["algorithm"]
    assert ctbr.to_dict()["validation"] == motor.to_dict()["validation"]


def test_tiny_ctbr_run_exports_a_ctbr_contract_that_px4_flies_with_rate_setpoints(tmp_path):
    from deploy.policy_file import PolicyFile
    from training.export import export
    from training.train import train

    cfg_path = tiny_config(tmp_path, CTBR_CONFIG)
    run = tmp_path / "run"
    train(TASK, run, cfg_path, seed=0, max_iterations=2, progress=False)
    onnx = export(run, parity_envs=2)
    contract = PolicyFile(onnx).contract
    assert contract.action_mode == "ctbr" and contract.action_target_names == CTBR_TARGETS

    from deploy.px4 import messages

    try:
        messages.register()
    except messages.Px4DefinitionsMissingError as exc:
        pytest.skip(str(exc))
    from deploy.px4.interface import Px4Config, Px4Interface
    from deploy.runtime.config import RuntimeConfig
    from deploy.runtime.input_store import Command
    from deploy.runtime.policy_runner import PolicyRunner
    from deploy.runtime.robot_profile import RobotProfile
    from deploy.runtime.runtime import Runtime
    from deploy.runtime.safety import State
    from tests.runtime_helpers import NullTransport

    now = [100.0]
    profile = RobotProfile.from_yaml("deploy/runtime/profile_crazyflie_2_1_px4_ctbr.yaml")
    runtime = Runtime(
        PolicyRunner(onnx, profile),
        RuntimeConfig.from_yaml("deploy/runtime/runtime.yaml"),
        clock=lambda: now[0],
    )
    t = NullTransport()
    hw = Px4Interface(t, runtime, Px4Config.from_yaml(), clock=lambda: now[0])
    k = messages.constants("VehicleStatus")
    t.make("px4_msgs/msg/VehicleOdometry")  # builds the type once, outside the stamped deliveries
    for i in range(260):  # inputs, arm request, engage, start-up (2 s), then the policy
        now[0] += 0.01
        if i == 5:
            hw.request_arm(True)
        us = int(time.time() * 1e6)
        t.deliver(
            hw.topics["status"],
            t.make(
                "px4_msgs/msg/VehicleStatus", arming_state=k["ARMING_STATE_ARMED"],
                nav_state=k["NAVIGATION_STATE_OFFBOARD"],
            ),
        )  # fmt: skip
        t.deliver(
            hw.topics["odometry"],
            t.make(
                "px4_msgs/msg/VehicleOdometry", timestamp=us, timestamp_sample=us, pose_frame=1,
                position=[0.0, 0.0, -2.0], q=[1.0, 0.0, 0.0, 0.0], velocity_frame=1, velocity=[0.0] * 3,
                angular_velocity=[0.0] * 3,
            ),
        )  # fmt: skip
        runtime.put("command", Command(np.array([0.0, 0.0, 2.0, 0.0, 0.0, 0.0])), now[0], None)
        hw.publish(runtime.step())
    assert runtime.state is State.RUNNING
    sent = t.published[hw.topics["rates"]]
    assert sent and all(np.isfinite([m.roll, m.pitch, m.yaw, *m.thrust_body]).all() for m in sent)
    assert -1.0 <= sent[-1].thrust_body[2] <= 0.0
    assert hw.topics["rates"] == "/fmu/in/vehicle_rates_setpoint"
    assert all(m.body_rate and not m.direct_actuator for m in t.published[hw.topics["heartbeat"]])
