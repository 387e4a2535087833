"""The policy runner's inference path: preallocated IOBinding, recurrent state, providers."""

import logging

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from deploy.policy_file import PolicyFile, select_providers
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import DEFAULT_PROFILE, RobotProfile
from deploy.runtime.runtime import Runtime
from deploy.sim_bridge import airborne_profile
from sim.tasks.quadrotor_hover import HoverConfig
from tests.runtime_helpers import hover_policy

CONTRACT = HoverConfig.from_yaml().contract()


def _recurrent_policy(path, hidden=8):
    """h' = tanh(obs W + h U); action = tanh(h' V), with the hidden state as an extra input/output."""
    import hashlib

    import onnx

    rng = np.random.default_rng(1)
    d, a = CONTRACT.observation_size, CONTRACT.action_size
    init = [
        numpy_helper.from_array(rng.standard_normal((d, hidden)).astype(np.float32) * 0.3, "W"),
        numpy_helper.from_array(rng.standard_normal((hidden, hidden)).astype(np.float32) * 0.5, "U"),
        numpy_helper.from_array(rng.standard_normal((hidden, a)).astype(np.float32) * 0.5, "V"),
    ]
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["xw"]),
        helper.make_node("MatMul", ["h_in", "U"], ["hu"]),
        helper.make_node("Add", ["xw", "hu"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["h_out"]),
        helper.make_node("MatMul", ["h_out", "V"], ["av"]),
        helper.make_node("Tanh", ["av"], ["action"]),
    ]
    graph = helper.make_graph(
        nodes,
        "gru_like",
        [
            helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", d]),
            helper.make_tensor_value_info("h_in", TensorProto.FLOAT, ["batch", hidden]),
        ],
        [
            helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", a]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["batch", hidden]),
        ],
        initializer=init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    text = CONTRACT.to_json()
    for k, v in {
        "tether_contract": text,
        "tether_task": CONTRACT.task,
        "tether_contract_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(model, str(path))
    return path


def test_bound_inference_matches_plain_run_and_keeps_then_resets_recurrent_state(tmp_path):
    pf = PolicyFile(_recurrent_policy(tmp_path / "r.onnx"))
    assert pf.is_recurrent
    obs = np.random.default_rng(0).standard_normal((6, CONTRACT.observation_size)).astype(np.float32)
    pf.reset(1)
    plain = [pf.run(o[None])[0].copy() for o in obs]
    bound = pf.bind(1)
    bound.reset()
    out = []
    for o in obs:
        bound.obs[0] = o
        out.append(bound.run()[0].copy())
    assert np.array_equal(np.array(out), np.array(plain))
    assert not np.allclose(out[0], out[1])  # the state carried over
    bound.reset()
    bound.obs[0] = obs[0]
    assert np.array_equal(bound.run()[0], plain[0])  # and was forgotten on reset


def test_arming_resets_the_policy_state(tmp_path, monkeypatch):
    profile = airborne_profile(RobotProfile.from_yaml(DEFAULT_PROFILE))
    runner = PolicyRunner(_recurrent_policy(tmp_path / "r.onnx"), profile)
    rt = Runtime(runner, RuntimeConfig.from_yaml())
    calls = []
    monkeypatch.setattr(runner, "reset", lambda: calls.append(True))
    from deploy.runtime.input_store import Command, Odometry

    rt.put(
        "odometry", Odometry(np.array([0, 0, 2.0]), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3)), 0.0
    )
    rt.put("command", Command(np.array([0, 0, 2.0, 0, 0, 0])), 0.0)
    rt.arm(0.0)
    assert calls == [True]


def test_providers_asked_for_but_absent_fall_back_to_cpu_with_one_warning(tmp_path, caplog):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is present here; this test covers the fallback")
    with caplog.at_level(logging.WARNING, logger="tether.runtime.policy"):
        runner = PolicyRunner(
            hover_policy(tmp_path / "p.onnx"), RobotProfile.from_yaml(DEFAULT_PROFILE), providers=["cuda"]
        )
    assert runner.providers == ["CPUExecutionProvider"]
    assert any(
        "CUDAExecutionProvider" in r.getMessage() and "not available" in r.getMessage()
        for r in caplog.records
    )
    assert select_providers(["tensorrt", "cpu"])[1] == ["TensorrtExecutionProvider"]
    with pytest.raises(ValueError, match="unknown ONNX Runtime provider 'tpu'"):
        select_providers(["tpu"])


def test_the_runtime_needs_neither_the_simulator_nor_training():
    import subprocess
    import sys

    code = (
        "import sys, deploy.runtime; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sim', 'training', 'torch', 'mujoco')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"deploy.runtime imported {r.stdout.strip()}"
