"""`tether bench sim2sim`: the table's structure and JSON, rows left out or refused for missing policy
files, and cells equal to what `evaluate()` reports. Random-weight policies and two episodes per cell:
this tests the table, not whether a policy flies."""

import dataclasses
import json

import pytest

from bench import sim2sim
from deploy.contract import ContractError
from sim.tasks.quadrotor_hover import HoverConfig
from tests.policy_fixtures import write_policy
from tether.cli import build_parser
from training.evaluation import evaluate, pid_factory

EPISODES = 2


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim2sim")
    contract = HoverConfig.from_yaml().contract()
    return write_policy(d / "mj.onnx", contract, seed=1), write_policy(d / "pb.onnx", contract, seed=2)


@pytest.fixture
def no_default_policies(tmp_path, monkeypatch):
    """Point the default policy files at paths that do not exist."""
    missing = {e: tmp_path / f"absent_{e}.onnx" for e in sim2sim.ENGINES}
    monkeypatch.setattr(sim2sim, "DEFAULT_POLICIES", missing)
    return missing


def test_table_has_a_row_per_training_engine_and_the_pid_reference(tmp_path, policies, capsys):
    mj, pb = policies
    out = tmp_path / "sub" / "sim2sim.json"
    args = build_parser().parse_args(
        ["bench", "sim2sim", "--json", str(out), "--policy-mujoco", str(mj), "--policy-pybullet", str(pb)]
        + ["--episodes", str(EPISODES), "--quiet"]
    )
    assert args.func(args) == 0
    figures = json.loads(out.read_text())
    assert figures["episodes"] == EPISODES and figures["seed"] == 0 and figures["randomize"] is True
    assert figures["engines"] == ["mujoco", "pybullet"]
    assert list(figures["rows"]) == ["mujoco", "pybullet", "pid"]
    assert figures["rows"]["mujoco"]["controller"] == str(mj)
    assert figures["rows"]["pybullet"]["controller"] == str(pb)
    assert figures["omitted"] == {}
    for row in figures["rows"].values():
        assert set(row["evaluated_in"]) == {"mujoco", "pybullet"}
        for cell in row["evaluated_in"].values():  # values: test_cells_are_what_evaluate_reports...
            assert {"success_rate", "crash_rate", "final_pos_err_m_mean"} <= set(cell)
    table = capsys.readouterr().out
    assert "| trained in ↓ · evaluated in → | mujoco | pybullet |" in table
    assert "| mujoco (`mj.onnx`) |" in table and "| PID baseline (reference) |" in table


def test_cells_are_what_evaluate_reports_for_the_same_episodes(policies, no_default_policies):
    result = sim2sim.run(
        policy_pybullet=str(policies[1]), episodes=EPISODES, seed=3, randomize=True, progress=False
    )
    report, _ = evaluate(
        pid_factory, "pid", engine="pybullet", episodes=EPISODES, seed=3, randomize=True, progress=False
    )
    cell = result["rows"]["pid"]["evaluated_in"]["pybullet"]
    assert cell["success_rate"] == report["success_rate"]
    assert cell["final_pos_err_m_mean"] == report["final_pos_err_m_mean"]


def test_a_missing_default_policy_leaves_its_row_out_with_a_note(policies, no_default_policies, capsys):
    result = sim2sim.run(policy_mujoco=str(policies[0]), episodes=1, progress=False)
    assert list(result["rows"]) == ["mujoco", "pid"]
    assert "tether train quadrotor-hover" in result["omitted"]["pybullet"]
    assert "note: row left out: no pybullet-trained policy" in capsys.readouterr().out


def test_no_policy_at_all_is_an_error(no_default_policies):
    with pytest.raises(FileNotFoundError, match="no policy to evaluate"):
        sim2sim.run(episodes=1, progress=False)


def test_a_named_policy_file_that_does_not_exist_is_an_error(tmp_path, policies):
    with pytest.raises(FileNotFoundError, match="--policy-pybullet: expected an exported ONNX policy"):
        sim2sim.run(str(policies[0]), str(tmp_path / "typo.onnx"), episodes=1, progress=False)


def test_a_policy_for_another_contract_is_refused_before_any_evaluation(tmp_path, no_default_policies):
    contract = HoverConfig.from_yaml().contract()
    other = dataclasses.replace(contract, control_rate_hz=contract.control_rate_hz * 2)
    path = write_policy(tmp_path / "other.onnx", other)
    with pytest.raises(ContractError):
        sim2sim.run(policy_mujoco=str(path), episodes=1, progress=False)


def test_episode_count_must_be_positive(policies):
    with pytest.raises(ValueError, match="--episodes must be at least 1, found 0"):
        sim2sim.run(str(policies[0]), episodes=0, progress=False)


# -- quadruped-walk: `tether bench sim2sim --task quadruped-walk` (bench/sim2sim_quadruped.py) --------------


@pytest.fixture
def walk_policy(tmp_path, monkeypatch):
    """A random-weight policy for the walk contract as the MuJoCo-trained row; no default files."""
    from bench import sim2sim_quadruped
    from sim.tasks.quadruped_walk import WalkConfig

    missing = {e: tmp_path / f"absent_walk_{e}.onnx" for e in sim2sim.ENGINES}
    monkeypatch.setattr(sim2sim_quadruped, "DEFAULT_POLICIES", missing)
    return write_policy(tmp_path / "walk_mj.onnx", WalkConfig.from_yaml().contract(), seed=1)


def test_quadruped_table_has_the_policy_and_stand_rows_and_the_sim2sim_check(tmp_path, walk_policy, capsys):
    out = tmp_path / "walk_sim2sim.json"
    args = build_parser().parse_args(
        ["bench", "sim2sim", "--task", "quadruped-walk", "--policy-mujoco", str(walk_policy)]
        + ["--episodes", "1", "--quiet", "--json", str(out)]
    )
    assert args.func(args) == 0
    figures = json.loads(out.read_text())
    assert figures["task"] == "quadruped-walk" and figures["episodes"] == 1 and figures["randomize"] is True
    assert figures["engines"] == ["mujoco", "pybullet"]
    assert list(figures["rows"]) == ["mujoco", "stand"]
    assert "tether train quadruped-walk" in figures["omitted"]["pybullet"]
    assert figures["bounds"] == {"max_fall_rate": 0.05, "max_lin_vel_err_m_s": 0.25}
    for row in figures["rows"].values():
        for cell in row["evaluated_in"].values():
            assert {"fall_rate", "lin_vel_err_m_s_mean", "yaw_rate_err_rad_s_mean"} <= set(cell)
    assert set(figures["sim2sim"]) == {"mujoco"} and set(figures["sim2sim"]["mujoco"]) == {"pybullet"}
    printed = capsys.readouterr().out
    assert "| trained in ↓ · evaluated in → | mujoco | pybullet |" in printed
    assert "| mujoco (`walk_mj.onnx`) | fall " in printed and "| PD stand baseline (reference) |" in printed
    assert "mujoco-trained policy in pybullet: " in printed and "sim2sim bounds: fall rate ≤ 0.05" in printed


def test_quadruped_cells_are_what_evaluate_walk_reports(walk_policy):
    from bench import sim2sim_quadruped
    from training.evaluation_quadruped import evaluate_walk, stand_factory

    result = sim2sim_quadruped.run(str(walk_policy), episodes=1, seed=3, progress=False)
    report = evaluate_walk(stand_factory, "stand", engine="pybullet", episodes=1, seed=3, randomize=True,
                           progress=False)
    cell = result["rows"]["stand"]["evaluated_in"]["pybullet"]
    assert cell["fall_rate"] == report["fall_rate"]
    assert cell["lin_vel_err_m_s_mean"] == report["lin_vel_err_m_s_mean"]


def test_quadruped_table_refuses_a_hover_policy_before_any_evaluation(policies, walk_policy):
    from bench import sim2sim_quadruped

    with pytest.raises(ContractError):
        sim2sim_quadruped.run(str(policies[0]), episodes=1, progress=False)
