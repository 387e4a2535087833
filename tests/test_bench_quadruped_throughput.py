"""`tether bench quadruped-throughput`: engine, task step and training loop figures side by side."""

import json

import pytest
import yaml

from bench import quadruped_throughput
from tether.cli import build_parser
from training.config import default_config_path


def test_engine_task_and_training_loop_rates_in_one_run(tmp_path, capsys):
    cfg = yaml.safe_load(default_config_path("quadruped-walk").read_text())
    cfg["runner"]["num_steps_per_env"] = 4
    cfg["runner"]["torch_threads"] = 1
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "q.json"
    args = build_parser().parse_args(
        ["bench", "quadruped-throughput", "--json", str(out), "--env-counts", "4", "--seconds", "0.2",
         "--loop-iterations", "2", "--config", str(tmp_path / "tiny.yaml")]
    )  # fmt: skip
    assert args.func(args) == 0
    result = json.loads(out.read_text())
    (row,) = result["rows"]
    assert row["num_envs"] == 4 and row["env_steps_per_iteration"] == 4 * 4  # envs x steps per env
    substeps = result["physics_steps_per_env_step"]
    assert row["engine_physics_steps_per_s"] == row["engine_env_steps_per_s"] * substeps
    # the loop's rate is its env steps over the collection and update time it reports
    per_iteration_s = row["collection_s_per_iteration"] + row["update_s_per_iteration"]
    assert row["loop_env_steps_per_s"] == pytest.approx(16 / per_iteration_s)
    printed = capsys.readouterr().out
    assert "training loop" in printed and "update" in printed


def test_negative_loop_iterations_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        quadruped_throughput.main(["--loop-iterations", "-1"])
    assert exc.value.code == 2
    assert "--loop-iterations must be ≥ 0, found -1" in capsys.readouterr().err
