"""ONNX policy files: the contract is read back, verified, and a mismatching policy is refused."""

import dataclasses
import hashlib
import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch

from bench.onnx_eager import EagerGraph
from deploy.contract import ContractError
from deploy.policy_file import PolicyFile
from sim.tasks.quadrotor_hover import HoverConfig
from tests.policy_fixtures import write_policy
from training.evaluation import evaluate, policy_factory


@pytest.fixture
def contract():
    return HoverConfig.from_yaml().contract()


def test_contract_round_trips_through_the_file(tmp_path, contract):
    policy = PolicyFile(write_policy(tmp_path / "p.onnx", contract))
    assert policy.contract == contract
    policy.check_matches(contract)
    actions = policy.run(np.zeros((5, contract.observation_size), dtype=np.float32))
    assert actions.shape == (5, 4)


def test_tampered_metadata_is_refused(tmp_path, contract):
    text = contract.to_json()
    tampered = text.replace('"control_rate_hz":100.0', '"control_rate_hz":50.0')
    assert tampered != text
    path = write_policy(tmp_path / "p.onnx", contract, contract_json=tampered, sha256=contract.sha256())
    with pytest.raises(ContractError, match="does not match its recorded SHA-256"):
        PolicyFile(path)


def test_intact_contract_in_another_canonical_form_is_refused_with_re_export_advice(tmp_path, contract):
    # What a file exported by a Tether version that serialized contracts differently looks like:
    # text and recorded hash agree, but this version's canonical form of the same contract does not.
    text = json.dumps(contract.to_dict(), sort_keys=True, indent=1)
    recorded = hashlib.sha256(text.encode("utf-8")).hexdigest()
    path = write_policy(tmp_path / "p.onnx", contract, contract_json=text, sha256=recorded)
    with pytest.raises(ContractError, match="reads it differently.*re-export the policy with this version"):
        PolicyFile(path)


def test_rotorcraft_contracts_serialize_without_joint_drives(contract):
    # Policies exported before contracts carried joint drives must keep their hash.
    assert contract.joints == () and "joints" not in json.loads(contract.to_json())


def test_file_without_contract_is_refused(tmp_path):
    net = torch.nn.Linear(22, 4)
    path = tmp_path / "bare.onnx"
    torch.onnx.export(
        net, (torch.zeros(1, 22),), str(path), input_names=["obs"], output_names=["action"], dynamo=False
    )
    with pytest.raises(ContractError, match="not exported by Tether"):
        PolicyFile(path)


def test_policy_for_another_contract_is_refused_by_eval(tmp_path, contract):
    other = dataclasses.replace(contract, control_rate_hz=50.0)
    path = write_policy(tmp_path / "p.onnx", other)
    with pytest.raises(ContractError, match="control_rate_hz: expected 100.0, found 50.0"):
        evaluate(policy_factory(str(path)), "p", episodes=2, progress=False)
    r = subprocess.run(
        [sys.executable, "-m", "tether.cli", "eval", "--policy", str(path), "--episodes", "2", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "control_rate_hz" in r.stderr


def test_eval_runs_an_onnx_policy_and_reports_the_pid_fields(tmp_path, contract):
    path = write_policy(tmp_path / "p.onnx", contract)
    out = tmp_path / "r.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tether.cli",
            "eval",
            "--task",
            "quadrotor-hover",
            "--policy",
            str(path),
            "--engine",
            "mujoco",
            "--episodes",
            "4",
            "--randomize",
            "--json",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["controller"] == "p.onnx" and report["episodes"] == 4
    direct, _ = evaluate(policy_factory(str(path)), "p.onnx", episodes=4, randomize=True, progress=False)
    for key in ("success_rate", "crash_rate", "final_pos_err_m_mean"):
        assert report[key] == direct[key], key  # the CLI flies exactly what evaluate() flies


def test_eager_rebuild_matches_onnx_runtime(tmp_path, contract):
    path = write_policy(tmp_path / "p.onnx", contract)
    x = np.random.default_rng(0).standard_normal((7, contract.observation_size)).astype(np.float32)
    ort_out = ort.InferenceSession(str(path)).run(None, {"obs": x})[0]
    torch_out = EagerGraph(path)(torch.from_numpy(x)).numpy()
    assert np.allclose(ort_out, torch_out, atol=1e-6)
