"""C99 export: the generated source compiles warning-free with the system C compiler and acts like
ONNX Runtime (≤ 1e-5) on recorded observations; unsupported graphs are refused by name."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from deploy.c_export import UnsupportedGraphError, generate, generate_from_model
from deploy.c_export import main as c_export_main
from deploy.policy_file import PolicyFile

REPO = Path(__file__).resolve().parents[1]
WALK = REPO / "policies" / "quadruped_walk.onnx"
CC = shutil.which("cc") or shutil.which("gcc")
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Werror", "-pedantic"]
ATOL = 1e-5

pytestmark = pytest.mark.skipif(CC is None, reason="no system C compiler")

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "{p}.h"

/* argv: observations (float32, rows of {P}_OBS_SIZE) -> actions (float32, rows of {P}_ACT_SIZE),
 * one call per row in order (a recurrent policy carries its state from row to row). */
int main(int argc, char **argv)
{{
    float obs[{P}_OBS_SIZE];
    float action[{P}_ACT_SIZE];
    FILE *in, *out;
#if {P}_RECURRENT
    static {p}_state_t state;
    {p}_reset(&state);
#endif
    if (argc != 3) return 2;
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) return 3;
    while (fread(obs, sizeof(float), {P}_OBS_SIZE, in) == {P}_OBS_SIZE) {{
#if {P}_RECURRENT
        {p}_act(&state, obs, action);
#else
        {p}_act(obs, action);
#endif
        if (fwrite(action, sizeof(float), {P}_ACT_SIZE, out) != {P}_ACT_SIZE) return 4;
    }}
    fclose(in);
    fclose(out);
    return 0;
}}
"""


def run_c(
    policy: Path, observations: np.ndarray, workdir: Path, prefix: str = "pol", dense_loop: str | None = None
) -> np.ndarray:
    """Generate C for `policy`, compile it with a harness, run it over `observations` row by row
    (`dense_loop`: generated through generate_from_model with that loop order)."""
    if dense_loop is None:
        c_policy = generate(policy, prefix)
    else:
        c_policy = generate_from_model(policy.read_bytes(), prefix, policy.name, dense_loop=dense_loop)
    c_policy.write(workdir)
    (workdir / "harness.c").write_text(HARNESS.format(p=prefix, P=prefix.upper()))
    exe = workdir / "harness"
    subprocess.run(
        [CC, *CFLAGS, "-o", str(exe), str(workdir / "harness.c"), str(workdir / f"{prefix}.c"), "-lm"],
        check=True, capture_output=True, text=True, cwd=workdir,
    )  # fmt: skip
    obs_file, act_file = workdir / "obs.f32", workdir / "act.f32"
    np.ascontiguousarray(observations, dtype=np.float32).tofile(obs_file)
    subprocess.run([str(exe), str(obs_file), str(act_file)], check=True, timeout=60)
    return np.fromfile(act_file, dtype=np.float32).reshape(len(observations), c_policy.action_size)


def onnx_actions(policy: Path, observations: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(policy), options, providers=["CPUExecutionProvider"])
    return session.run(["action"], {"obs": observations.astype(np.float32)})[0]


def normalizer_draws(policy: Path, n: int, seed: int = 0) -> np.ndarray:
    """Observations drawn around the policy's own normalization: mean ± 3 standard deviations."""
    model = onnx.load(str(policy))
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    sub = next(node for node in model.graph.node if node.op_type == "Sub")
    div = next(node for node in model.graph.node if node.op_type == "Div")
    mean, std = consts[sub.input[1]].ravel(), consts[div.input[1]].ravel()
    rng = np.random.default_rng(seed)
    return (mean + std * rng.uniform(-3.0, 3.0, size=(n, mean.size))).astype(np.float32)


@pytest.fixture(scope="module")
def hover_policy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A 2-iteration hover run exported with `tether export`, and 240 observations its PyTorch
    policy visited flying a randomized closed loop."""
    from tests.training_helpers import tiny_config
    from training.export import export, parity_observations
    from training.policy import load_policy
    from training.train import train

    task = "quadrotor-hover"
    root = tmp_path_factory.mktemp("c_export")
    path = tiny_config(root, save_interval=None, validation_interval=1)
    train(task, root / "run", path, seed=0, max_iterations=2, progress=False)
    exported = export(root / "run", parity_envs=4, parity_steps=20)
    policy, record, _ = load_policy(root / "run")
    observations = parity_observations(policy, record, num_envs=4, steps=60, seed=7)
    return exported, observations


def test_hover_policy_in_c_matches_onnx_runtime_on_a_closed_loop_rollout(hover_policy, tmp_path):
    path, observations = hover_policy
    assert len(observations) >= 200
    got = run_c(path, observations, tmp_path)
    expected = onnx_actions(path, observations)
    assert np.abs(got - expected).max() <= ATOL
    header = (tmp_path / "pol.h").read_text()
    contract = PolicyFile(path).contract
    assert f'#define POL_CONTRACT_SHA256 "{contract.sha256()}"' in header
    assert f"#define POL_OBS_SIZE {contract.observation_size}" in header
    assert f"#define POL_ACT_SIZE {contract.action_size}" in header
    source = (tmp_path / "pol.c").read_text()
    assert "malloc" not in source and "#include <math.h>" in source


def test_shipped_walk_policy_in_c_matches_onnx_runtime(tmp_path):
    observations = normalizer_draws(WALK, 256)
    got = run_c(WALK, observations, tmp_path, prefix="walk")
    expected = onnx_actions(WALK, observations)
    assert np.abs(got - expected).max() <= ATOL
    c_policy = generate(WALK, "walk")
    # 45→128→64→32→12: every weight and bias plus the baked-in mean and standard deviation
    assert c_policy.macs == 45 * 128 + 128 * 64 + 64 * 32 + 32 * 12
    assert c_policy.parameters == c_policy.macs + 128 + 64 + 32 + 12 + 2 * 45
    assert c_policy.scratch_floats == 2 * 128 and c_policy.state_size == 0


def test_both_dense_loop_orders_compute_the_same_floats(tmp_path):
    """The input-major loop (the robot's compiled engine: vectorizable) sums each output's terms in
    the output-major loop's order (the microcontroller default), so the floats are identical."""
    observations = normalizer_draws(WALK, 256, seed=1)
    by_output = run_c(WALK, observations, tmp_path / "output", prefix="walk", dense_loop="output")
    by_input = run_c(WALK, observations, tmp_path / "input", prefix="walk", dense_loop="input")
    assert np.array_equal(by_output.view(np.uint32), by_input.view(np.uint32))
    assert np.abs(by_input - onnx_actions(WALK, observations)).max() <= ATOL
    source = generate_from_model(WALK.read_bytes(), "walk", dense_loop="input").source
    assert "y[o] += w[o] * xi;" in source and "acc += w[i]" not in source
    with pytest.raises(ValueError, match="dense_loop must be one of"):
        generate_from_model(WALK.read_bytes(), "walk", dense_loop="diagonal")


def _graph_with_contract(nodes, inputs, outputs, initializers, name: str) -> onnx.ModelProto:
    """A hand-built graph carrying the shipped walk policy's contract (45 observations, 12 actions)."""
    model = helper.make_model(
        helper.make_graph(nodes, name, inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid("", 18)],
        ir_version=10,
    )
    for prop in onnx.load(str(WALK)).metadata_props:
        entry = model.metadata_props.add()
        entry.key, entry.value = prop.key, prop.value
    onnx.checker.check_model(model)
    return model


def test_recurrent_state_is_a_struct_and_carries_over_calls(tmp_path):
    """h' = tanh(W·obs + U·h + b), action = clip(V·h', ±0.5): the C keeps h in PREFIX_state_t."""
    rng = np.random.default_rng(3)
    hidden = 8
    init = [
        numpy_helper.from_array(rng.normal(0, 0.3, (45, hidden)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(0, 0.5, (hidden, hidden)).astype(np.float32), "U"),
        numpy_helper.from_array(rng.normal(0, 0.1, (hidden,)).astype(np.float32), "b"),
        numpy_helper.from_array(rng.normal(0, 0.7, (12, hidden)).astype(np.float32), "V"),
        numpy_helper.from_array(np.array(-0.5, np.float32), "lo"),
        numpy_helper.from_array(np.array(0.5, np.float32), "hi"),
    ]
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["xw"], name="input_proj"),
        helper.make_node("Gemm", ["h_in", "U", "b"], ["hu"], name="recur"),
        helper.make_node("Add", ["xw", "hu"], ["pre"], name="sum"),
        helper.make_node("Tanh", ["pre"], ["h_out"], name="cell"),
        helper.make_node("Gemm", ["h_out", "V"], ["raw"], name="head", transB=1),
        helper.make_node("Clip", ["raw", "lo", "hi"], ["action"], name="limit"),
    ]
    inputs = [
        helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", 45]),
        helper.make_tensor_value_info("h_in", TensorProto.FLOAT, ["batch", hidden]),
    ]
    outputs = [
        helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", 12]),
        helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["batch", hidden]),
    ]
    path = tmp_path / "rnn.onnx"
    onnx.save(_graph_with_contract(nodes, inputs, outputs, init, "rnn"), str(path))
    observations = rng.normal(0, 1, (200, 45)).astype(np.float32)
    got = run_c(path, observations, tmp_path, prefix="rnn")
    reference = PolicyFile(path)
    reference.reset(1)
    expected = np.concatenate([reference.run(observations[k : k + 1]) for k in range(len(observations))])
    assert np.abs(got - expected).max() <= ATOL
    assert np.abs(expected[1:] - expected[:-1]).max() > 0.0  # the comparison is not trivially constant
    header = (tmp_path / "rnn.h").read_text()
    assert "} rnn_state_t;" in header and "#define RNN_RECURRENT 1" in header
    assert f"#define RNN_STATE_SIZE {hidden}" in header


def test_an_unsupported_operator_is_refused_naming_it_and_its_node(tmp_path, capsys):
    init = [numpy_helper.from_array(np.ones((45, 12), np.float32), "W")]
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["z"], name="proj"),
        helper.make_node("Sin", ["z"], ["action"], name="periodic_head"),
    ]
    inputs = [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", 45])]
    outputs = [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", 12])]
    path = tmp_path / "sin.onnx"
    onnx.save(_graph_with_contract(nodes, inputs, outputs, init, "sin"), str(path))
    with pytest.raises(UnsupportedGraphError, match=r"node 'periodic_head' \(Sin\).*'Sin' is not supported"):
        generate(path)
    assert c_export_main([str(path), "-o", str(tmp_path / "out")]) == 2
    assert "periodic_head" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_format_c_writes_source_and_header_next_to_the_onnx_file(hover_policy, tmp_path):
    from tether.cli import main

    path, _ = hover_policy
    run_dir = path.parent.parent
    out = tmp_path / "cli" / "hover.onnx"
    with pytest.raises(SystemExit) as done:
        main(["export", str(run_dir), "-o", str(out), "--format", "c", "--prefix", "hover"])
    assert done.value.code == 0
    assert (out.parent / "hover.c").exists() and (out.parent / "hover.h").exists()
    assert (
        "void hover_act(const float obs[HOVER_OBS_SIZE], float action[HOVER_ACT_SIZE]);"
        in (out.parent / "hover.h").read_text()
    )
