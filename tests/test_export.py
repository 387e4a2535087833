"""Export: an ONNX file that carries the contract, bakes in normalization and matches PyTorch."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import yaml

import training.export as export_module
from deploy.contract import Contract
from sim.tasks.quadrotor_hover import HoverConfig, QuadrotorHoverEnv
from tests.training_helpers import tiny_config
from training.export import ParityError, check_parity, export, parity_observations
from training.policy import load_policy
from training.train import train

TASK = "quadrotor-hover"
OBS_SIZE = HoverConfig.from_yaml().contract().observation_size


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-iteration run: enough to have non-trivial normalization statistics."""
    root = tmp_path_factory.mktemp("export")
    path = tiny_config(root, save_interval=None, validation_interval=1)
    train(TASK, root / "run", path, seed=0, max_iterations=2, progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def exported(run_dir: Path) -> Path:
    return export(run_dir, parity_envs=4, parity_steps=50)


def metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def test_default_output_path_and_io_names(run_dir: Path, exported: Path) -> None:
    assert exported == run_dir / "exported" / "policy.onnx" and exported.exists()
    graph = onnx.load(exported).graph
    assert [i.name for i in graph.input] == ["obs"]
    assert [o.name for o in graph.output] == ["action"]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == OBS_SIZE and dims[0].dim_param, "batch dimension must be dynamic"
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_metadata_carries_contract_hash_task_and_config(run_dir: Path, exported: Path) -> None:
    meta = metadata(exported)
    env = QuadrotorHoverEnv(1)
    try:
        contract = env.contract
    finally:
        env.close()
    assert meta["tether_contract"] == contract.to_json()
    assert meta["tether_contract_sha256"] == contract.sha256()
    assert Contract.from_json(meta["tether_contract"]).sha256() == meta["tether_contract_sha256"]
    assert meta["tether_task"] == TASK
    assert yaml.safe_load(meta["tether_training_config"]) == yaml.safe_load(
        (run_dir / "config.yaml").read_text()
    )
    if (export_module.REPO_ROOT / ".git").exists():  # a checkout: the commit, never the fallback
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=export_module.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert re.fullmatch(r"[0-9a-f]{40}", meta["tether_source_version"]), meta["tether_source_version"]
        assert meta["tether_source_version"] == head.stdout.strip()
    else:  # an archive of one
        assert meta["tether_source_version"] == "unknown"
    best = yaml.safe_load((run_dir / "best.yaml").read_text())["best"]["iteration"]
    assert meta["tether_checkpoint"] == f"model_best.pt (iteration {best})"


def test_onnx_runs_batch_1_and_batched_with_normalization_baked_in(run_dir: Path, exported: Path) -> None:
    policy, _, _ = load_policy(run_dir)
    assert policy.obs_normalizer.count.item() > 0, "normalizer should have statistics after training"
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    obs = np.random.default_rng(0).normal(size=(5, OBS_SIZE)).astype(np.float32)
    with torch.no_grad():
        expected = policy(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(session.run(None, {"obs": obs})[0], expected, atol=1e-5)
    np.testing.assert_allclose(session.run(None, {"obs": obs[:1]})[0], expected[:1], atol=1e-5)
    # Without the normalizer the network gives other actions: the statistics are really in the graph.
    with torch.no_grad():
        raw = policy.output(policy.mlp(torch.from_numpy(obs))).numpy()
    assert np.abs(raw - expected).max() > 1e-4


def test_tampered_parity_raises_and_writes_nothing(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export_module._onnx_actions  # 2e-5 off: twice the 1e-5 tolerance
    monkeypatch.setattr(export_module, "_onnx_actions", lambda s, o: real(s, o) + 2e-5)
    out = tmp_path / "bad.onnx"
    with pytest.raises(ParityError, match="parity failed"):
        export(run_dir, out, parity_envs=2, parity_steps=10)
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_parity_within_the_tolerance_is_accepted(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export_module._onnx_actions
    monkeypatch.setattr(export_module, "_onnx_actions", lambda s, o: real(s, o) + 5e-6)
    out = export(run_dir, tmp_path / "close.onnx", parity_envs=2, parity_steps=10)
    assert out.exists()


def test_check_parity_catches_a_modified_weight(run_dir: Path, exported: Path, tmp_path: Path) -> None:
    model = onnx.load(exported)
    init = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    weights = onnx.numpy_helper.to_array(init).copy()
    weights.flat[0] += 0.5
    init.CopyFrom(onnx.numpy_helper.from_array(weights, init.name))
    bad = tmp_path / "modified.onnx"
    onnx.save(model, bad)
    policy, record, _ = load_policy(run_dir)
    obs = parity_observations(policy, record, num_envs=2, steps=10, seed=0)
    assert check_parity(policy, exported, obs) <= 1e-5
    with pytest.raises(ParityError):
        check_parity(policy, bad, obs)


def test_export_of_a_directory_without_checkpoints_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        export(tmp_path)


def test_export_signs_the_file_it_writes_and_drops_a_stale_signature(run_dir: Path, tmp_path: Path) -> None:
    from deploy.provenance import ProvenanceError, generate_keypair, signature_path, verify_policy

    private, public = generate_keypair(tmp_path / "keys")
    out = export(run_dir, tmp_path / "signed.onnx", parity_envs=2, parity_steps=10, sign_key=private)
    assert verify_policy(out, public).size_bytes == out.stat().st_size
    # re-exported without a key: the old signature signed other bytes, so it is removed
    export(run_dir, out, parity_envs=2, parity_steps=10)
    assert not signature_path(out).exists()
    # a bad key fails before any work, and leaves nothing behind
    private.chmod(0o644)
    with pytest.raises(ProvenanceError, match="expected 0600"):
        export(run_dir, tmp_path / "never.onnx", sign_key=private)
    assert not (tmp_path / "never.onnx").exists()
