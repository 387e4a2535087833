"""Training: typed config, a tiny PPO run (checkpoint, resolved config, TensorBoard), resume, seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from tensordict import TensorDict

from sim.tasks.quadrotor_hover import QuadrotorHoverEnv
from tests.training_helpers import tiny_config
from training.checkpoints import CheckpointError, latest_checkpoint, list_checkpoints, load_checkpoint
from training.config import ConfigError, RunRecord, TrainConfig, default_config_path
from training.models import ActionFeedbackMLPModel
from training.policy import DeterministicPolicy, build_actor, load_policy, previous_action_index
from training.rsl_rl_env import PRIVILEGED_SIZE
from training.train import train

TASK = "quadrotor-hover"


def test_shipped_config_loads_into_typed_object() -> None:
    cfg = TrainConfig.from_yaml(default_config_path(TASK))
    assert cfg.task == TASK
    assert cfg.env.num_envs >= 1 and cfg.env.randomization == "default"
    env = QuadrotorHoverEnv(1)
    try:
        rsl = cfg.to_rsl_rl(previous_action_index(env.contract))
    finally:
        env.close()
    assert rsl["obs_groups"] == {"actor": ["policy"], "critic": ["policy", "critic"]}
    assert rsl["algorithm"]["class_name"] == "PPO"
    assert rsl["actor"]["distribution_cfg"]["class_name"] == "GaussianDistribution"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_config_rejects_unknown_and_missing_keys() -> None:
    d = TrainConfig.from_yaml(default_config_path(TASK)).to_dict()
    d["algorithm"]["learning_rat"] = 1e-3
    with pytest.raises(ConfigError, match="learning_rat"):
        TrainConfig.from_dict(d)
    d = TrainConfig.from_yaml(default_config_path(TASK)).to_dict()
    del d["runner"]["num_steps_per_env"]
    with pytest.raises(ConfigError, match="num_steps_per_env"):
        TrainConfig.from_dict(d)


def test_tiny_run_writes_checkpoint_config_and_tensorboard_then_resumes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ckpt = train(TASK, run, tiny_config(tmp_path), seed=1, max_iterations=2, progress=False)
    assert ckpt == run / "model_2.pt" and ckpt.exists()
    assert load_checkpoint(ckpt)["iter"] == 2
    assert [p.name for p in list_checkpoints(run)] == ["model_1.pt", "model_2.pt"]
    record = RunRecord.load(run)
    assert record.seed == 1 and record.engine == "analytic"  # the config's env.engine
    assert record.config.env.num_envs == 4 and record.config.runner.max_iterations == 2
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["task"] == TASK
    assert list(run.glob("events.out.tfevents*")), "TensorBoard event file missing"
    summary = yaml.safe_load((run / "summary.yaml").read_text())
    assert summary["iterations"] == 2 and summary["env_steps"] == 2 * 4 * 8

    with pytest.raises(FileExistsError, match="resume=True"):
        train(TASK, run, tiny_config(tmp_path), seed=1, max_iterations=2, progress=False)

    resumed = train(TASK, run, resume=True, max_iterations=3, progress=False)
    assert resumed == run / "model_3.pt" and latest_checkpoint(run) == resumed
    data = load_checkpoint(resumed)
    assert data["iter"] == 3 and data["infos"]["env_steps"] == 3 * 4 * 8
    assert RunRecord.load(run).config.runner.max_iterations == 3


def test_max_seconds_still_leaves_a_usable_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ckpt = train(TASK, run, tiny_config(tmp_path), max_iterations=50, max_seconds=0.0, progress=False)
    data = load_checkpoint(ckpt)
    assert ckpt.exists() and data["iter"] == 0 and "actor_state_dict" in data
    assert yaml.safe_load((run / "summary.yaml").read_text())["stopped_by"] == "max_seconds"


def test_same_seed_same_weights(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path)
    a = load_checkpoint(train(TASK, tmp_path / "a", cfg, seed=7, max_iterations=1, progress=False))
    b = load_checkpoint(train(TASK, tmp_path / "b", cfg, seed=7, max_iterations=1, progress=False))
    c = load_checkpoint(train(TASK, tmp_path / "c", cfg, seed=8, max_iterations=1, progress=False))
    for key, value in a["actor_state_dict"].items():
        assert torch.equal(value, b["actor_state_dict"][key]), key
    assert any(not torch.equal(v, c["actor_state_dict"][k]) for k, v in a["actor_state_dict"].items())


def test_initial_actor_output_is_the_hover_command(tmp_path: Path) -> None:
    config = tiny_config(tmp_path)
    ckpt = train(TASK, tmp_path / "run", config, max_iterations=50, max_seconds=0.0, progress=False)
    policy, _, _ = load_policy(tmp_path / "run", ckpt)
    env = QuadrotorHoverEnv(1)
    try:
        hover = 2.0 * env.nominal.hover_command - 1.0
    finally:
        env.close()
    slices = env.contract.observation_slices()
    obs = torch.zeros(1, env.contract.observation_size)
    obs[0, slices["rotation_matrix"]] = torch.eye(3).flatten()  # level, at the target, at rest
    obs[0, slices["previous_action"]] = hover  # previous action: hover
    with torch.no_grad():
        action = policy(obs)
    # Small last-layer weights: ≈ hover, whatever the action feedback (its fixed point is hover).
    assert torch.allclose(action, torch.full_like(action, hover), atol=0.02)


def test_action_feedback_actor_adds_the_previous_action_and_exports_the_same() -> None:
    env = QuadrotorHoverEnv(1)
    try:
        contract = env.contract
    finally:
        env.close()
    index = previous_action_index(contract)
    assert index == contract.observation_slices()["previous_action"].start
    cfg = TrainConfig.from_yaml(default_config_path(TASK)).with_overrides(policy={"action_feedback": 0.5})
    obs = TensorDict(
        {"policy": torch.randn(6, contract.observation_size), "critic": torch.randn(6, PRIVILEGED_SIZE)},
        batch_size=[6],
    )
    actor = build_actor(cfg, obs, contract)
    assert isinstance(actor, ActionFeedbackMLPModel)
    with torch.no_grad():
        expected = actor.mlp(actor.obs_normalizer(obs["policy"])) + 0.5 * obs["policy"][:, index : index + 4]
        torch.testing.assert_close(actor(obs), expected)
        torch.testing.assert_close(DeterministicPolicy(actor)(obs["policy"]), expected)
    with pytest.raises(ConfigError, match="previous_action_index"):
        cfg.to_rsl_rl(previous_action_index=None)


def test_linear_schedule_anneals_by_iteration_not_by_stop(tmp_path: Path) -> None:
    cfg = TrainConfig.from_yaml(tiny_config(tmp_path)).with_overrides(
        algorithm={"schedule": "linear", "learning_rate": 1e-3, "lr_anneal_iterations": 2}
    )
    path = tmp_path / "linear.yaml"
    path.write_text(cfg.to_yaml())
    ckpt = train(TASK, tmp_path / "run", path, max_iterations=3, progress=False)
    lr = load_checkpoint(ckpt)["optimizer_state_dict"]["param_groups"][0]["lr"]
    assert lr == pytest.approx(1e-3 * 0.02)  # the floor, reached after lr_anneal_iterations
    assert "lr_anneal_iterations" not in cfg.to_rsl_rl(18)["algorithm"]


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_resume_refuses_a_damaged_checkpoint_before_touching_the_run(tmp_path: Path, damage: str) -> None:
    run = tmp_path / "run"
    train(TASK, run, tiny_config(tmp_path), seed=0, max_iterations=2, progress=False)
    last = latest_checkpoint(run)
    if damage == "truncated":
        last.write_bytes(last.read_bytes()[:1000])
    else:
        torch.save({"weights": torch.zeros(3)}, last)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    expected = "truncated or corrupt" if damage == "truncated" else "is not a training checkpoint"
    with pytest.raises(CheckpointError, match=expected) as exc:
        train(TASK, run, seed=0, max_iterations=4, resume=True, progress=False)
    assert last.name in str(exc.value)
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before  # nothing written, nothing removed


def test_a_run_trains_and_exports_on_the_task_file_its_config_names(tmp_path: Path) -> None:
    """env.task_config: the run's environment, validation and exported contract all use that file."""
    from deploy.policy_file import PolicyFile
    from sim.tasks.quadrotor_hover import DEFAULT_CONFIG as HOVER_TASK_YAML
    from training.export import export

    task = yaml.safe_load(Path(HOVER_TASK_YAML).read_text())
    integral = next(t for t in task["observations"] if t["name"] == "position_error_integral_m_s")
    integral["scale"] = 50.0  # a ±0.02 m·s range instead of the default file's
    task["rewards"]["orientation"] = -4.0
    task_path = tmp_path / "task.yaml"
    task_path.write_text(yaml.safe_dump(task))
    cfg = TrainConfig.from_yaml(tiny_config(tmp_path)).with_overrides(env={"task_config": str(task_path)})
    cfg_path = tmp_path / "with_task.yaml"
    cfg_path.write_text(cfg.to_yaml())

    run = tmp_path / "run"
    train(TASK, run, cfg_path, seed=0, max_iterations=2, progress=False)
    assert RunRecord.load(run).config.env.task_config == str(task_path)
    onnx = export(run, parity_envs=2)
    terms = {t.name: t for t in PolicyFile(onnx).contract.observations}
    assert terms["position_error_integral_m_s"].scale == 50.0
    default = QuadrotorHoverEnv(1)
    try:
        assert PolicyFile(onnx).contract.sha256() != default.contract.sha256()
    finally:
        default.close()


def test_a_missing_task_file_is_named(tmp_path: Path) -> None:
    cfg = TrainConfig.from_yaml(tiny_config(tmp_path)).with_overrides(
        env={"task_config": str(tmp_path / "nope.yaml")}
    )
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(cfg.to_yaml())
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        train(TASK, tmp_path / "run", cfg_path, seed=0, max_iterations=1, progress=False)
