"""Helpers for the runtime tests: small ONNX policies with Tether contracts, built without torch.

hover_policy() writes a linear policy fitted by least squares to the PID
baseline's actions near hover (yaw near zero): it hovers the simulated
Crazyflie well enough for faults to be injected into a calm closed loop.
It is a test fixture, not a controller (it ignores yaw, which a linear map
of this observation cannot handle).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from deploy.contract import Contract
from deploy.observations import ObservationBuilder
from deploy.pid import QuadrotorPid
from deploy.policy_file import META_CONTRACT, META_CONTRACT_SHA256, META_TASK
from deploy.robot_state import RobotState
from deploy.rotations import quat_from_axis_angle, quat_multiply
from sim.tasks.quadrotor_hover import HoverConfig

SHIPPED_POLICY = Path(__file__).resolve().parents[1] / "policies" / "quadrotor_hover.onnx"
SHIPPED_CTBR_POLICY = SHIPPED_POLICY.with_name("quadrotor_hover_ctbr.onnx")  # collective thrust + body rates


def write_linear_policy(
    path: Path,
    contract: Contract,
    weights: np.ndarray,
    bias: np.ndarray,
    graph_obs_size: int | None = None,
    contract_json: str | None = None,
    sha256: str | None = None,
) -> Path:
    """action = clip(obs @ weights + bias, -1, 1) as ONNX, with the contract in its metadata."""
    d = contract.observation_size if graph_obs_size is None else graph_obs_size
    a = contract.action_size
    w = np.zeros((d, a), dtype=np.float32)
    rows = min(d, weights.shape[0])
    w[:rows] = weights[:rows]
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["obs", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["pre"]),
            helper.make_node("Clip", ["pre", "lo", "hi"], ["action"]),
        ],
        "linear_policy",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", d])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", a])],
        initializer=[
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(np.asarray(bias, dtype=np.float32).reshape(a), "b"),
            numpy_helper.from_array(np.array(-1.0, dtype=np.float32), "lo"),
            numpy_helper.from_array(np.array(1.0, dtype=np.float32), "hi"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    text = contract.to_json() if contract_json is None else contract_json
    meta = {
        META_CONTRACT: text,
        META_TASK: contract.task,
        META_CONTRACT_SHA256: sha256 or hashlib.sha256(text.encode()).hexdigest(),
    }
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))
    return path


@functools.lru_cache(maxsize=1)
def _hover_fit() -> tuple[np.ndarray, np.ndarray]:
    config = HoverConfig.from_yaml()
    contract = config.contract()
    params = config.nominal_params()
    n = 20000
    rng = np.random.default_rng(0)
    target = np.asarray(config.target_pos_m)
    tilt = np.deg2rad(rng.uniform(0.0, 20.0, n))
    axis = rng.uniform(0.0, 2 * np.pi, n)
    q_tilt = quat_from_axis_angle(np.stack([np.cos(axis), np.sin(axis), np.zeros(n)], -1), tilt)
    yaw = np.deg2rad(rng.uniform(-10.0, 10.0, n))
    quat = quat_multiply(q_tilt, quat_from_axis_angle(np.tile([0.0, 0.0, 1.0], (n, 1)), yaw))
    state = RobotState(
        base_pos_m=target + rng.uniform(-0.5, 0.5, (n, 3)),
        base_quat_wxyz=quat,
        base_lin_vel_m_s=rng.uniform(-0.5, 0.5, (n, 3)),
        base_ang_vel_rad_s=rng.uniform(-1.5, 1.5, (n, 3)),
        last_action=rng.uniform(-0.2, 0.8, (n, contract.action_size)),
        command=np.tile(np.concatenate([target, np.zeros(3)]), (n, 1)),
    )
    obs = ObservationBuilder(contract, n).build(state).astype(np.float64)
    actions = QuadrotorPid(params, n, contract.control_dt_s).act(state)
    x = np.concatenate([obs, np.ones((n, 1))], axis=1)
    coef, *_ = np.linalg.lstsq(x, actions, rcond=None)
    return coef[:-1], coef[-1]


def hover_policy(path: Path, contract: Contract | None = None) -> Path:
    """A linear policy that hovers the nominal Crazyflie near yaw 0 (fitted to the PID)."""
    contract = contract or HoverConfig.from_yaml().contract()
    w, b = _hover_fit()
    return write_linear_policy(path, contract, w, b)


def nan_policy(path: Path, contract: Contract | None = None) -> Path:
    """A policy whose every action is NaN."""
    contract = contract or HoverConfig.from_yaml().contract()
    a = contract.action_size
    return write_linear_policy(path, contract, np.zeros((contract.observation_size, a)), np.full(a, np.nan))


class NullTransport:
    """A transport without a network, for node-level tests: it records the callbacks a node
    subscribes (deliver() calls them as a transport's receive thread would) and what it publishes.
    Messages are the DDS transport's own types (deploy.transport.messages), built without DDS."""

    name = "null"

    def __init__(self, node_name: str = "policy_node") -> None:
        self.node_name = node_name
        self.callbacks: dict[str, list] = {}
        self.published: dict[str, list] = {}

    def make(self, ros_type: str, **fields):
        from deploy.transport.messages import make

        return make(ros_type, **fields)

    def publisher(self, topic: str, ros_type: str, qos: str):
        sent = self.published.setdefault(topic, [])

        class _Publisher:
            def publish(self, msg) -> None:
                sent.append(msg)

        return _Publisher()

    def subscribe(self, topic: str, ros_type: str, qos: str, callback) -> None:
        self.callbacks.setdefault(topic, []).append(callback)

    def deliver(self, topic: str, msg) -> None:
        for cb in self.callbacks.get(topic, []):
            cb(msg)

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass
