"""The trainers besides PPO: teacher-student distillation (config, the DAgger fit, a tiny two-phase run,
export and refusals) and TD3 (a tiny run that checkpoints, validates and exports)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rsl_rl.models import MLPModel
from tensordict import TensorDict

from training.checkpoints import list_checkpoints, load_checkpoint
from training.config import ConfigError, DistillationConfig, RunRecord, TrainConfig, default_config_path
from training.distillation import _fit
from training.export import export
from training.policy import load_policy
from training.train import TEACHER_DIR_NAME, train

TASK = "quadrotor-hover"
DISTILLATION = {
    "iterations": 3, "steps_per_iteration": 4, "buffer_iterations": 2, "epochs": 1,
    "minibatch_size": 16, "learning_rate": 1.0e-3, "max_grad_norm": 1.0,
    "teacher_action_fraction_start": 1.0, "teacher_action_iterations": 2, "save_interval": 1,
}


def tiny_distillation_config(tmp_path: Path, **distillation: object) -> Path:
    d = TrainConfig.from_yaml(default_config_path(TASK)).to_dict()
    d["env"]["num_envs"] = 4
    d["runner"].update(num_steps_per_env=4, max_iterations=2, save_interval=1, torch_threads=1)
    d["algorithm"].update(num_mini_batches=2, num_learning_epochs=1)
    d["validation"].update(episodes=4, interval=2)
    d["distillation"] = {**DISTILLATION, **distillation}
    path = tmp_path / "tiny_distill.yaml"
    path.write_text(TrainConfig.from_dict(d).to_yaml())
    return path


def test_distillation_section_is_optional_typed_and_checked(tmp_path: Path) -> None:
    cfg = TrainConfig.from_yaml(tiny_distillation_config(tmp_path))
    assert isinstance(cfg.distillation, DistillationConfig)
    assert cfg.distillation.teacher_action_fraction(0) == 1.0
    assert cfg.distillation.teacher_action_fraction(1) == 0.5
    assert cfg.distillation.teacher_action_fraction(5) == 0.0
    with pytest.raises(ConfigError, match="teacher_action_fraction_start"):
        tiny_distillation_config(tmp_path, teacher_action_fraction_start=1.5)
    with pytest.raises(ConfigError, match="minibatch_size"):
        tiny_distillation_config(tmp_path, minibatch_size=0)


def test_fit_regresses_the_student_onto_the_teacher_actions() -> None:
    """The DAgger fit is supervised regression: a student learns a smooth teacher map."""
    torch.manual_seed(0)
    obs = torch.randn(2048, 6)
    target = torch.tanh(obs[:, :4] * 0.5 - 0.2 * obs[:, 4:5])
    student = MLPModel(
        TensorDict({"policy": obs[:1]}, batch_size=[1]), {"actor": ["policy"]}, "actor", 4,
        hidden_dims=[32, 32], activation="elu",
    )
    optimizer = torch.optim.Adam(student.parameters(), lr=3e-3)
    cfg = DistillationConfig(**{**DISTILLATION, "epochs": 20, "minibatch_size": 128})
    rng = np.random.default_rng(0)
    with torch.no_grad():
        before = float(torch.mean((student(TensorDict({"policy": obs}, batch_size=[2048])) - target) ** 2))
    _fit(student, optimizer, obs, target, cfg, rng)
    with torch.no_grad():
        after = float(torch.mean((student(TensorDict({"policy": obs}, batch_size=[2048])) - target) ** 2))
    assert after < 0.05 * before


def test_tiny_teacher_student_run_exports_the_student_and_refuses_the_teacher(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TASK, run, tiny_distillation_config(tmp_path), seed=0, progress=False)
    teacher = run / TEACHER_DIR_NAME
    assert RunRecord.load(teacher).config.policy.actor_sees_privileged
    assert RunRecord.load(teacher).config.distillation is None
    assert not RunRecord.load(run).config.policy.actor_sees_privileged
    assert [p.name for p in list_checkpoints(teacher)][-1] == "model_2.pt"
    assert [p.name for p in list_checkpoints(run)] == ["model_1.pt", "model_2.pt", "model_3.pt"]
    data = load_checkpoint(run / "model_3.pt")
    assert data["infos"]["trainer"] == "distillation" and data["iter"] == 3
    assert (run / "model_best.pt").exists() and (run / "summary.yaml").exists()

    out = export(run, tmp_path / "student.onnx")
    assert out.exists()
    policy, _, _ = load_policy(run)
    obs_dim = policy.obs_dim
    assert policy(torch.zeros(1, obs_dim)).shape == (1, 4)
    with pytest.raises(ValueError, match="privileged teacher"):
        load_policy(teacher)

    # Resuming keeps the finished teacher (no new teacher checkpoint) and redoes the student.
    mtime = (teacher / "model_2.pt").stat().st_mtime_ns
    train(TASK, run, resume=True, progress=False)
    assert [p.name for p in list_checkpoints(teacher)][-1] == "model_2.pt"
    assert (teacher / "model_2.pt").stat().st_mtime_ns == mtime


def test_a_teacher_from_another_config_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TASK, run, tiny_distillation_config(tmp_path), seed=0, progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / TEACHER_DIR_NAME).symlink_to(run / TEACHER_DIR_NAME)
    with pytest.raises(ConfigError, match="another config or seed"):
        train(TASK, other, tiny_distillation_config(tmp_path), seed=1, progress=False)


def test_tiny_td3_run_validates_checkpoints_and_exports(tmp_path: Path) -> None:
    d = TrainConfig.from_yaml(default_config_path(TASK)).to_dict()
    d["env"]["num_envs"] = 8
    d["runner"]["torch_threads"] = 1
    d["validation"].update(episodes=4, interval=2)
    d["td3"] = {
        "total_env_steps": 400, "env_steps_per_iteration": 200, "buffer_size": 1000, "batch_size": 32,
        "env_steps_per_update": 10, "policy_delay": 2, "actor_learning_rate": 1e-3,
        "critic_learning_rate": 1e-3, "polyak": 0.995, "exploration_noise_std": 0.1,
        "warmup_noise_std": 0.1, "random_steps": 100, "target_noise_std": 0.2, "target_noise_clip": 0.5,
        "critic_warmup_steps": 100, "actor_warmup_steps": 150, "normalization_steps": 50,
        "action_bound_penalty": 1.0, "save_interval": 1,
    }
    config = tmp_path / "td3.yaml"
    config.write_text(TrainConfig.from_dict(d).to_yaml())
    run = tmp_path / "td3"
    train(TASK, run, config, seed=0, progress=False)
    assert [p.name for p in list_checkpoints(run)] == ["model_1.pt", "model_2.pt"]
    data = load_checkpoint(run / "model_2.pt")
    assert data["infos"]["trainer"] == "td3" and data["infos"]["updates"] > 0
    first = load_checkpoint(run / "model_1.pt")["actor_state_dict"]
    before = first["mlp.0.weight"]
    assert not torch.equal(before, data["actor_state_dict"]["mlp.0.weight"])  # the actor learned
    assert (run / "model_best.pt").exists()
    assert export(run, tmp_path / "td3.onnx").exists()
    bad = {**d["td3"], "critic_warmup_steps": 10}
    with pytest.raises(ConfigError, match="normalization_steps"):
        TrainConfig.from_dict({**d, "td3": bad})
