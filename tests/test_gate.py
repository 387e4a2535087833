"""The hover gate (training.gate), the shipped policy against it, and the time-to-gate benchmark.

Both verdicts come from real flights of small policies: the PID baseline written as an ONNX policy
(tests/pid_policy.py) passes, the linear fixture fitted to the PID near hover does not."""

import functools
import json

import pytest
import yaml

from bench import time_to_gate
from tests.pid_policy import pid_policy
from tests.runtime_helpers import SHIPPED_CTBR_POLICY, SHIPPED_POLICY, hover_policy
from tether.cli import build_parser
from training.config import default_config_path
from training.gate import (
    GATE_EPISODES,
    GATE_MAX_CRASH_RATE,
    GATE_MAX_FINAL_POS_ERR_M,
    GATE_SEED,
    GATE_SEEDS,
    GATE_SUCCESS_RATE,
    GateResult,
    check_gate,
    gate_verdict,
)


@pytest.fixture(scope="module")
def linear_policy(tmp_path_factory):
    return hover_policy(tmp_path_factory.mktemp("gate") / "hover.onnx")


@pytest.fixture(scope="module")
def pid_as_policy(tmp_path_factory):
    return pid_policy(tmp_path_factory.mktemp("gate") / "pid.onnx")


def test_gate_compares_with_pid_on_the_same_episodes(linear_policy):
    result = check_gate(linear_policy, episodes=6)
    p, b = result.policy, result.pid
    assert p["episodes"] == b["episodes"] == 6 and p["seed"] == b["seed"] == GATE_SEED
    assert [e["episode_index"] for e in p["per_episode"]] == [e["episode_index"] for e in b["per_episode"]]
    ratio = p["final_pos_err_m_mean"] / b["final_pos_err_m_mean"]
    assert result.error_ratio_to_pid == pytest.approx(ratio)
    assert f"{ratio:.1f}× PID" in result.describe()


def _report(success: float, crash: float, err_m: float) -> dict:
    return {"success_rate": success, "crash_rate": crash, "final_pos_err_m_mean": err_m}


def test_gate_thresholds_are_pinned():
    # Pinned numbers, not the module's constants fed back to it.
    assert (GATE_SUCCESS_RATE, GATE_MAX_CRASH_RATE, GATE_MAX_FINAL_POS_ERR_M) == (0.99, 0.005, 0.02)
    assert GATE_EPISODES == 200 and GATE_SEEDS == (0, 23)


@pytest.mark.parametrize(
    ("report", "passed"),
    [
        (_report(1.0, 0.0, 0.019), True),
        (_report(0.99, 0.005, 0.02), True),  # every threshold met with equality
        (_report(0.985, 0.0, 0.01), False),  # too few successes
        (_report(1.0, 0.01, 0.01), False),  # too many crashes
        (_report(1.0, 0.0, 0.0201), False),  # not precise enough
    ],
)
def test_gate_verdict_on_each_threshold(report, passed):
    assert gate_verdict(report) is passed


def test_gate_result_describes_both_verdicts():
    pid = {**_report(1.0, 0.0, 0.0073), "episodes": 200, "seed": 0, "engine": "mujoco"}
    meta = {"episodes": 200, "seed": 0, "engine": "mujoco"}
    good = GateResult(True, {**_report(1.0, 0.0, 0.0146), **meta}, pid)
    assert "gate PASSED" in good.describe() and "2.0× PID's 0.73 cm" in good.describe()
    bad = GateResult(False, {**good.policy, "success_rate": 0.5}, pid)
    assert "gate not passed" in bad.describe()


def test_gate_passes_the_pid_flown_as_an_onnx_policy(pid_as_policy):
    # The PID reads the noisy observation here, not the true state, and still flies well inside
    # the gate: every episode a success, none crashed, the mean final error under 2 cm.
    result = check_gate(pid_as_policy, episodes=4)
    assert result.passed, result.describe()
    assert "gate PASSED" in result.describe()
    assert [e["success"] for e in result.policy["per_episode"]] == [True] * 4
    assert result.policy["crash_rate"] == 0.0


def test_gate_command_exits_zero_for_a_policy_that_passes(pid_as_policy, tmp_path, monkeypatch, capsys):
    import training.gate

    monkeypatch.setattr(training.gate, "GATE_EPISODES", 3)  # the command reads it when it runs
    out = tmp_path / "gate.json"
    args = build_parser().parse_args(["gate", str(pid_as_policy), "--json", str(out)])
    assert args.func(args) == 0
    figures = json.loads(out.read_text())
    assert figures["passed"] is True and [s["seed"] for s in figures["seeds"]] == list(GATE_SEEDS)
    assert all(s["passed"] and s["policy"]["episodes"] == 3 for s in figures["seeds"])
    assert "PASSED on eval seeds 0, 23" in capsys.readouterr().out.splitlines()


def test_gate_fails_the_linear_fixture_policy(linear_policy):
    # The linear fixture flies but misses the 2 cm precision of the gate on randomized vehicles.
    result = check_gate(linear_policy, episodes=4)
    assert result.policy["final_pos_err_m_mean"] > GATE_MAX_FINAL_POS_ERR_M
    assert not result.passed and "not passed" in result.describe()


@pytest.mark.skipif(
    not SHIPPED_POLICY.exists(),
    reason=f"{SHIPPED_POLICY} is absent: no trained policy has passed the gate yet (see the README)",
)
@pytest.mark.parametrize("seed", GATE_SEEDS)
def test_shipped_policy_passes_the_gate(seed):
    result = check_gate(SHIPPED_POLICY, episodes=GATE_EPISODES, seed=seed)
    assert result.passed, result.describe()


@pytest.mark.skipif(not SHIPPED_CTBR_POLICY.exists(), reason=f"{SHIPPED_CTBR_POLICY} is absent")
@pytest.mark.parametrize("seed", GATE_SEEDS)
def test_shipped_ctbr_policy_passes_the_gate_on_the_ctbr_task(seed):
    from deploy.policy_file import PolicyFile

    assert PolicyFile(SHIPPED_CTBR_POLICY).contract.action_mode == "ctbr"
    result = check_gate(SHIPPED_CTBR_POLICY, episodes=GATE_EPISODES, seed=seed)
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
    # the check's own figures say why the gate was not met
    g, lin = result["gate"], check["lin_vel_err_m_s_mean"]
    assert (
        check["fall_rate"] > g["max_fall_rate"]
        or lin is None
        or lin > g["max_lin_vel_err_m_s"]
        or check["yaw_rate_err_rad_s_mean"] > g["max_yaw_rate_err_rad_s"]
    )
    out = capsys.readouterr().out
    assert "quadruped-walk" in out and "training throughput" in out


def test_time_to_gate_refuses_an_unknown_task():
    with pytest.raises(ValueError, match="expected one of"):
        time_to_gate.run("hexapod-dance", budget_s=1.0)


def test_gate_command_exits_nonzero_for_a_policy_that_misses_it(linear_policy, tmp_path, capsys):
    out = tmp_path / "gate.json"
    args = build_parser().parse_args(["gate", str(linear_policy), "--seeds", "0", "--json", str(out)])
    assert args.func(args) == 1
    figures = json.loads(out.read_text())
    (seed,) = figures["seeds"]
    assert figures["passed"] is False and seed["seed"] == 0 and seed["passed"] is False
    assert seed["policy"]["episodes"] == seed["pid"]["episodes"] == GATE_EPISODES
    assert seed["error_ratio_to_pid"] == pytest.approx(
        seed["policy"]["final_pos_err_m_mean"] / seed["pid"]["final_pos_err_m_mean"]
    )
    assert "NOT PASSED on eval seeds 0" in capsys.readouterr().out


def test_gate_command_refuses_a_missing_file(tmp_path, capsys):
    args = build_parser().parse_args(["gate", str(tmp_path / "absent.onnx")])
    assert args.func(args) == 2
    assert "no policy file" in capsys.readouterr().err
