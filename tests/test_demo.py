"""The main job end to end, on a small budget: `tether demo` trains, exports,
evaluates against PID, writes the report and closes with a HIL flight over DDS."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from training import demo
from training.evaluation import CTBR_TASK_CONFIG


def test_demo_writes_the_whole_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    cmd = [
        sys.executable, "-m", "tether.cli", "demo",
        "--train-seconds", "20", "--episodes", "6", "--plot-episodes", "2",
        "--hil-seconds", "6", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    # it ends passing by flying a shipped policy; without one, 20 s of training fails: exit status 1
    shipped = demo.shipped_policy()
    assert done.returncode == (0 if shipped else 1), done.stdout[-3000:] + done.stderr[-3000:]
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"):
        assert step in done.stdout

    metrics = json.loads((out / "metrics.json").read_text())
    policy_file = Path(metrics["policy_file"])
    assert policy_file.is_file()
    assert "tether_contract" in {p.key for p in onnx.load(policy_file).metadata_props}
    trained = metrics["trained"]
    assert Path(trained["policy_file"]).is_file() and trained["train_seconds"] == 20
    # 20 s of training cannot pass the gate: the demo flies a shipped policy when there is one
    assert trained["gate_passed"] is False
    assert metrics["passed"] is (shipped is not None)
    source = metrics["policy_source"]
    if shipped is not None:
        assert source["source"] == "shipped" and policy_file == shipped == Path(source["file"])
        assert source["action_mode"] == demo.action_mode(shipped)
        assert "flies the shipped policy" in done.stdout
        assert "freshly trained (20 s)" in done.stdout
    else:
        assert source["source"] == "trained" and policy_file == Path(trained["policy_file"])
    for name in ("policy", "pid", "trained"):
        report = json.loads((out / f"eval_{name}.json").read_text())
        assert report["episodes"] == 6 and len(report["per_episode"]) == 6
        assert report["success_rate"] == sum(e["success"] for e in report["per_episode"]) / 6
    assert (
        metrics["trained"]["success_rate"]
        == json.loads((out / "eval_trained.json").read_text())["success_rate"]
    )
    assert metrics["pid"]["success_rate"] == 1.0  # the baseline hovers on every randomized vehicle
    assert metrics["gate"]["episodes"] == 6
    for plot in ("trajectories", "position_error"):
        assert Path(metrics["artefacts"][plot]).stat().st_size > 10_000

    hil = metrics["hil"]
    if hil["vehicle"] == "px4" and source["action_mode"] == "ctbr":
        # PX4's VehicleRatesSetpoint carries no timestamp_sample: no command is matched to its odometry
        assert hil["latency_us_p50"] is None and "latency not measured" in done.stdout
    else:
        assert hil["latency_us_p50"] > 0
    assert (out / "hil.json").is_file()
    assert json.loads((out / "hil.json").read_text())["policy"] == str(policy_file)
    if source["source"] == "shipped":
        assert hil["success"] is True and hil["eval_agreement"] is True
        assert hil["vehicle"] == ("px4" if source["action_mode"] == "ctbr" else None)
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"flown policy {'shipped' if shipped else 'freshly trained'} {policy_file.name}")
    assert ("PASSED" in last) == metrics["gate"]["passed"]
    assert ("SUCCESS" in last) == hil["success"]


# --- which policy the demo flies -----------------------------------------------------------------


def _files(tmp_path: Path, *names: str) -> list[Path]:
    paths = [tmp_path / n for n in ("quadrotor_hover.onnx", "quadrotor_hover_ctbr.onnx")]
    for p in paths:
        if p.name in names:
            p.write_bytes(b"onnx")  # selection goes by presence; the file is read later
    return paths


def test_the_shipped_motor_level_policy_is_preferred(tmp_path: Path) -> None:
    motor, ctbr = _files(tmp_path, "quadrotor_hover.onnx", "quadrotor_hover_ctbr.onnx")
    assert demo.choose_flown_policy(tmp_path / "fresh.onnx", False, [motor, ctbr]) == (motor, "shipped")


def test_the_shipped_ctbr_policy_is_next(tmp_path: Path) -> None:
    motor, ctbr = _files(tmp_path, "quadrotor_hover_ctbr.onnx")
    assert demo.choose_flown_policy(tmp_path / "fresh.onnx", False, [motor, ctbr]) == (ctbr, "shipped")


def test_without_a_shipped_policy_the_fresh_one_flies(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.onnx"
    assert demo.choose_flown_policy(fresh, False, _files(tmp_path)) == (fresh, "trained")
    assert demo.choose_flown_policy(None, False, _files(tmp_path)) == (None, "trained")


def test_a_fresh_policy_that_passes_the_gate_flies_itself(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.onnx"
    candidates = _files(tmp_path, "quadrotor_hover.onnx", "quadrotor_hover_ctbr.onnx")
    assert demo.choose_flown_policy(fresh, True, candidates) == (fresh, "trained")


def test_the_shipped_candidates_are_the_motor_level_policy_then_the_ctbr_one(
    tmp_path: Path, monkeypatch
) -> None:
    assert demo.SHIPPED_POLICIES == (demo.PRETRAINED, demo.PRETRAINED_CTBR)
    assert [p.name for p in demo.SHIPPED_POLICIES] == ["quadrotor_hover.onnx", "quadrotor_hover_ctbr.onnx"]
    motor, ctbr = _files(tmp_path, "quadrotor_hover_ctbr.onnx")
    monkeypatch.setattr(demo, "SHIPPED_POLICIES", (motor, ctbr))  # read when chosen, not at import
    assert demo.shipped_policy() == ctbr
    assert demo.choose_flown_policy(tmp_path / "fresh.onnx", False) == (ctbr, "shipped")


def test_pretrained_without_a_shipped_policy_says_which_files_it_looked_for(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(demo, "SHIPPED_POLICIES", tuple(_files(tmp_path)))
    args = argparse.Namespace(
        out=str(tmp_path / "demo"), pretrained=True, train_seconds=1.0, episodes=1, plot_episodes=0,
        seed=0, hil_seconds=0.0,
    )  # fmt: skip
    with pytest.raises(FileNotFoundError, match="quadrotor_hover_ctbr.onnx"):
        demo.run_demo(args)


def test_the_hil_flight_of_a_ctbr_policy_goes_through_px4() -> None:
    assert demo.HIL_VEHICLE == {"actuators": None, "ctbr": "px4"}


@pytest.mark.slow
@pytest.mark.skipif(
    not demo.PRETRAINED_CTBR.exists(), reason=f"the shipped ctbr policy {demo.PRETRAINED_CTBR} is absent"
)
def test_demo_falls_back_to_the_shipped_ctbr_policy_and_flies_it_through_px4(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """The demo after a training run that fails the gate (a stand-in for 150 s of training: a
    motor-level policy that keeps the motors off), with only the ctbr policy shipped: the ctbr
    policy is evaluated on the ctbr task beside its PID, and flown through the PX4 emulator."""
    from sim.tasks.quadrotor_hover import HoverConfig
    from tests.runtime_helpers import write_linear_policy

    def fake_train(task, run_dir, **kwargs):
        Path(run_dir).mkdir(parents=True, exist_ok=True)

    def fake_export(run_dir):
        contract = HoverConfig.from_yaml().contract()
        a, d = contract.action_size, contract.observation_size
        path = Path(run_dir) / "exported" / "policy.onnx"
        path.parent.mkdir(parents=True)
        return write_linear_policy(path, contract, np.zeros((d, a)), -np.ones(a))  # motors off: it falls

    monkeypatch.setattr("training.train.train", fake_train)
    monkeypatch.setattr("training.export.export", fake_export)
    monkeypatch.setattr(demo, "SHIPPED_POLICIES", (tmp_path / "absent.onnx", demo.PRETRAINED_CTBR))
    monkeypatch.setenv("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl"))
    out = tmp_path / "demo"
    args = argparse.Namespace(
        out=str(out), pretrained=False, train_seconds=150.0, episodes=8, plot_episodes=2, seed=0,
        hil_seconds=6.0,
    )  # fmt: skip
    assert demo.run_demo(args) == 0
    printed = capsys.readouterr().out

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["policy_source"] == {
        "source": "shipped",
        "file": str(demo.PRETRAINED_CTBR),
        "action_mode": "ctbr",
        "task_config": str(CTBR_TASK_CONFIG),
    }
    assert metrics["policy_file"] == str(demo.PRETRAINED_CTBR)
    # the flown policy and its PID baseline on the same episodes of the ctbr task
    assert metrics["policy"]["action_mode"] == metrics["pid"]["action_mode"] == "ctbr"
    assert metrics["policy"]["episodes"] == metrics["pid"]["episodes"] == 8
    assert metrics["gate"]["passed"] is True and metrics["policy"]["success_rate"] == 1.0
    # the freshly trained one beside it, with the PID on its own (motor-level) task
    trained = metrics["trained"]
    assert trained["gate_passed"] is False and trained["action_mode"] == "actuators"
    assert trained["pid"]["action_mode"] == "actuators" and trained["pid"]["success_rate"] == 1.0
    for name in ("policy", "pid", "trained", "trained_pid"):
        assert json.loads((out / f"eval_{name}.json").read_text())["episodes"] == 8
    assert "flies the shipped policy quadrotor_hover_ctbr.onnx" in printed

    hil = metrics["hil"]
    assert hil["vehicle"] == "px4" and hil["px4_protocol_met"] is True
    assert hil["success"] is True and hil["eval_agreement"] is True
    report = json.loads((out / "hil.json").read_text())
    assert report["policy"] == str(demo.PRETRAINED_CTBR) and report["px4"]["rates_applied"] > 0
    assert "through the PX4 emulator" in printed
    last = printed.strip().splitlines()[-1]
    assert "quadrotor_hover_ctbr.onnx" in last and "PASSED" in last and "SUCCESS" in last


def test_the_demo_fails_when_its_flown_policy_misses_the_gate_or_its_flight_fails() -> None:
    ok = {"gate": {"passed": True, "thresholds": "t"}, "hil": {"success": True, "eval_agreement": True}}
    assert demo.demo_failures(ok) == []
    assert demo.demo_failures({"gate": {"passed": True, "thresholds": "t"}}) == []  # no HIL run
    gate = demo.demo_failures({**ok, "gate": {"passed": False, "thresholds": "success ≥ 0.99"}})
    assert gate == ["the flown policy does not pass the gate (success ≥ 0.99)"]
    crashed = demo.demo_failures({**ok, "hil": {"success": False, "eval_agreement": True}})
    assert crashed == ["its hardware-in-the-loop flight failed (see hil.json)"]
    disagree = demo.demo_failures({**ok, "hil": {"success": True, "eval_agreement": False}})
    assert disagree == ["its hardware-in-the-loop flight disagrees with `tether eval` (see hil.json)"]
