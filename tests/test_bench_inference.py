"""`tether bench inference`: the documented JSON (ORT, PyTorch and the runtime's own call path, each with
p50/p99/max), and the runtime row going through the robot-side PolicyRunner. Structure only, no timings."""

import json

import pytest

from bench import inference
from deploy.contract import ContractError
from deploy.runtime.robot_profile import DEFAULT_PROFILE
from sim.tasks.quadrotor_hover import HoverConfig
from tests.policy_fixtures import write_policy
from tether.cli import build_parser

ROWS = ("ort", "torch", "runtime")


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    return write_policy(tmp_path_factory.mktemp("inference") / "mlp.onnx", HoverConfig.from_yaml().contract())


def test_json_has_every_row_with_p50_p99_max(tmp_path, policy_file, capsys):
    out = tmp_path / "sub" / "inference.json"
    args = build_parser().parse_args(
        ["bench", "inference", "--json", str(out), "--policy", str(policy_file), "--calls", "20"]
    )
    assert args.func(args) == 0
    figures = json.loads(out.read_text())
    assert figures["calls"] == 20 and figures["policy"] == str(policy_file)
    for row in ROWS:
        p50, p99, top = (figures[f"{row}_us_{s}"] for s in ("p50", "p99", "max"))
        assert 0 < p50 <= p99 <= top
    # PyTorch eager and ONNX Runtime run the same weights
    assert figures["max_abs_action_diff"] < 1e-5
    text = capsys.readouterr().out
    assert "PolicyRunner.act(state)" in text and "PyTorch eager" in text


def test_the_runtime_row_validates_the_policy_against_the_robot_profile(tmp_path, policy_file):
    profile = tmp_path / "profile.yaml"
    text = DEFAULT_PROFILE.read_text().replace("control_rate_hz: 100.0", "control_rate_hz: 250.0")
    presets = DEFAULT_PROFILE.parents[2] / "sim/robots/presets"
    profile.write_text(text.replace("../../sim/robots/presets/", f"{presets}/"))
    with pytest.raises(ContractError, match="control rate"):
        inference.run(str(policy_file), calls=5, profile_path=str(profile))


def test_a_non_positive_call_count_is_refused(policy_file):
    with pytest.raises(ValueError, match="--calls must be at least 1, found 0"):
        inference.run(str(policy_file), calls=0)
