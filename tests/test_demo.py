"""The main job end to end, on a small budget: `tether demo` trains, exports,
evaluates against PID, writes the report and closes with a HIL flight over DDS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx

from training.demo import PRETRAINED


def test_demo_writes_the_whole_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    cmd = [
        sys.executable, "-m", "tether.cli", "demo",
        "--train-seconds", "20", "--episodes", "6", "--plot-episodes", "2",
        "--hil-seconds", "6", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"):
        assert step in done.stdout

    metrics = json.loads((out / "metrics.json").read_text())
    policy_file = Path(metrics["policy_file"])
    assert policy_file.is_file()
    assert "tether_contract" in {p.key for p in onnx.load(policy_file).metadata_props}
    trained = metrics["trained"]
    assert Path(trained["policy_file"]).is_file() and trained["train_seconds"] == 20
    # 20 s of training cannot pass the gate: the demo flies the shipped policy when there is one
    assert trained["gate_passed"] is False
    if PRETRAINED.exists():
        assert metrics["policy_source"] == "shipped" and policy_file == PRETRAINED
        assert "flies the shipped policy" in done.stdout
        assert "freshly trained (20 s)" in done.stdout
    else:
        assert metrics["policy_source"] == "trained" and policy_file == Path(trained["policy_file"])
    for name in ("policy", "pid", "trained"):
        report = json.loads((out / f"eval_{name}.json").read_text())
        assert report["episodes"] == 6 and len(report["per_episode"]) == 6
        assert report["success_rate"] == sum(e["success"] for e in report["per_episode"]) / 6
    assert metrics["trained"]["success_rate"] == json.loads((out / "eval_trained.json").read_text())[
        "success_rate"
    ]
    assert metrics["pid"]["success_rate"] == 1.0  # the baseline hovers on every randomized vehicle
    assert metrics["gate"]["episodes"] == 6
    for plot in ("trajectories", "position_error"):
        assert Path(metrics["artefacts"][plot]).stat().st_size > 10_000

    hil = metrics["hil"]
    assert hil["latency_us_p50"] > 0
    assert (out / "hil.json").is_file()
    assert json.loads((out / "hil.json").read_text())["policy"] == str(policy_file)
    if metrics["policy_source"] == "shipped":
        assert hil["success"] is True and hil["eval_agreement"] is True
