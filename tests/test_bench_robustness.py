"""`tether bench robustness`: ranges widened one at a time from the defaults, cells equal to what
evaluate() reports, a controller dropped from a sweep once it falls below the threshold."""

import json

import pytest
import yaml

from bench import robustness
from sim.randomization.quadrotor import DEFAULT_CONFIG, QuadrotorRandomization
from tests.runtime_helpers import hover_policy
from training.evaluation import evaluate, pid_factory

EPISODES = 3


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("robust") / "hover.onnx")


def test_widening_changes_only_the_named_range():
    base = yaml.safe_load(DEFAULT_CONFIG.read_text())
    wide = robustness.widened(base, {"vehicle": {"mass_kg": {"scale": [0.5, 1.5]}}})
    assert wide["vehicle"]["mass_kg"] == {"scale": [0.5, 1.5]}
    assert {k: v for k, v in wide["vehicle"].items() if k != "mass_kg"} == {
        k: v for k, v in base["vehicle"].items() if k != "mass_kg"
    }
    others = [k for k in base if k != "vehicle"]
    assert {k: wide[k] for k in others} == {k: base[k] for k in others}
    assert base["vehicle"]["mass_kg"] == {"scale": [0.8, 1.2]}  # the defaults are not modified


def test_every_sweep_starts_at_the_default_range_and_parses():
    base = yaml.safe_load(DEFAULT_CONFIG.read_text())
    default = QuadrotorRandomization.from_dict(base)
    for sweep in robustness.SWEEPS:
        first = QuadrotorRandomization.from_dict(robustness.widened(base, sweep.steps[0][1]))
        assert first == default, sweep.name
        for _, fragment in sweep.steps[1:]:
            assert QuadrotorRandomization.from_dict(robustness.widened(base, fragment)) != default


def test_table_cells_are_evaluations_and_a_failed_controller_leaves_the_sweep(policy, tmp_path):
    base = yaml.safe_load(DEFAULT_CONFIG.read_text())
    sweep = robustness.Sweep(
        "delay", "steps", (("0–2", {"action_delay_steps": [0, 2]}), ("0–60", {"action_delay_steps": [0, 60]}))
    )
    out = tmp_path / "robust.json"
    result = robustness.run(policy, EPISODES, seed=4, threshold=0.5, json_path=str(out), sweeps=(sweep,))
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    (row,) = result["sweeps"]
    first = row["cells"][0]
    pid, _ = evaluate(
        pid_factory, "pid", episodes=EPISODES, seed=4, randomize=True,
        randomization=QuadrotorRandomization.from_dict(base), progress=False,
    )  # fmt: skip
    assert first["pid"]["success_rate"] == pid["success_rate"]
    assert first["pid"]["final_pos_err_m_mean"] == pid["final_pos_err_m_mean"]
    # 0.6 s of delay grounds both controllers: the reach stays at the default range
    last = row["cells"][1]
    assert last["pid"]["success_rate"] < 0.5
    assert row["reach"]["pid"] == "0–2" and row["never_dropped"]["pid"] is False


def test_missing_policy_is_refused_with_advice(tmp_path):
    with pytest.raises(FileNotFoundError, match="pass --policy"):
        robustness.run(tmp_path / "none.onnx", 1)
