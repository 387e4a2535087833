"""`tether bench sim-throughput`: PyBullet rows next to MuJoCo's, the original JSON keys kept for MuJoCo,
and clear errors for bad options. Tiny batches and timing windows: structure only, no timed assertions."""

import json

import pytest

from bench import sim_throughput
from tether.cli import build_parser

ORIGINAL_KEYS = ("env_steps_per_s", "naive_env_steps_per_s", "naive_envs")


@pytest.fixture(autouse=True)
def small_naive_baseline(monkeypatch):
    monkeypatch.setattr(sim_throughput, "NAIVE_ENVS", {"mujoco": 2, "pybullet": 2, "analytic": 2})


def test_all_engines_in_one_json_with_mujocos_original_keys(tmp_path):
    out = tmp_path / "sub" / "throughput.json"
    args = build_parser().parse_args(
        ["bench", "sim-throughput", "--json", str(out), "--env-counts", "1,3", "--seconds-per-case", "0.01"]
    )
    assert args.func(args) == 0
    figures = json.loads(out.read_text())
    assert list(figures["engines"]) == ["mujoco", "pybullet", "analytic"]
    for engine in ("mujoco", "pybullet", "analytic"):
        per_engine = figures["engines"][engine]
        assert set(per_engine["env_steps_per_s"]) == {"1", "3"}
        assert all(rate > 0 for rate in per_engine["env_steps_per_s"].values())
        assert per_engine["naive_envs"] == 2 and per_engine["naive_env_steps_per_s"] > 0
    for key in ORIGINAL_KEYS:
        assert figures[key] == figures["engines"]["mujoco"][key]
    assert figures["physics_substeps"] >= 1 and "CPU cores" in figures["machine"]


def test_pybullet_alone_has_no_mujoco_top_level_figures(capsys):
    figures = sim_throughput.run(seconds_per_case=0.01, engines=["pybullet"], env_counts=[2])
    assert list(figures["engines"]) == ["pybullet"]
    assert not any(key in figures for key in ORIGINAL_KEYS)
    text = capsys.readouterr().out
    assert "pybullet:" in text and "PyBullet / MuJoCo" not in text


@pytest.mark.parametrize(
    ("engines", "counts", "message"),
    [
        (["mujoco", "bullet"], [1], "--engines: expected some of"),
        ([], [1], "--engines: expected some of"),
        (["mujoco"], [0], "--env-counts: expected positive"),
    ],
)
def test_bad_options_are_refused_with_what_was_expected(engines, counts, message):
    with pytest.raises(ValueError, match=message):
        sim_throughput.run(seconds_per_case=0.01, engines=engines, env_counts=counts)
