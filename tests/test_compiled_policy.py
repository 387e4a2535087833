"""The compiled inference engine (deploy/runtime/compiled_policy.py): the policy as C, compiled at
load time, equals ONNX Runtime within the load-time tolerance; `auto` falls back to ONNX Runtime
with one warning, `compiled` refuses; the build directory does not outlive the load."""

from __future__ import annotations

import ctypes
import logging
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from deploy.policy_file import PolicyFile
from deploy.runtime import compiled_policy
from deploy.runtime.compiled_policy import ATOL, RTOL, CompiledInferenceError, CompiledPolicy
from deploy.runtime.config import RuntimeConfig
from deploy.runtime.policy_runner import PolicyRunner
from deploy.runtime.robot_profile import PROFILE_DIR, RobotProfile
from deploy.runtime.runtime import Runtime
from deploy.sim_bridge import airborne_profile
from tests.test_runtime_policy_runner import _recurrent_policy

ROOT = Path(__file__).resolve().parents[1]
WALK = ROOT / "policies" / "quadruped_walk.onnx"
HOVER_CTBR = ROOT / "policies" / "quadrotor_hover_ctbr.onnx"
HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
needs_cc = pytest.mark.skipif(
    not HAS_CC, reason="no C compiler (cc/gcc) on PATH: the compiled engine needs one"
)


@pytest.fixture(autouse=True)
def _compiler(monkeypatch):
    """The tests pick the compiler: `cc`, else `gcc` (not whatever $CC the caller has)."""
    monkeypatch.setenv("CC", "cc" if shutil.which("cc") else "gcc")


def _within(got: np.ndarray, ref: np.ndarray) -> bool:
    return bool(np.all(np.abs(got.astype(np.float64) - ref) <= ATOL + RTOL * np.abs(ref)))


def _compare(path: Path, steps: int = 50, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(compiled, ORT) actions for a sequence of observations (state carried for recurrent ones)."""
    data = path.read_bytes()
    pf = PolicyFile(path, model_bytes=data)
    compiled = CompiledPolicy(pf, data)
    obs = np.random.default_rng(seed).normal(0, 2, (steps, pf.contract.observation_size)).astype(np.float32)
    pf.reset(1)
    compiled.reset()
    got, ref = [], []
    for o in obs:
        compiled.obs[0] = o
        got.append(compiled.run()[0].copy())
        ref.append(pf.run(o[None])[0].copy())
    return np.array(got), np.array(ref)


@needs_cc
def test_compiled_calls_keep_the_interpreter_lock():
    """The library is a ctypes.PyDLL: a call of a few microseconds neither releases the lock nor
    lets another thread take it and hold the cycle up for its switch interval."""
    data = WALK.read_bytes()
    compiled = CompiledPolicy(PolicyFile(WALK, model_bytes=data), data)
    assert isinstance(compiled._lib, ctypes.PyDLL)
    assert compiled._run._flags_ & ctypes._FUNCFLAG_PYTHONAPI


@needs_cc
@pytest.mark.parametrize("policy", [WALK, HOVER_CTBR], ids=["walk", "hover_ctbr"])
def test_shipped_policies_compiled_equal_onnx_runtime_within_the_tolerance(policy):
    got, ref = _compare(policy)
    assert _within(got, ref), np.abs(got - ref).max()
    assert np.abs(ref[1:] - ref[:-1]).max() > 1e-3  # the observations move the actions


@needs_cc
def test_a_recurrent_policy_compiled_carries_its_state_like_onnx_runtime_and_reset_zeroes_it(tmp_path):
    path = _recurrent_policy(tmp_path / "r.onnx")
    got, ref = _compare(path)
    assert _within(got, ref), np.abs(got - ref).max()
    data = path.read_bytes()
    compiled = CompiledPolicy(PolicyFile(path, model_bytes=data), data)
    assert compiled.recurrent
    o = np.random.default_rng(1).standard_normal(compiled.obs.shape[1]).astype(np.float32)
    compiled.obs[0] = o
    first = compiled.run().copy()
    second = compiled.run().copy()
    assert not np.allclose(first, second)  # the same observation, another state
    assert np.any(compiled._state != 0.0)
    compiled.reset()
    assert np.all(compiled._state == 0.0)
    assert np.array_equal(compiled.run(), first)  # as after a fresh start


@needs_cc
def test_the_build_directory_is_private_and_removed_after_loading(tmp_path, monkeypatch):
    made = []
    real = compiled_policy.tempfile.mkdtemp

    def spy(*args, **kwargs):
        made.append(Path(real(*args, **kwargs)))
        assert made[-1].stat().st_mode & 0o077 == 0  # nobody else may write (or read) there
        return str(made[-1])

    monkeypatch.setattr(compiled_policy.tempfile, "mkdtemp", spy)
    data = WALK.read_bytes()
    compiled = CompiledPolicy(PolicyFile(WALK, model_bytes=data), data)
    assert made == [compiled.build_dir] and not compiled.build_dir.exists()
    compiled.obs[0] = 0.1
    assert np.isfinite(compiled.run()).all()  # loaded, so the library outlives its file


@needs_cc
def test_the_c_is_generated_from_the_loaded_bytes_not_the_path(tmp_path):
    """The policy node verifies a signature over the bytes it loads: the file may change after."""
    path = tmp_path / "walk.onnx"
    data = WALK.read_bytes()
    path.write_bytes(b"not an onnx file")
    compiled = CompiledPolicy(PolicyFile(path, model_bytes=data), data)
    assert compiled.description.startswith("compiled C (")


def _sin_policy(path: Path) -> Path:
    """The walk contract with a Sin head: ONNX Runtime runs it, the C generator does not."""
    init = [numpy_helper.from_array(np.full((45, 12), 0.01, np.float32), "W")]
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["z"], name="proj"),
        helper.make_node("Sin", ["z"], ["action"], name="periodic_head"),
    ]
    model = helper.make_model(
        helper.make_graph(
            nodes, "sin",
            [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", 45])],
            [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", 12])],
            init,
        ),
        opset_imports=[helper.make_opsetid("", 18)], ir_version=10,
    )  # fmt: skip
    for prop in onnx.load(str(WALK)).metadata_props:
        entry = model.metadata_props.add()
        entry.key, entry.value = prop.key, prop.value
    onnx.save(model, str(path))
    return path


def _walk_runner(path: Path, engine: str | None) -> PolicyRunner:
    return PolicyRunner(path, RobotProfile.from_yaml(PROFILE_DIR / "profile_go2.yaml"), inference=engine)


@pytest.mark.parametrize("why", ["no compiler", "unsupported operator"])
def test_auto_falls_back_to_onnx_runtime_with_one_warning_and_compiled_refuses(
    why, tmp_path, monkeypatch, caplog
):
    if why == "no compiler":
        monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
        path, reason = WALK, "no C compiler"
    else:
        if not HAS_CC:
            pytest.skip("no C compiler (cc/gcc) on PATH: the unsupported-operator case needs one")
        path, reason = _sin_policy(tmp_path / "sin.onnx"), "'Sin' is not supported"
    with caplog.at_level(logging.WARNING, logger="tether.runtime.policy"):
        runner = _walk_runner(path, "auto")
    assert runner.inference_engine == "onnxruntime"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and reason in warnings[0] and "engine: onnxruntime" in warnings[0]
    runner.bound.obs[0] = 0.5
    assert np.isfinite(runner.bound.run()).all()
    with pytest.raises(CompiledInferenceError, match=f"inference.engine is 'compiled' but .*{reason}"):
        _walk_runner(path, "compiled")


@needs_cc
def test_the_runtime_configuration_picks_the_engine_and_diagnostics_report_it(tmp_path, caplog):
    profile = airborne_profile(RobotProfile.from_yaml(PROFILE_DIR / "profile_crazyflie_2_1_px4_ctbr.yaml"))
    assert RuntimeConfig.from_yaml().inference.engine == "auto"  # the documented default
    chosen = {}
    for engine in ("auto", "onnxruntime", "compiled"):
        cfg = RuntimeConfig.from_dict({**_config_dict(), "inference": {"engine": engine}})
        rt = Runtime(PolicyRunner(HOVER_CTBR, profile), cfg)
        chosen[engine] = rt.diagnostics()["inference_engine"]
    assert chosen["onnxruntime"] == "onnxruntime"
    assert chosen["auto"] == chosen["compiled"] and chosen["compiled"].startswith("compiled C (")
    assert "-O3" in chosen["compiled"]
    # an engine given to the runner is kept
    rt = Runtime(PolicyRunner(HOVER_CTBR, profile, inference="onnxruntime"), RuntimeConfig.from_yaml())
    assert rt.runner.inference_engine == "onnxruntime"
    with pytest.raises(
        ValueError, match=r"inference.engine must be one of \['auto', 'onnxruntime', 'compiled'\]"
    ):
        RuntimeConfig.from_dict({**_config_dict(), "inference": {"engine": "tensorrt"}})
    with pytest.raises(ValueError, match="unknown keys"):
        RuntimeConfig.from_dict({**_config_dict(), "inference": {"engin": "auto"}})


def _config_dict() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "deploy" / "runtime" / "runtime.yaml").read_text())


@needs_cc
def test_a_compiled_policy_that_disagrees_with_onnx_runtime_is_refused(monkeypatch):
    """The load-time check can fail: the C computes 1e-4 too much on every action."""
    real = compiled_policy.generate_from_model

    def skewed(*args, **kwargs):
        c = real(*args, **kwargs)
        c.source = c.source.replace("action[i] = ", "action[i] = 1e-4f + ")
        return c

    monkeypatch.setattr(compiled_policy, "generate_from_model", skewed)
    data = WALK.read_bytes()
    with pytest.raises(CompiledInferenceError, match="disagrees with ONNX Runtime on the zero observation"):
        CompiledPolicy(PolicyFile(WALK, model_bytes=data), data)


@needs_cc
def test_the_policy_node_publishes_which_engine_runs(tmp_path):
    from deploy.nodes.policy_node import PolicyNode
    from tests.runtime_helpers import NullTransport, hover_policy

    node = PolicyNode(NullTransport(), {"policy_file": str(hover_policy(tmp_path / "hover.onnx"))})
    values = node.diagnostics_statuses()[0][4]
    assert values["inference_engine"] == node.runtime.runner.inference_engine
    assert values["inference_engine"].startswith("compiled C (")  # runtime.yaml's default, auto
