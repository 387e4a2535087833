"""The hover gate (training.gate), the shipped policy against it, and the time-to-gate benchmark."""

import functools
import json

import pytest
import yaml

from bench import time_to_gate
from tests.runtime_helpers import SHIPPED_POLICY, hover_policy
from training.config import default_config_path
from training.gate import GATE_EPISODES, GATE_SEED, GATE_SUCCESS_RATE, check_gate


@pytest.fixture(scope="module")
def linear_policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("gate") / "hover.onnx")


def test_gate_compares_with_pid_on_the_same_episodes(linear_policy):
    result = check_gate(linear_policy, episodes=6)
    p, b = result.policy, result.pid
    assert p["episodes"] == b["episodes"] == 6 and p["seed"] == b["seed"] == GATE_SEED
    assert [e["episode_index"] for e in p["per_episode"]] == [e["episode_index"] for e in b["per_episode"]]
    assert result.passed == (
        p["success_rate"] >= GATE_SUCCESS_RATE and p["final_pos_err_m_mean"] <= b["final_pos_err_m_mean"]
    )
    assert ("PASSED" if result.passed else "not passed") in result.describe()


def test_gate_fails_a_policy_whose_error_is_above_pids(linear_policy):
    flawless_pid = {"final_pos_err_m_mean": 0.0, "success_rate": 1.0, "episodes": 2, "seed": GATE_SEED}
    result = check_gate(linear_policy, episodes=2, pid_report=flawless_pid)
    assert not result.passed
    assert "not passed" in result.describe()


@pytest.mark.skipif(
    not SHIPPED_POLICY.exists(),
    reason=f"{SHIPPED_POLICY} is absent: no trained policy has passed the gate yet (see the README)",
)
def test_shipped_policy_passes_the_gate():
    result = check_gate(SHIPPED_POLICY, episodes=GATE_EPISODES)
    assert result.passed, result.describe()


def test_time_to_gate_reports_null_when_the_gate_is_not_met(tmp_path, monkeypatch, capsys):
    # A 2-second budget cannot reach the gate; the benchmark must say so and still write its figures.
    monkeypatch.setattr(time_to_gate, "GATE_EPISODES", 4)
    monkeypatch.setattr(time_to_gate, "check_gate", functools.partial(check_gate, episodes=4))
    config = yaml.safe_load(default_config_path("quadrotor-hover").read_text())
    config["env"]["num_envs"] = 128  # a few iterations fit in the budget
    (tmp_path / "ppo.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "ttg.json"
    result = time_to_gate.run(
        budget_s=2.0, eval_every_s=2.0, json_path=str(out), config=str(tmp_path / "ppo.yaml")
    )
    assert result["seconds_to_gate"] is None
    assert result["env_steps"] > 0 and len(result["checks"]) >= 1
    assert json.loads(out.read_text())["seconds_to_gate"] is None
    assert "gate not met within 2 s" in capsys.readouterr().out


def test_time_to_gate_times_the_quadruped_against_its_task_gate(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(time_to_gate, "GATE_EPISODES", 2)
    config = yaml.safe_load(default_config_path("quadruped-walk").read_text())
    config["env"]["num_envs"] = 16
    config["runner"]["num_steps_per_env"] = 8
    (tmp_path / "ppo.yaml").write_text(yaml.safe_dump(config))
    result = time_to_gate.run(
        "quadruped-walk", budget_s=3.0, eval_every_s=3.0, config=str(tmp_path / "ppo.yaml")
    )
    assert result["seconds_to_gate"] is None and result["training_env_steps_per_s"] > 0
    assert set(result["gate"]) == {"max_fall_rate", "max_lin_vel_err_m_s", "max_yaw_rate_err_rad_s"}
    check = result["checks"][0]
    assert 0.0 <= check["fall_rate"] <= 1.0 and "lin_vel_err_m_s_mean" in check
    out = capsys.readouterr().out
    assert "quadruped-walk" in out and "training throughput" in out


def test_time_to_gate_refuses_an_unknown_task():
    with pytest.raises(ValueError, match="expected one of"):
        time_to_gate.run("hexapod-dance", budget_s=1.0)
