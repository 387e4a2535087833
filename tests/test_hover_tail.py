"""training/hover_tail.py: the error-tail figures agree with evaluate()'s own trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.evaluation import evaluate, policy_factory
from training.hover_tail import analyse, main

from .runtime_helpers import hover_policy, nan_policy

EPISODES = 12


def test_distance_per_second_matches_the_recorded_trajectories(tmp_path: Path) -> None:
    policy = str(hover_policy(tmp_path / "linear.onnx"))
    result = analyse(policy, episodes=EPISODES, seed=3, engine="analytic")
    report, traj = evaluate(
        policy_factory(policy), "p", engine="analytic", episodes=EPISODES, seed=3, randomize=True,
        batch_size=EPISODES, record_episodes=EPISODES, progress=False,
    )
    flown = ~np.array([e["crashed"] for e in sorted(report["per_episode"], key=lambda e: e["episode_index"])])
    assert flown.any()
    for second, cm in result["mean_distance_cm_at_s"].items():
        step = int(round(float(second) * 100)) - 1
        assert cm == pytest.approx(traj.pos_err_m[flown, step].mean() * 100, rel=1e-9)
    assert result["final_pos_err_m_mean"] == report["final_pos_err_m_mean"]
    assert -1.0 <= result["offset_vs_start_cosine_median"] <= 1.0
    assert set(result["mean_distance_cm_at_s"]) == {"1", "2", "3", "4", "5", "6"}


def test_all_crashed_is_an_error_not_a_figure(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="crashed"):
        analyse(str(nan_policy(tmp_path / "nan.onnx")), episodes=4, engine="analytic")


def test_cli_prints_the_figures_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = str(hover_policy(tmp_path / "linear.onnx"))
    out = tmp_path / "tail.json"
    assert main([policy, "--episodes", "4", "--engine", "analytic", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cm at 6 s" in text and "integral observation" in text
    assert out.is_file()
