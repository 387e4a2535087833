"""sim/config_files.py: a YAML config may name a base and hold only its differences."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.config_files import load_yaml_config
from sim.tasks.quadrotor_hover import DEFAULT_CONFIG, HoverConfig
from training.config import CONFIG_DIR, TrainConfig, default_config_path


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_mappings_merge_recursively_and_other_values_replace(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", {"x": 1, "m": {"p": 1, "q": [1, 2]}, "l": [1, 2, 3]})
    (tmp_path / "sub").mkdir()
    b = write(tmp_path / "sub" / "b.yaml", {"base": "../a.yaml", "m": {"q": [9]}, "l": [7], "y": 2})
    assert load_yaml_config(b) == {"x": 1, "m": {"p": 1, "q": [9]}, "l": [7], "y": 2}


def test_a_base_chain_resolves_each_name_from_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    write(tmp_path / "root.yaml", {"a": 1, "b": 1, "c": 1})
    write(tmp_path / "d1" / "mid.yaml", {"base": "../root.yaml", "b": 2})
    leaf = write(tmp_path / "d2" / "leaf.yaml", {"base": "../d1/mid.yaml", "c": 3})
    assert load_yaml_config(leaf) == {"a": 1, "b": 2, "c": 3}


def test_loops_and_missing_bases_are_named(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", {"base": "b.yaml"})
    write(tmp_path / "b.yaml", {"base": "a.yaml"})
    with pytest.raises(ValueError, match="loop"):
        load_yaml_config(tmp_path / "a.yaml")
    missing = write(tmp_path / "c.yaml", {"base": "nowhere.yaml", "k": 1})
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        load_yaml_config(missing)


def test_hover_ablations_differ_from_the_defaults_only_where_they_say() -> None:
    default_task = HoverConfig.from_yaml(DEFAULT_CONFIG)
    default_train = TrainConfig.from_yaml(default_config_path("quadrotor-hover"))
    ablations = CONFIG_DIR / "ablations"
    m_task = HoverConfig.from_yaml(ablations / "hover_M_task.yaml")
    assert m_task.rewards == {**default_task.rewards, "orientation": -4.0}
    assert m_task.observations == default_task.observations
    n_task = HoverConfig.from_yaml(ablations / "hover_N_task.yaml")
    scales = {t.name: t.scale for t in n_task.observations}
    expected = {t.name: t.scale for t in default_task.observations}
    assert scales == expected | {"position_error_integral_m_s": 50.0}
    o_task = HoverConfig.from_yaml(ablations / "hover_O_task.yaml")
    assert o_task.initial_state["max_pos_offset_m"] == 1.25 and o_task.success == default_task.success
    p_task = HoverConfig.from_yaml(ablations / "hover_P_task.yaml")
    assert p_task.observations == n_task.observations and p_task.initial_state == o_task.initial_state
    for name in ("M", "N", "O", "P"):
        cfg = TrainConfig.from_yaml(ablations / f"hover_{name}.yaml")
        assert cfg.env.task_config == f"training/configs/ablations/hover_{name}_task.yaml"
        assert Path(cfg.env.task_config).is_file()  # relative to the repository root, where tests run
        assert cfg.policy.noise_correlation == 0.9
        plain = cfg.with_overrides(env={"task_config": None}, policy={"noise_correlation": 0.0})
        assert plain == default_train
